"""The run store: SQLite (WAL) + run folders, the lifecycle updates, the event sink."""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.errors import RunNotFound
from ae_core.service.sinks import StoreSink
from ae_core.store.records import CANCELLED_MESSAGE, INTERRUPTED_MESSAGE
from ae_core.service.owners import OwnerLock, owner_is_alive
from ae_core.store.records import RunStatus
from ae_core.store.layout import CONFIG_FILENAME
from ae_core.store.store import DB_FILENAME, RunStore, default_home

CONFIG = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=4, hidden_sizes=(8,)),
                     num_epochs=2, batch_size=32, train_limit=128)
OWNER = "ab" * 16


def _row(step: int, value: float = 0.5, kind: str = "batch", key: str = "loss") -> dict[str, float | int | str]:
    return {"kind": kind, "key": key, "value": value, "epoch": 0, "step": step, "time": 0.1 * step}


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "home")


def _running(store: RunStore) -> str:
    run_id = store.create_run(CONFIG, owner=OWNER)
    assert store.lifecycle.claim(run_id, OWNER, worker_pid=None)
    return run_id


def test_home_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AE_LAB_HOME", str(tmp_path / "lab"))
    assert default_home() == tmp_path / "lab"
    assert RunStore().db.path == tmp_path / "lab" / DB_FILENAME
    monkeypatch.delenv("AE_LAB_HOME")
    assert default_home() == Path.home() / ".ae_lab"


@pytest.mark.parametrize("bad_id", ["../../etc", "0" * 31, "A" * 32, "g" * 32, "", "0" * 32 + "/x", 42, None])
def test_run_ids_are_validated_before_any_path_is_built(store: RunStore, bad_id: object) -> None:
    for call in (store.folder, store.get_run, store.metrics_since, store.delete_run,
                 lambda run_id: store.read_snapshot(run_id, "latent"), store.lifecycle.request_cancel):
        with pytest.raises(ValueError, match="run_id must be 32 lowercase hex digits"):
            call(bad_id)
    assert list(store.runs_dir.iterdir()) == []
    assert {p.name for p in store.home.iterdir()} <= {DB_FILENAME, f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm",
                                                     "locks", "runs"}


def test_unknown_run_raises_run_not_found(store: RunStore) -> None:
    with pytest.raises(RunNotFound, match="No run with id"):
        store.get_run("0" * 32)
    with pytest.raises(RunNotFound, match="No run with id"):
        store.metrics_since("0" * 32)


def test_created_runs_are_queued_in_order_with_their_config(store: RunStore) -> None:
    first, second = store.create_run(CONFIG, owner=OWNER), store.create_run(CONFIG.replace(seed=1), owner=OWNER)
    assert json.loads(store.folder(first).config_path.read_text()) == json.loads(json.dumps(CONFIG.to_dict()))
    records = store.list_runs()
    assert [r.run_id for r in records] == [second, first]  # newest first
    assert [(r.status, r.queue_position) for r in records] == [(RunStatus.QUEUED, 2), (RunStatus.QUEUED, 1)]
    assert store.get_run(second).config.seed == 1
    assert store.lifecycle.queued_run_ids(OWNER) == [first, second]
    assert store.lifecycle.claim(first, OWNER, worker_pid=123)
    assert not store.lifecycle.claim(first, OWNER, worker_pid=123)  # nobody starts a run twice
    assert store.get_run(second).queue_position == 1
    assert store.get_run(first).status == RunStatus.RUNNING and store.get_run(first).started_at is not None


def test_broken_runs_are_logged_and_skipped(store: RunStore, caplog: pytest.LogCaptureFixture) -> None:
    good, corrupt, missing, bad_row = (store.create_run(CONFIG) for _ in range(4))
    store.folder(corrupt).config_path.write_text("{ not json")
    for path in store.folder(missing).path.iterdir():
        path.unlink()
    store.folder(missing).path.rmdir()
    with sqlite3.connect(store.db.path) as db:
        db.execute("UPDATE runs SET status = 'EXPLODED' WHERE run_id = ?", (bad_row,))
    with caplog.at_level(logging.WARNING, logger="ae_core.store.store"):
        assert [r.run_id for r in store.list_runs()] == [good]
    for run_id in (corrupt, missing, bad_row):
        assert run_id in caplog.text
    with pytest.raises(RunNotFound, match="damaged"):
        store.get_run(corrupt)


