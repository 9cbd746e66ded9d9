"""The job service starts with the server, not with the first page view (`streamlit run serve.py`)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.store import RunStatus, RunStore
from tests.e2e.server import streamlit_app, tail

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def wait_until(condition, what: str, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail(log_path, 40)}")
        time.sleep(0.5)


def test_a_restarted_server_recovers_and_trains_before_anyone_opens_a_page(chromium_ready: None,
                                                                          tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = RunStore(home)
    dead_server = uuid.uuid4().hex  # a manager whose process is gone: it holds no lock
    tiny = TrainConfig(model=ModelConfig(latent_dim=2, hidden_sizes=()), num_epochs=1, batch_size=64, train_limit=256)
    left_running = store.create_run(tiny, owner=dead_server)
    assert store.lifecycle.claim(left_running, dead_server, worker_pid=None)
    left_queued = store.create_run(tiny, owner=dead_server)
    log_path = tmp_path / "streamlit.log"
    # Only the health check is asked for: no browser session ever runs app.py.
    with streamlit_app(home, log_path):
        wait_until(lambda: store.status(left_running) is RunStatus.INTERRUPTED,
                   "the run left RUNNING to be marked INTERRUPTED", 60, log_path)
        wait_until(lambda: store.status(left_queued) is RunStatus.FINISHED, "the queued run to train to the end",
                   240, log_path)
    assert "the server stopped" in store.get_run(left_running).message
