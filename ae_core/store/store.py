"""The persistent run store: SQLite (WAL) for runs and metrics, a folder per run.

Layout under the home folder (env ``AE_LAB_HOME``, default ``~/.ae_lab``)::

    lab.sqlite3                      runs table + append-only metrics table
    runs/<run_id>/                   the run's folder (its files: ``ae_core.store.layout``)
    locks/<owner>.lock               held (flock) by each live job manager

SQLite in WAL mode lets pages read while the manager writes. Every thread gets
its own connection, because a sqlite3 connection must not be shared between
threads. Run ids are validated before any path is built from them, and a run
whose folder or row is broken is logged and skipped in listings, never fatal:
``damaged_runs`` names those runs with the reason, so they can still be deleted.
Values that are not what the writers write are dropped at the source (``rows``),
and an index lost while the run folders remain is rebuilt from them (``rebuild``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

from ae_core.store import artifacts, removal, rows
from ae_core.changes import Change
from ae_core.store.history import SHARED_RECONSTRUCTION_KEYS, SnapshotHistory
from ae_core.checks import check_int
from ae_core.config import MAX_CONFIG_JSON_BYTES, TrainConfig
from ae_core.errors import QueueFull, RunNotFound
from ae_core.store.layout import CONFIG_FILENAME, SNAPSHOT_KINDS, RunFolder
from ae_core.store.lifecycle import RunLifecycle, fair_order
from ae_core.store.rebuild import rebuild_index
from ae_core.store.records import DamagedRun, MetricRow, RunRecord, RunStatus, validate_run_id, without_superseded
from ae_core.store.sqlite_db import Database

logger = logging.getLogger(__name__)

HOME_ENV = "AE_LAB_HOME"
DB_FILENAME = "lab.sqlite3"
RUNS_DIRNAME = "runs"
LOCKS_DIRNAME = "locks"
# Results derived from the data alone and kept across server restarts (the Classify page's
# probes); deleting the folder only costs their recomputation.
CACHE_DIRNAME = "cache"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    queue_order INTEGER,
    message TEXT NOT NULL DEFAULT '',
    progress TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    owner TEXT,
    worker_pid INTEGER,
    cancel_requested_at REAL,
    started_by TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, queue_order);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value REAL,
    epoch INTEGER NOT NULL,
    step INTEGER NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS metrics_append_only BEFORE UPDATE ON metrics
BEGIN SELECT RAISE(ABORT, 'metrics are append-only'); END;
PRAGMA user_version = 1;
"""
# Columns added since the first stores were written: (table, name, SQL type), added at open when missing.
_ADDED_COLUMNS = (("runs", "started_by", "TEXT"),)

# SQLite stores NaN as NULL, so a NULL value reads back as NaN (a diverged loss).
_INSERT_METRIC = """
INSERT INTO metrics (run_id, seq, kind, key, value, epoch, step, time)
SELECT ?1, COALESCE((SELECT MAX(seq) FROM metrics WHERE run_id = ?1), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7
WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1 AND status = 'RUNNING')
"""