def test_metrics_are_append_only_with_increasing_seq(store: RunStore) -> None:
    run_id = _running(store)
    assert store.append_metrics(run_id, [_row(1), _row(2)], progress={"step": 2}) == 2
    assert store.append_metrics(run_id, [_row(2, 0.4, "epoch", "loss"), _row(2, 0.45, "epoch", "val_loss")]) == 2
    rows = store.metrics_since(run_id)
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert [(r.kind, r.key, r.value) for r in rows[2:]] == [("epoch", "loss", 0.4), ("epoch", "val_loss", 0.45)]
    assert store.get_run(run_id).progress == {"step": 2}
    with sqlite3.connect(store.db.path) as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE metrics SET value = 0 WHERE run_id = ?", (run_id,))
    assert store.lifecycle.finish(run_id, RunStatus.CANCELLED, "stop")
    # A late event of a run that is no longer RUNNING changes nothing.
    assert store.append_metrics(run_id, [_row(3)], progress={"step": 3}) == 0
    assert len(store.metrics_since(run_id)) == 4 and store.get_run(run_id).progress == {"step": 2}


def test_metrics_since_is_incremental(store: RunStore) -> None:
    run_id, other = _running(store), _running(store)
    seen: list[int] = []
    for chunk in range(3):
        store.append_metrics(run_id, [_row(10 * chunk + i) for i in range(4)])
        store.append_metrics(other, [_row(1)])
        new = store.metrics_since(run_id, after_seq=seen[-1] if seen else 0)
        assert len(new) == 4 and all(r.seq > (seen[-1] if seen else 0) for r in new)
        seen.extend(r.seq for r in new)
    assert seen == list(range(1, 13))
    assert store.metrics_since(run_id, after_seq=12) == []
    store.append_metrics(run_id, [_row(99, float("nan"))])
    assert math.isnan(store.metrics_since(run_id, after_seq=12)[0].value)
    with pytest.raises(ValueError, match="after_seq must be a whole number of at least 0"):
        store.metrics_since(run_id, after_seq=-1)


def test_snapshots_are_replaced_atomically_and_read_back(store: RunStore, caplog: pytest.LogCaptureFixture) -> None:
    run_id = _running(store)
    assert store.read_snapshot(run_id, "reconstruction") is None
    images = np.arange(16 * 4, dtype=np.uint8).reshape(16, 2, 2, 1)
    for epoch in (1, 2):
        store.write_snapshot(run_id, "reconstruction", {"type": "reconstruction", "epoch": epoch, "step": 8 * epoch,
                                                        "indices": np.arange(16), "originals": images,
                                                        "inputs": None, "reconstructions": images + epoch})
    snapshot = store.read_snapshot(run_id, "reconstruction")
    assert snapshot is not None and snapshot["epoch"] == 2 and snapshot["inputs"] is None and "type" not in snapshot
    np.testing.assert_array_equal(snapshot["reconstructions"], images + 2)
    assert snapshot["reconstructions"].dtype == np.uint8
    assert sorted(p.name for p in store.folder(run_id).path.iterdir()) == [CONFIG_FILENAME, "reconstruction.npz"]
    store.folder(run_id).snapshot_path("latent").write_bytes(b"PK\x03\x04 garbage")
    with caplog.at_level(logging.WARNING):
        assert store.read_snapshot(run_id, "latent") is None
    assert "damaged snapshot" in caplog.text
    with pytest.raises(ValueError, match="kind must be one of 'reconstruction', 'latent'"):
        store.read_snapshot(run_id, "weights")


def test_cancel_requeue_and_delete(store: RunStore) -> None:
    queued, running = store.create_run(CONFIG, owner=OWNER), _running(store)
    assert store.lifecycle.request_cancel(queued) == RunStatus.CANCELLED
    assert store.lifecycle.request_cancel(running) == RunStatus.RUNNING
    assert store.lifecycle.cancel_requests(OWNER) == [running] and store.lifecycle.cancel_requested(running)
    store.append_metrics(running, [_row(1)])
    assert store.lifecycle.finish(running, RunStatus.CANCELLED, "stopped")
    assert not store.lifecycle.finish(running, RunStatus.FAILED, "too late")
    with pytest.raises(ValueError, match="status must be one of"):
        store.lifecycle.finish(running, RunStatus.QUEUED)
    assert store.lifecycle.requeue(running, OWNER, [RunStatus.CANCELLED])
    record = store.get_run(running)
    assert record.status == RunStatus.QUEUED and record.queue_position == 1 and record.message == ""
    assert not store.lifecycle.cancel_requested(running) and len(store.metrics_since(running)) == 1
    store.delete_run(running)
    assert not store.folder(running).path.exists()
    with pytest.raises(RunNotFound):
        store.get_run(running)
    with sqlite3.connect(store.db.path) as db:
        assert db.execute("SELECT COUNT(*) FROM metrics WHERE run_id = ?", (running,)).fetchone()[0] == 0


