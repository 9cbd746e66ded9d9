"""Faults the job service must survive: a full disk, a damaged config, a kill mid-epoch, Ctrl-C.

Like ``test_jobs.py``, these run real spawned workers with the fast fake trainer
(``tests/fake_trainer.py``); faults of the store are made in-process by
monkeypatching it, since the supervisor thread shares the test's ``RunStore``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so spawned workers can import fake_trainer

import fake_trainer  # noqa: E402
from test_jobs import (fake_config, make_manager, ready_pids, server_script, wait_for,  # noqa: E402,F401
                       wait_status, worker_of)

from ae_core.service.jobs import JobManager  # noqa: E402
from ae_core.service.sinks import SinkClosed, StoreSink  # noqa: E402
from ae_core.service.worker import Job, run_job  # noqa: E402
from ae_core.store import RunStore  # noqa: E402
from ae_core.store.lifecycle import RunLifecycle  # noqa: E402
from ae_core.store.removal import FolderNotRemoved  # noqa: E402
from ae_core.store.records import INTERRUPTED_MESSAGE, RunStatus  # noqa: E402

DISK_FULL = "database or disk is full"
SUPERVISOR_THREAD = "ae-lab-supervisor"


def fail_some_writes(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, times: int) -> list[str]:
    """Make ``owner.name`` raise "database or disk is full" on its first ``times`` calls from the supervisor.

    Returns:
        The list the failed calls are logged to (one entry each).
    """
    original = getattr(owner, name)
    failed: list[str] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == SUPERVISOR_THREAD and len(failed) < times:
            failed.append(name)
            raise sqlite3.OperationalError(DISK_FULL)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return failed


# -- 1. a full disk ------------------------------------------------------------------
def test_a_final_status_that_cannot_be_written_is_written_when_the_store_can(
        make_manager: Callable[..., JobManager], monkeypatch: pytest.MonkeyPatch) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1)
    failed = fail_some_writes(monkeypatch, RunLifecycle, "finish", times=3)
    crashed = manager.submit(fake_config(seed=fake_trainer.CRASH_SEED))
    assert wait_status(manager, crashed, RunStatus.FAILED, RunStatus.FINISHED, timeout=15) == RunStatus.FAILED
    assert manager.get_run(crashed).message == f"Training crashed: RuntimeError: {fake_trainer.CRASH_MESSAGE}"
    assert len(failed) == 3
    # The manager keeps serving: the next run trains on the same worker and finishes.
    assert wait_status(manager, manager.submit(fake_config()), RunStatus.FINISHED, timeout=15) == RunStatus.FINISHED


def test_a_worker_death_that_cannot_be_recorded_at_once_is_recorded_later(
        make_manager: Callable[..., JobManager], monkeypatch: pytest.MonkeyPatch) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1)
    run_id = manager.submit(fake_config(steps=500, epochs=10))
    wait_for(lambda: manager.metrics_since(run_id), "the first loss point")
    failed = fail_some_writes(monkeypatch, RunLifecycle, "finish", times=3)
    os.kill(worker_of(manager, run_id), signal.SIGKILL)
    assert wait_status(manager, run_id, RunStatus.INTERRUPTED, timeout=15) == RunStatus.INTERRUPTED
    assert "stopped unexpectedly (killed by SIGKILL)" in manager.get_run(run_id).message and len(failed) == 3


def test_a_running_run_that_no_worker_runs_is_over(make_manager: Callable[..., JobManager],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    original = StoreSink.emit

    def lose_the_end(self: StoreSink, run_id: str, event: Any) -> None:
        if event.get("type") != "end":  # the end event never arrives (e.g. an unreadable message)
            original(self, run_id, event)

    monkeypatch.setattr(StoreSink, "emit", lose_the_end)
    manager = make_manager(max_concurrent=1, warm_workers=1)
    run_id = manager.submit(fake_config())
    assert wait_status(manager, run_id, RunStatus.INTERRUPTED, timeout=15) == RunStatus.INTERRUPTED
    assert manager.get_run(run_id).message == INTERRUPTED_MESSAGE  # resumable, and said so


# -- 2. a damaged config.json ----------------------------------------------------------
BAD_SEED = 99


@pytest.mark.parametrize("error", [RecursionError("deep"), OverflowError("huge"), TypeError("odd"),
                                   KeyError("model")])
def test_an_unreadable_config_fails_the_run_before_it_starts(
        make_manager: Callable[..., JobManager], monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1)
    original = manager.store.read_config

    def damaged(run_id: str) -> Any:
        config = original(run_id)
        if threading.current_thread().name == SUPERVISOR_THREAD and config.seed == BAD_SEED:
            raise error
        return config

    monkeypatch.setattr(manager.store, "read_config", damaged)
    bad = manager.submit(fake_config(seed=BAD_SEED))
    good = manager.submit(fake_config())
    assert wait_status(manager, bad, RunStatus.FAILED, RunStatus.RUNNING, timeout=15) == RunStatus.FAILED
    record = manager.get_run(bad)
    assert record.message.startswith("The run's config.json is unreadable: ") and record.started_at is None
    assert wait_status(manager, good, RunStatus.FINISHED, timeout=15) == RunStatus.FINISHED


def test_a_config_damaged_on_disk_while_queued_fails_that_run_alone(
        make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1)
    blocker = manager.submit(fake_config(steps=500, epochs=10))
    bad, good = manager.submit(fake_config(seed=1)), manager.submit(fake_config(seed=2))
    manager.config_path(bad).write_text("[" * 100_000 + "]" * 100_000)  # json.loads: RecursionError
    wait_for(lambda: manager.metrics_since(blocker), "the blocker's first loss point")
    pid = worker_of(manager, blocker)
    manager.cancel(blocker)
    # store.status: reading the record would parse the damaged config.json again
    assert wait_for(lambda: manager.store.status(bad) in (RunStatus.FAILED, RunStatus.RUNNING)
                    and manager.store.status(bad), "the damaged run to end", 15) == RunStatus.FAILED
    message, started_at = manager.store.db.connection().execute(
        "SELECT message, started_at FROM runs WHERE run_id = ?", (bad,)).fetchone()
    assert message.startswith("The run's config.json is unreadable: ") and started_at is None  # never RUNNING
    assert wait_status(manager, good, RunStatus.FINISHED, timeout=15) == RunStatus.FINISHED
    assert ready_pids(manager) == {pid}  # the worker stayed idle and ran the next run
    manager.delete(bad)  # at once: it is not RUNNING


# -- 3. resume keeps metrics consistent ---------------------------------------------------
class ClosingSink:
    """An event sink whose receiver goes away when the ``epoch`` event of epoch ``closes_at`` is sent."""

    def __init__(self, closes_at: int) -> None:
        self.closes_at, self.events = closes_at, []

    def emit(self, run_id: str, event: Any) -> None:
        if event.get("type") == "epoch" and event["epoch"] >= self.closes_at:
            raise SinkClosed("the job manager is gone")
        self.events.append(dict(event))


def test_a_worker_whose_sink_closed_writes_no_more_checkpoints(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0")
    job = Job(run_id="a" * 32, token=1, config=fake_config(steps=3, epochs=5).to_dict(), run_dir=str(tmp_path))
    sink = ClosingSink(closes_at=2)
    with pytest.raises(SinkClosed):
        run_job(job, fake_trainer.train, sink, lambda: False)
    # Epoch 2's metrics never reached the store, so the checkpoint must not claim it.
    assert json.loads((tmp_path / "checkpoint" / "checkpoint.json").read_text())["epoch"] == 1
    assert [e["epoch"] for e in sink.events if e["type"] == "epoch"] == [1]


def test_a_run_starts_by_removing_what_a_killed_save_left_half_written(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0")
    leftovers = [tmp_path / "partial-model.keras", tmp_path / ".partial-model.partial.keras",
                 tmp_path / "checkpoint" / ".partial-checkpoint.partial.keras"]
    for path in leftovers:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half a model")
    job = Job(run_id="a" * 32, token=1, config=fake_config(steps=2, epochs=1).to_dict(), run_dir=str(tmp_path))
    assert run_job(job, fake_trainer.train, ClosingSink(closes_at=99), lambda: False) == "finished"
    assert not any(path.exists() for path in leftovers)


@pytest.mark.slow
def test_the_real_trainer_writes_no_checkpoint_after_the_sink_closed(tmp_path: Path) -> None:
    from ae_core.training import train
    from test_jobs import real_config

    job = Job(run_id="a" * 32, token=1, config=real_config(num_epochs=3, train_limit=256).to_dict(),
              run_dir=str(tmp_path))
    with pytest.raises(SinkClosed):
        run_job(job, train, ClosingSink(closes_at=2), lambda: False)
    assert json.loads((tmp_path / "checkpoint" / "checkpoint.json").read_text())["epoch"] == 1


def _emit_epochs(sink: StoreSink, run_id: str, first: int, last: int, steps: int, *, partial: int = 0) -> None:
    """Events of epochs ``first`` to ``last`` (0-based), plus ``partial`` batches of the one after."""
    sink.emit(run_id, {"type": "start", "num_epochs": 9, "steps_per_epoch": steps, "initial_epoch": first})
    for epoch in range(first, last + 1):
        for batch in range(steps):
            sink.emit(run_id, {"type": "batch", "epoch": epoch, "step": epoch * steps + batch + 1, "loss": 1.0})
        sink.emit(run_id, {"type": "epoch", "epoch": epoch + 1, "step": (epoch + 1) * steps,
                           "metrics": {"loss": 1.0, "val_loss": 1.0}})
    for batch in range(partial):
        sink.emit(run_id, {"type": "batch", "epoch": last + 1, "step": (last + 1) * steps + batch + 1, "loss": 1.0})


def test_rows_recorded_after_the_checkpoint_a_run_resumes_from_are_superseded(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home")
    sink = StoreSink(store)
    run_id = store.create_run(fake_config(), owner="me")
    assert store.lifecycle.claim(run_id, "me", None)
    _emit_epochs(sink, run_id, 0, 2, steps=3, partial=2)  # 3 epochs and 2 batches recorded ...
    store.lifecycle.finish(run_id, RunStatus.INTERRUPTED)  # ... but the checkpoint only reached epoch 1
    seen = store.metrics_since(run_id)
    assert store.lifecycle.requeue(run_id, "me", [RunStatus.INTERRUPTED]) and store.lifecycle.claim(run_id, "me", None)
    _emit_epochs(sink, run_id, 1, 3, steps=3)
    rows = store.metrics_since(run_id)
    assert [r.step for r in rows if r.kind == "batch"] == list(range(1, 13))
    assert [r.epoch for r in rows if r.kind == "epoch" and r.key == "loss"] == [1, 2, 3, 4]
    assert {r.kind for r in rows} == {"batch", "epoch"}  # the marker itself is not a metric
    # A reader that had read up to the interruption gets only the resumed rows.
    newer = store.metrics_since(run_id, seen[-1].seq)
    assert newer and newer[0].step == 4 and all(r.seq > seen[-1].seq for r in newer)
    # A run resumed from epoch 0 (no checkpoint) supersedes all it had.
    store.lifecycle.finish(run_id, RunStatus.INTERRUPTED)
    store.lifecycle.requeue(run_id, "me", [RunStatus.INTERRUPTED])
    store.lifecycle.claim(run_id, "me", None)
    _emit_epochs(sink, run_id, 0, 0, steps=3)
    assert [r.step for r in store.metrics_since(run_id) if r.kind == "batch"] == [1, 2, 3]


def test_a_run_killed_mid_epoch_and_resumed_has_each_epoch_once(
        make_manager: Callable[..., JobManager], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.05")
    manager = make_manager(max_concurrent=1, warm_workers=1)
    steps, epochs = 20, 5
    run_id = manager.submit(fake_config(steps=steps, epochs=epochs))
    pid = worker_of(manager, run_id)
    # Kill it in the middle of an epoch after its first checkpoint, so that it recorded batches
    # past its checkpoint (a loaded machine may kill it an epoch or so later: that is as good).
    wait_for(lambda: any(r.kind == "batch" and r.epoch >= 1 and r.step % steps >= 3
                         for r in manager.metrics_since(run_id)), "the middle of the second epoch")
    os.kill(pid, signal.SIGKILL)
    assert wait_status(manager, run_id, RunStatus.INTERRUPTED, timeout=15) == RunStatus.INTERRUPTED
    assert 1 <= manager.store.folder(run_id).checkpoint.epoch() < epochs
    manager.resume(run_id)
    assert wait_status(manager, run_id, RunStatus.FINISHED, RunStatus.FAILED, timeout=30) == RunStatus.FINISHED
    rows = manager.metrics_since(run_id)
    assert [r.step for r in rows if r.kind == "batch"] == list(range(1, steps * epochs + 1))
    assert [r.epoch for r in rows if r.kind == "epoch" and r.key == "loss"] == list(range(1, epochs + 1))


# -- 4. Ctrl-C ---------------------------------------------------------------------------
def test_ctrl_c_interrupts_runs_in_order_without_worker_tracebacks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # A session of its own, as a terminal's foreground job: Ctrl-C goes to the whole group.
    server = subprocess.Popen([sys.executable, "-c", server_script(home)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
                              start_new_session=True)
    try:
        run_id = server.stdout.readline().split()[0]
        os.killpg(server.pid, signal.SIGINT)
        _, stderr = server.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.send_signal(signal.SIGUSR1)  # where it hangs: every thread's stack, on its stderr
        time.sleep(1)
        os.killpg(server.pid, signal.SIGKILL)
        pytest.fail(f"the server did not stop within 60 s of Ctrl-C:\n{server.communicate()[1][-6000:]}")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert run_id, stderr
    assert "KeyboardInterrupt" not in stderr and "Traceback" not in stderr, stderr
    record = RunStore(home).get_run(run_id)
    assert (record.status, record.message) == (RunStatus.INTERRUPTED, INTERRUPTED_MESSAGE)


# -- 6. a full or read-only disk, and a delete the disk refuses --------------------------------
def _disk_full(path: object = "snapshot") -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_run_whose_folder_fills_up_fails_naming_the_folder_and_the_server_goes_on(
        make_manager: Callable[..., JobManager], monkeypatch: pytest.MonkeyPatch) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1)
    run_id = manager.submit(fake_config(steps=200, epochs=10))
    wait_for(lambda: manager.metrics_since(run_id), "the first loss point")

    def full(*_args: Any, **_kwargs: Any) -> None:
        raise _disk_full()

    monkeypatch.setattr(manager.store, "write_snapshot", full)
    assert wait_status(manager, run_id, RunStatus.FAILED, RunStatus.FINISHED, timeout=20) == RunStatus.FAILED
    message = manager.get_run(run_id).message
    assert f"could not write to its folder {manager.store.folder(run_id).path}: No space left on device" in message
    assert "What it saved before is kept" in message
    assert manager.metrics_since(run_id)  # what it recorded before is still there
    monkeypatch.undo()
    assert wait_status(manager, manager.submit(fake_config()), RunStatus.FINISHED) == RunStatus.FINISHED


def test_a_worker_that_cannot_write_its_checkpoint_says_where_and_why(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("saving failed") from OSError(errno.EROFS, "Read-only file system")

    job = Job(run_id="a" * 32, token=1, config=fake_config().to_dict(), run_dir=str(tmp_path))
    sink = ClosingSink(closes_at=99)
    assert run_job(job, read_only, sink, lambda: False) == "failed"
    assert sink.events[-1]["message"].startswith(f"The run could not write to its folder {tmp_path}: Read-only file "
                                                 "system.")


def test_delete_removes_the_folder_or_says_why_it_could_not(make_manager: Callable[..., JobManager],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    manager = make_manager()
    kept, half, gone = (manager.submit(fake_config(epochs=1)) for _ in range(3))
    for run_id in (kept, half, gone):
        wait_status(manager, run_id, RunStatus.FINISHED)
    manager.delete(gone)
    assert not manager.store.folder(gone).path.exists() and not manager.store.exists(gone)

    real_rename = Path.rename
    monkeypatch.setattr(Path, "rename", lambda self, target: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system")))
    with pytest.raises(FolderNotRemoved, match=f"Run {kept[:8]} was not deleted: its folder .*{kept} could not be "
                                               r"moved \(Read-only file system\). Nothing was removed."):
        manager.delete(kept)
    assert manager.get_run(kept).status is RunStatus.FINISHED and manager.config_path(kept).is_file()

    monkeypatch.setattr(Path, "rename", real_rename)
    monkeypatch.setattr(shutil, "rmtree", lambda path, onerror=None, **_: onerror(
        os.rmdir, str(path), (OSError, OSError(errno.EBUSY, "Device or resource busy"), None)))
    with pytest.raises(FolderNotRemoved, match=rf"Run {half[:8]} was deleted, but its folder could not be removed "
                                               r"\(Device or resource busy\): remove .*\.deleting-" + half):
        manager.delete(half)
    assert not manager.store.exists(half)
    monkeypatch.undo()
    RunStore(manager.store.home)  # the next store to open finishes the job
    assert sorted(p.name for p in manager.store.runs_dir.iterdir()) == [kept]
