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
from ae_core.store import artifacts
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
    assert sorted(p.name for p in store.folder(run_id).path.iterdir()) == [CONFIG_FILENAME, "history",
                                                                           "reconstruction.npz"]
    # Each snapshot is also a time-lapse frame (tests/test_history.py); no temporary file is left behind.
    assert sorted(p.name for p in store.folder(run_id).history_dir("reconstruction").iterdir()) == [
        "000000.npz", "000001.npz"]
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


# --- damage: one bad run never takes the others down ---------------------------------------------

def _config_text(**changes: str) -> str:
    """CONFIG's config.json with some values replaced by raw JSON text."""
    data = json.loads(json.dumps(CONFIG.to_dict()))
    text = json.dumps(data)
    for key, raw in changes.items():
        text = text.replace(f'"{key}": {json.dumps(data[key])}', f'"{key}": {raw}')
    return text


DAMAGED_CONFIGS = {
    "a 400-digit learning rate": _config_text(learning_rate="1" * 400).encode(),
    "an overflowing float": _config_text(learning_rate="1e400").encode(),
    "100,000-deep JSON": b"[" * 100_000 + b"]" * 100_000,
    "a deep value": _config_text(seed="[" * 50_000 + "]" * 50_000).encode(),
    "an enormous file": b'{"dataset": "' + b"x" * 3_000_000 + b'"}',
    "not an object": b"[1, 2, 3]",
    "not UTF-8": b"\xff\xfe\x00{",
    "empty": b"",
    "a wrong type": _config_text(num_epochs='"ten"').encode(),
}