def test_readers_are_not_blocked_by_an_open_write(store: RunStore) -> None:
    run_id = _running(store)
    store.append_metrics(run_id, [_row(1)])
    assert store.db.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with store.db.transaction() as db:  # the writer holds the write lock...
        db.execute("INSERT INTO metrics VALUES (?, 2, 'batch', 'loss', 0.1, 0, 2, 0.2)", (run_id,))
        seen: list[int] = []
        reader = threading.Thread(target=lambda: seen.append(len(store.metrics_since(run_id))))
        reader.start()
        reader.join(10)
        assert seen == [1]  # ...and another thread still reads the last committed state at once
    assert len(store.metrics_since(run_id)) == 2


def test_store_sink_turns_events_into_rows_snapshots_and_statuses(store: RunStore) -> None:
    sink = StoreSink(store)
    finished, stopped, cancelled, failed = (_running(store) for _ in range(4))
    sink.emit(finished, {"type": "start", "num_epochs": 2, "steps_per_epoch": 4, "initial_epoch": 1, "time": 0.0})
    sink.emit(finished, {"type": "batch", "epoch": 1, "step": 5, "loss": 0.3, "time": 0.1})
    sink.emit(finished, {"type": "epoch", "epoch": 2, "step": 8, "metrics": {"loss": 0.2, "val_loss": 0.25},
                         "time": 0.2})
    sink.emit(finished, {"type": "latent", "epoch": 2, "step": 8, "indices": np.arange(3),
                         "codes": np.ones((3, 4), np.float32), "labels": np.arange(3), "time": 0.3})
    sink.emit(finished, {"type": "end", "status": "finished", "message": "Finished 2 epochs.",
                         "result": {"test_loss": np.float32(0.5), "seconds": 1.0}})
    record = store.get_run(finished)
    assert record.status == RunStatus.FINISHED and record.result == {"test_loss": 0.5, "seconds": 1.0}
    assert record.progress == {"num_epochs": 2, "steps_per_epoch": 4, "epoch": 2, "step": 8}
    assert [(r.kind, r.key, r.epoch, r.step) for r in store.metrics_since(finished)] == [
        ("batch", "loss", 1, 5), ("epoch", "loss", 2, 8), ("epoch", "val_loss", 2, 8)]
    assert store.read_snapshot(finished, "latent")["codes"].shape == (3, 4)
    store.lifecycle.request_cancel(cancelled)
    for run_id in (stopped, cancelled):
        sink.emit(run_id, {"type": "end", "status": "stopped", "message": "Stopped by request.", "result": {}})
    sink.emit(failed, {"type": "end", "status": "failed", "message": "The loss became NaN.", "result": {}})
    assert (store.get_run(stopped).status, store.get_run(stopped).message) == (RunStatus.INTERRUPTED,
                                                                               INTERRUPTED_MESSAGE)
    assert (store.get_run(cancelled).status, store.get_run(cancelled).message) == (RunStatus.CANCELLED,
                                                                                   CANCELLED_MESSAGE)
    assert (store.get_run(failed).status, store.get_run(failed).message) == (RunStatus.FAILED, "The loss became NaN.")


def test_owner_locks_tell_live_managers_from_dead_ones(tmp_path: Path) -> None:
    lock = OwnerLock(tmp_path)
    assert owner_is_alive(tmp_path, lock.owner)
    lock.release()
    assert not owner_is_alive(tmp_path, lock.owner)
    assert not owner_is_alive(tmp_path, None) and not owner_is_alive(tmp_path, "../x")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from pathlib import Path; from ae_core.service.owners import OwnerLock; "
                               f"lock = OwnerLock(Path({str(tmp_path)!r})); print(lock.owner, flush=True); "
                               "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        owner = holder.stdout.readline().strip()
        assert owner_is_alive(tmp_path, owner)
    finally:
        holder.kill()  # SIGKILL: no clean-up runs, the OS drops the lock
        holder.wait()
    assert not owner_is_alive(tmp_path, owner)
    assert not (tmp_path / f"{owner}.lock").exists()
