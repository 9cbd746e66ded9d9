"""Rebuilding a lost index: the runs table again from the run folders.

``lab.sqlite3`` is only an index over ``runs/<run_id>/``: every run's config and models live
in its folder. When the database is lost (deleted, or replaced by an empty one) while the
folders remain, every run would vanish from the app. So a store that opens an index with
no runs but finds run folders gives each folder its row back, with the status its files
prove: a final ``model.keras`` means FINISHED, an epoch checkpoint INTERRUPTED (so it can
be resumed), anything else FAILED. Metric rows lived only in the database, so they are
gone; each rebuilt run's message says so.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ae_core.config import TrainConfig
from ae_core.store.layout import RunFolder
from ae_core.store.records import RunStatus, validate_run_id
from ae_core.store.rows import describe
from ae_core.store.sqlite_db import Database

logger = logging.getLogger(__name__)

_LOST = ("The store's index (lab.sqlite3) was lost and rebuilt from this run's folder, which holds {what}. "
         "Its metric rows (the training curves) were kept only in the index and could not be recovered.")
_WHAT = {
    RunStatus.FINISHED: "its final model",
    RunStatus.INTERRUPTED: "an epoch checkpoint: resume the run to continue from there",
    RunStatus.FAILED: "no saved model",
}


def rebuild_message(status: RunStatus) -> str:
    """The message a rebuilt run of ``status`` carries (FINISHED, INTERRUPTED or FAILED)."""
    return _LOST.format(what=_WHAT[status])


def rebuild_index(db: Database, runs_dir: Path, read_config: Callable[[str], TrainConfig]) -> int:
    """Give each run folder a row again, if the index has no runs but folders exist.

    The check and the inserts are one transaction, so two processes opening the store at
    once rebuild it once. A folder whose name is not a run id is logged and left alone.

    Args:
        db: the store's database.
        runs_dir: the folder of run folders.
        read_config: reads a run's config (``RunStore.read_config``); a run whose config
            cannot be read cannot be trained or resumed, so it is FAILED whatever else it holds.

    Returns:
        The number of runs rebuilt (0 when the index had runs, or there were no folders).
    """
    folders = sorted(path for path in runs_dir.iterdir() if path.is_dir())
    if not folders:
        return 0
    counts: Counter[str] = Counter()
    with db.transaction() as connection:
        if connection.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None:
            return 0
        for path in folders:
            try:
                run_id = validate_run_id(path.name)
            except ValueError:
                logger.warning("Not a run folder, left alone while rebuilding the index: %s", path.name)
                continue
            status, created_at, finished_at = _recovered(RunFolder(path), _readable(read_config, run_id))
            connection.execute(
                "INSERT OR IGNORE INTO runs (run_id, status, created_at, finished_at, message) VALUES (?, ?, ?, ?, ?)",
                (run_id, status.value, created_at, finished_at, rebuild_message(status)))
            counts[status.value.lower()] += 1
    total = sum(counts.values())
    if total:
        logger.warning("The store's index was empty but %d run folders remained: rebuilt %d runs (%s) in %s; "
                       "their metric rows could not be recovered", len(folders), total,
                       ", ".join(f"{count} {name}" for name, count in sorted(counts.items())), runs_dir)
    return total


def _recovered(folder: RunFolder, config_readable: bool) -> tuple[RunStatus, float, float | None]:
    """(status, created_at, finished_at) that a run folder's files prove."""
    created_at = _mtime(folder.config_path) or _mtime(folder.path) or 0.0
    if config_readable and folder.model_path.is_file():
        return RunStatus.FINISHED, created_at, _mtime(folder.model_path)
    if config_readable and folder.checkpoint.epoch() is not None:
        return RunStatus.INTERRUPTED, created_at, _mtime(folder.checkpoint.state_path)
    return RunStatus.FAILED, created_at, None


def _readable(read_config: Callable[[str], TrainConfig], run_id: str) -> bool:
    try:
        read_config(run_id)
    except (OSError, ValueError) as error:
        logger.warning("Run %s: its config cannot be read, so it is rebuilt as FAILED (%s)", run_id, describe(error))
        return False
    return True


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError as error:
        logger.debug("No modification time for %s (%s)", path.name, describe(error))
        return None
