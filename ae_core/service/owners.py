"""Which job managers are alive: one lock file per manager.

Each manager holds an exclusive ``flock`` on ``locks/<owner>.lock`` for as long
as its process lives; the operating system drops the lock when the process
dies, however it dies. So when a manager starts, a RUNNING run whose owner's
lock can be taken belongs to a dead server and is INTERRUPTED, while a run of
another live server on the same store (a second ``streamlit run``) is left
alone. Process ids would not do: they are reused.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path
from typing import IO

from ae_core.store import RunStatus, RunStore, stopped_status

try:
    import fcntl
except ImportError:  # Windows: no flock; every other owner counts as dead.
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

_OWNER_PATTERN = re.compile(r"^[0-9a-f]{32}$")


class OwnerLock:
    """The lock that says "this manager is alive". Release it at shutdown."""

    def __init__(self, locks_dir: Path) -> None:
        self.owner = uuid.uuid4().hex
        self.path = locks_dir / f"{self.owner}.lock"
        self._handle: IO[bytes] | None = open(self.path, "wb")  # noqa: SIM115 (held open on purpose)
        if fcntl is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._handle.write(str(os.getpid()).encode())
        self._handle.flush()

    def release(self) -> None:
        """Drop the lock and its file (idempotent)."""
        if self._handle is None:
            return
        self.path.unlink(missing_ok=True)
        self._handle.close()
        self._handle = None


def owner_is_alive(locks_dir: Path, owner: str | None) -> bool:
    """True if the manager ``owner`` still holds its lock.

    An owner that is empty, malformed or has no lock file is dead. A dead
    owner's stale lock file is removed.
    """
    if not owner or not _OWNER_PATTERN.match(owner):
        return False
    path = locks_dir / f"{owner}.lock"
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return False
    with handle:
        if fcntl is None:
            return False
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        # We got the lock, so its holder is gone; remove the leftover file.
        path.unlink(missing_ok=True)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    logger.info("Job manager %s is no longer running", owner)
    return False


def recover_orphans(store: RunStore, owner: str) -> None:
    """Take over the runs a dead manager left active: its RUNNING runs become INTERRUPTED (or
    CANCELLED, if a stop had been asked for), and its QUEUED runs are adopted by ``owner``.

    The runs of a manager that is still alive (another server on the same store) are left alone.
    """
    alive: dict[str, bool] = {}
    for run_id, status, run_owner in store.lifecycle.active_runs():
        if run_owner == owner:
            continue
        if run_owner not in alive:
            alive[run_owner] = owner_is_alive(store.locks_dir, run_owner)
        if alive[run_owner]:
            continue
        if status == RunStatus.QUEUED:
            store.lifecycle.adopt(run_id, owner)
            continue
        final, message = stopped_status(store.lifecycle.cancel_requested(run_id))
        store.lifecycle.finish(run_id, final, message)
        logger.info("Run %s was left RUNNING by a stopped server; marked %s", run_id, final.value)