@pytest.mark.parametrize("damage", list(DAMAGED_CONFIGS))
def test_a_damaged_config_hides_only_its_own_run(store: RunStore, damage: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    good, bad = store.create_run(CONFIG), store.create_run(CONFIG)
    store.folder(bad).config_path.write_bytes(DAMAGED_CONFIGS[damage])
    with caplog.at_level(logging.WARNING, logger="ae_core.store"):
        assert [r.run_id for r in store.list_runs()] == [good]
    assert bad in caplog.text
    [(run_id, reason)] = store.damaged_runs()
    assert run_id == bad and "config.json" in reason and str(store.home) not in reason and len(reason) < 400
    with pytest.raises(RunNotFound, match="damaged"):
        store.get_run(bad)
    with pytest.raises(ValueError):  # the supervisor fails a queued run whose config raises OSError or ValueError
        store.read_config(bad)
    store.delete_run(bad)
    assert store.damaged_runs() == [] and not store.folder(bad).path.exists()


def test_damaged_rows_are_listed_with_a_reason_and_can_be_deleted(store: RunStore) -> None:
    good, missing, bad_status, bad_time = (store.create_run(CONFIG) for _ in range(4))
    for path in store.folder(missing).path.iterdir():
        path.unlink()
    with sqlite3.connect(store.db.path) as db:
        db.execute("UPDATE runs SET status = 'EXPLODED' WHERE run_id = ?", (bad_status,))
        db.execute("UPDATE runs SET created_at = 'yesterday' WHERE run_id = ?", (bad_time,))
    assert [r.run_id for r in store.list_runs()] == [good]
    reasons = dict(store.damaged_runs())
    assert set(reasons) == {missing, bad_status, bad_time}
    assert "config.json" in reasons[missing] and str(store.home) not in reasons[missing]
    assert "EXPLODED" in reasons[bad_status] and "created_at" in reasons[bad_time]
    for run_id in reasons:
        store.delete_run(run_id)
    assert store.damaged_runs() == [] and [r.run_id for r in store.list_runs()] == [good]


def test_bad_times_and_progress_are_dropped_not_shown(store: RunStore, caplog: pytest.LogCaptureFixture) -> None:
    run_id, other = _running(store), _running(store)
    with sqlite3.connect(store.db.path) as db:
        db.execute("UPDATE runs SET started_at = 'soon', progress = ? WHERE run_id = ?",
                   ('{"epoch": "abc", "step": 3, "num_epochs": 1e999, "steps_per_epoch": [1]}', run_id))
        db.execute("UPDATE runs SET progress = 'not json', result = '{nope' WHERE run_id = ?", (other,))
    with caplog.at_level(logging.WARNING, logger="ae_core.store"):
        record = store.get_run(run_id)
        assert record.started_at is None and record.progress == {"step": 3}
        assert store.get_run(other).progress == {} and store.get_run(other).result is None
    assert "started_at" in caplog.text and "progress" in caplog.text


def test_damaged_metric_rows_are_skipped_and_logged(store: RunStore, caplog: pytest.LogCaptureFixture) -> None:
    run_id = _running(store)
    store.append_metrics(run_id, [_row(1)])
    with sqlite3.connect(store.db.path) as db:
        for seq, value, epoch, step, when in ((2, "abc", 0, 2, 0.2), (3, 0.4, "x", 3, 0.3), (4, 0.4, 0, 4, "later"),
                                              (5, 0.3, 0, 5, 0.5), (6, b"\x00", 0, 6, 0.6), (7, 1e30, 0, 7, 0.7)):
            db.execute("INSERT INTO metrics VALUES (?, ?, 'batch', 'loss', ?, ?, ?, ?)",
                       (run_id, seq, value, epoch, step, when))
        db.execute("INSERT INTO metrics VALUES (?, 'eight', 'batch', 'loss', 0.1, 0, 8, 0.8)", (run_id,))
    with caplog.at_level(logging.WARNING, logger="ae_core.store"):
        rows = store.metrics_since(run_id)
    assert [(r.seq, r.value) for r in rows] == [(1, 0.5), (5, 0.3), (7, 1e30)]
    assert all(isinstance(v, (int, float)) for r in rows for v in (r.seq, r.value, r.epoch, r.step, r.time))
    assert "metric row" in caplog.text and run_id in caplog.text
    assert [r.seq for r in store.metrics_since(run_id, after_seq=5)] == [7]


def test_result_values_that_are_not_numbers_are_dropped(store: RunStore, caplog: pytest.LogCaptureFixture) -> None:
    autoencoder, classifier, good = _running(store), _running(store), _running(store)
    store.lifecycle.finish(autoencoder, RunStatus.FINISHED, "", {"test_mse": 0.0, "test_psnr": 1.0})
    with sqlite3.connect(store.db.path) as db:
        db.execute("UPDATE runs SET result = ? WHERE run_id = ?",
                   ('{"test_mse": "abc", "test_psnr": 20, "seconds": ' + "9" * 400 + ', "flag": true, '
                    '"epochs_completed": null, "note": {"a": 1}}', autoencoder))
        db.execute("UPDATE runs SET result = ? WHERE run_id = ?",
                   ('{"test_accuracy": 0.9, "confusion": [[1, "a"], [2, 3]], "num_train": "x"}', classifier))
        db.execute("UPDATE runs SET result = '[1, 2]' WHERE run_id = ?", (good,))
    with caplog.at_level(logging.WARNING, logger="ae_core.store"):
        assert store.get_run(autoencoder).result == {"test_psnr": 20.0}
        assert store.get_run(classifier).result == {"test_accuracy": 0.9}
        assert store.get_run(good).result is None
    assert "test_mse" in caplog.text and "confusion" in caplog.text
    for confusion in ([[1, 2], [3, 4]], [[0]]):
        store.lifecycle.finish(good, RunStatus.FINISHED, "", {"confusion": confusion, "num_test": 10},
                               only_if=list(RunStatus))
        assert store.get_run(good).result == {"confusion": confusion, "num_test": 10.0}
    for confusion in ([[1, 2], [3]], [[1.5]], [[-1]], [], [[]], [[True]], [1, 2], [[1e400]]):
        store.lifecycle.finish(good, RunStatus.FINISHED, "", {"confusion": confusion}, only_if=list(RunStatus))
        assert store.get_run(good).result == {}, confusion


# --- a lost lab.sqlite3 -----------------------------------------------------------------------

def test_a_lost_database_is_rebuilt_from_the_run_folders(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = RunStore(tmp_path / "home")
    finished, stopped, failed, no_config = (_running(store) for _ in range(4))
    store.append_metrics(finished, [_row(1)])
    store.folder(finished).model_path.write_bytes(b"model")
    store.folder(stopped).checkpoint.save(lambda path: path.write_bytes(b"model"), 1)
    store.folder(no_config).config_path.unlink()
    (store.runs_dir / "not-a-run-id").mkdir()
    store.db.close()
    for name in (DB_FILENAME, f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm"):
        (store.home / name).unlink(missing_ok=True)

    with caplog.at_level(logging.INFO, logger="ae_core.store"):
        rebuilt = RunStore(store.home)
    assert "rebuilt" in caplog.text and "4 runs" in caplog.text
    records = {r.run_id: r for r in rebuilt.list_runs()}
    assert set(records) == {finished, stopped, failed}
    assert records[finished].status is RunStatus.FINISHED
    assert records[stopped].status is RunStatus.INTERRUPTED and records[stopped].status.is_resumable
    assert records[failed].status is RunStatus.FAILED
    for record in records.values():
        assert "rebuilt" in record.message and "metric" in record.message
        assert record.config == CONFIG and record.created_at > 0
    assert rebuilt.metrics_since(finished) == []
    assert [run_id for run_id, _ in rebuilt.damaged_runs()] == [no_config]
    # An index with runs is never rebuilt again, and new runs are queued as usual.
    rebuilt.delete_run(failed)
    again = RunStore(store.home)
    assert failed not in {r.run_id for r in again.list_runs()}
    assert again.get_run(again.create_run(CONFIG)).status is RunStatus.QUEUED


def test_a_run_created_while_another_store_rebuilds_is_queued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path / "home")
    # create_run writes the folder before the row: a store opened in between (another process) finds a
    # folder in an empty index and rebuilds it as FAILED. The row create_run writes then wins.
    write_json_atomic, seen = artifacts.write_json_atomic, []

    def write_then_open(path: Path, data: dict) -> None:
        write_json_atomic(path, data)
        seen.append(RunStore(store.home).list_runs())

    monkeypatch.setattr(artifacts, "write_json_atomic", write_then_open)
    run_id = store.create_run(CONFIG, owner=OWNER)
    assert [(r.run_id, r.status) for r in seen[0]] == [(run_id, RunStatus.FAILED)]
    record = store.get_run(run_id)
    assert (record.status, record.queue_position, record.message) == (RunStatus.QUEUED, 1, "")
    assert store.lifecycle.queued_run_ids(OWNER) == [run_id]