def default_home() -> Path:
    """The store's home folder: ``$AE_LAB_HOME``, else ``~/.ae_lab``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".ae_lab").expanduser()


class RunStore:
    """Runs, their metric series and their artifact folders under one home.

    Safe to share between threads. Several processes may open the same home;
    SQLite serialises their writes.
    """

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.runs_dir = self.home / RUNS_DIRNAME
        self.locks_dir = self.home / LOCKS_DIRNAME
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        removal.remove_leftovers(self.runs_dir)
        self.db = Database(self.home / DB_FILENAME, _SCHEMA, added_columns=_ADDED_COLUMNS)
        self.lifecycle = RunLifecycle(self.db)
        # config.json changes only when a change made while the run trains is recorded, so parsed
        # configs are cached (keyed by the file's mtime and size, which such a record changes).
        self._configs: dict[str, tuple[tuple[int, int], TrainConfig]] = {}
        # Damaged metric rows are logged once each, not at every poll of a page.
        self._logged_rows: set[tuple[str, object]] = set()
        rebuild_index(self.db, self.runs_dir, self.read_config)

    def _db(self) -> sqlite3.Connection:
        return self.db.connection()

    def _write(self) -> Any:
        return self.db.transaction()

    # -- paths -------------------------------------------------------------
    def folder(self, run_id: str) -> RunFolder:
        """The run's folder and the paths of its files (validates ``run_id`` first).

        Raises:
            ValueError: for a malformed run id.
        """
        return RunFolder(self.runs_dir / validate_run_id(run_id))

    # -- creating and reading runs -----------------------------------------
    def create_run(self, config: TrainConfig, owner: str | None = None, *, started_by: str | None = None,
                   max_queued: int | None = None) -> str:
        """Write a new run's folder and config, then queue it. Returns its id.

        The folder comes first, so the supervisor never sees a row without its config. A store
        opened by another process in between may find that folder in an empty index and rebuild
        it as FAILED; the row written here then replaces the rebuilt one.

        Args:
            config: the run's config.
            owner: the job manager that will dispatch it.
            started_by: the student who asked for it (see ``ae_core.access``).
            max_queued: refuse the run if ``started_by`` already has this many runs QUEUED
                (checked in the same transaction as the insert, so two quick clicks cannot both pass).

        Raises:
            QueueFull: when ``max_queued`` is reached (nothing is written).
        """
        run_id = uuid.uuid4().hex
        folder = self.folder(run_id)
        folder.path.mkdir(parents=True)
        try:
            artifacts.write_json_atomic(folder.config_path, config.to_dict())
            with self._write() as db:
                if max_queued is not None:
                    waiting = self.lifecycle.queued_count(started_by, db)
                    if waiting >= max_queued:
                        raise QueueFull(max_queued)
                db.execute(
                    "INSERT OR REPLACE INTO runs (run_id, status, created_at, queue_order, owner, started_by) VALUES "
                    "(?, 'QUEUED', ?, (SELECT COALESCE(MAX(queue_order), 0) + 1 FROM runs), ?, ?)",
                    (run_id, time.time(), owner, started_by))
        except BaseException:
            shutil.rmtree(folder.path, ignore_errors=True)
            raise
        return run_id

    def get_run(self, run_id: str) -> RunRecord:
        """One run.

        Raises:
            RunNotFound: if it is unknown, or damaged (the message says why).
            ValueError: for a malformed run id.
        """
        row = self._row(run_id)
        record = rows.record(row, self.read_config, lambda: self._queue_position(row))
        if isinstance(record, DamagedRun):
            raise RunNotFound(f"Run {run_id} is damaged: {record.reason}.")
        return record

    def list_runs(self) -> list[RunRecord]:
        """Every readable run, newest first; damaged ones are logged and skipped (see ``damaged_runs``)."""
        return [entry for entry in self._scan() if isinstance(entry, RunRecord)]

    def damaged_runs(self) -> list[DamagedRun]:
        """The runs ``list_runs`` skips, newest first, each with the reason in plain words.

        They stay in the store until deleted (``delete_run`` takes them), so a person can see
        what is wrong with them and remove them.
        """
        return [entry for entry in self._scan() if isinstance(entry, DamagedRun)]

    def _scan(self) -> list[RunRecord | DamagedRun]:
        found = self._db().execute("SELECT * FROM runs ORDER BY created_at DESC, run_id").fetchall()
        positions = {run_id: index + 1 for index, run_id in enumerate(fair_order(found))}
        return [rows.record(row, self.read_config, lambda row=row: positions.get(row["run_id"])) for row in found]

    def exists(self, run_id: str) -> bool:
        validate_run_id(run_id)
        return self._db().execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def status(self, run_id: str) -> RunStatus:
        """The run's status alone (readable even when its folder is damaged). Raises RunNotFound."""
        return RunStatus(self._row(run_id)["status"])

    def read_config(self, run_id: str) -> TrainConfig:
        """The run's config from its config.json (cached while the file is unchanged).

        Raises:
            OSError: when the file cannot be read (missing, a folder, no permission).
            ValueError: for a malformed run id, or a file that is not a valid config (too
                large, too deep, not JSON, a field out of range), with a message in plain words
                that names no server path.
        """
        path = self.folder(run_id).config_path
        stat = path.stat()
        signature = (stat.st_mtime_ns, stat.st_size)
        cached = self._configs.get(run_id)
        if cached is not None and cached[0] == signature:
            return cached[1]
        if stat.st_size > MAX_CONFIG_JSON_BYTES:  # refused before a damaged file is read into memory
            raise ValueError(f"{CONFIG_FILENAME} is larger than {MAX_CONFIG_JSON_BYTES // 1024} KiB, so it is not a "
                             "config")
        config = rows.parse_config(path.read_bytes())
        self._configs[run_id] = (signature, config)
        return config

    def record_change(self, run_id: str, change: Change) -> None:
        """Add a change made while the run trained to its ``config.json`` history (``TrainConfig.changes``).

        Like metrics, only while the run is RUNNING: a late event never rewrites an ended run's config.

        Raises:
            ValueError: if the history is full (``ae_core.changes.MAX_CHANGES``).
        """
        if self.status(run_id) is not RunStatus.RUNNING:
            return
        config = self.read_config(run_id)
        artifacts.write_json_atomic(self.folder(run_id).config_path,
                                    config.replace(changes=config.changes + (change,)).to_dict())

    def _row(self, run_id: str) -> sqlite3.Row:
        validate_run_id(run_id)
        row = self._db().execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"No run with id {run_id}.")
        return row

    def _queue_position(self, row: sqlite3.Row) -> int | None:
        if row["status"] != "QUEUED":
            return None
        order = self.lifecycle.service_order()
        # Read after the row: the run may have started (or been cancelled) in between.
        return order.index(row["run_id"]) + 1 if row["run_id"] in order else None

    def started_by(self, run_id: str) -> str | None:
        """Who started the run (None: not recorded, as for runs from before ownership). Raises RunNotFound."""
        return self._row(run_id)["started_by"]

    # -- metrics -----------------------------------------------------------
    def append_metrics(self, run_id: str, rows: Iterable[Mapping[str, Any]],
                       progress: Mapping[str, Any] | None = None) -> int:
        """Append metric rows (and merge ``progress``) for a RUNNING run.

        Each row has ``kind``, ``key``, ``value``, ``epoch``, ``step``, ``time``;
        ``seq`` is assigned here. Rows for a run that is not RUNNING (cancelled,
        deleted) are dropped, so a late event never resurrects a run.

        Returns:
            The number of rows appended.
        """
        validate_run_id(run_id)
        values = [(run_id, r["kind"], r["key"], _finite_or_none(r["value"]), int(r["epoch"]), int(r["step"]),
                   float(r["time"])) for r in rows]
        with self._write() as db:
            appended = sum(db.execute(_INSERT_METRIC, v).rowcount for v in values)
            if progress:
                db.execute("UPDATE runs SET progress = json_patch(progress, ?) WHERE run_id = ? AND status = 'RUNNING'",
                           (json.dumps(dict(progress)), run_id))
        return appended

    def metrics_since(self, run_id: str, after_seq: int = 0) -> list[MetricRow]:
        """Metric rows with ``seq > after_seq``, in order. Raises RunNotFound."""
        check_int("after_seq", after_seq, 0)
        self._row(run_id)
        found = self._db().execute(
            "SELECT seq, kind, key, value, epoch, step, time FROM metrics WHERE run_id = ? AND seq > ? ORDER BY seq",
            (run_id, after_seq)).fetchall()
        return without_superseded(rows.metric_rows(found, run_id, self._logged_rows))

    # -- snapshots ---------------------------------------------------------
    def write_snapshot(self, run_id: str, kind: str, snapshot: Mapping[str, Any]) -> None:
        """Replace the run's latest snapshot of ``kind`` atomically, and add it to the run's time-lapse."""
        folder = self.folder(run_id)
        path = folder.snapshot_path(kind)
        if not path.parent.is_dir():  # a deleted run: do not recreate its folder
            return
        artifacts.write_npz_atomic(path, snapshot)
        try:
            SnapshotHistory(folder.history_dir(kind)).append(kind, snapshot)
        except OSError as error:  # the time-lapse is a bonus: a full disk must not stop the run
            logger.warning("Run %s: could not keep a %s frame for the time-lapse (%s)", run_id, kind, error)

    def read_history(self, run_id: str, kind: str) -> list[dict[str, Any]]:
        """The run's time-lapse frames of ``kind``, oldest first (damaged ones skipped).

        Reconstruction frames get back the originals they leave out, from the latest
        snapshot; without one they cannot be drawn, and none is returned.

        Raises:
            RunNotFound: for an unknown run.
        """
        self._row(run_id)
        folder = self.folder(run_id)
        frames = SnapshotHistory(folder.history_dir(kind)).frames()
        if kind != "reconstruction" or not frames:
            return frames
        latest = artifacts.read_npz(folder.snapshot_path(kind))
        if latest is None:
            return []
        for frame in frames:
            frame.update({key: latest.get(key) for key in SHARED_RECONSTRUCTION_KEYS})
        return frames

    def drop_history_after(self, run_id: str, step: int) -> None:
        """Forget the time-lapse frames past global step ``step``: a run resumed there trains them again."""
        folder = self.folder(run_id)
        for kind in SNAPSHOT_KINDS:
            SnapshotHistory(folder.history_dir(kind)).drop_after(step)

    def read_snapshot(self, run_id: str, kind: str) -> dict[str, Any] | None:
        """The latest snapshot of ``kind`` as a dict, or None if there is none yet."""
        path = self.folder(run_id).snapshot_path(kind)
        self._row(run_id)
        return artifacts.read_npz(path)

    def delete_run(self, run_id: str) -> None:
        """Remove the run's folder and its rows (``removal.delete_folder``: a failure is said, never hidden).

        Raises:
            RunNotFound: for an unknown run.
            FolderNotRemoved: the folder could not be moved (nothing was deleted), or removed
                once the rows were gone (the message names it).
        """
        self._row(run_id)

        def delete_rows() -> None:
            with self._write() as db:
                db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
                db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            self._configs.pop(run_id, None)

        removal.delete_folder(self.folder(run_id).path, run_id, delete_rows)


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return None if number != number else number
