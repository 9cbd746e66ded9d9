"""The life of a run as atomic updates of its row: QUEUED -> RUNNING -> final.

A RUNNING run may also go back to QUEUED, paused at an epoch end so that a run that has
never trained can start (``pause``); it keeps its ``started_at``, so it reads as paused.

Every transition is one conditional ``UPDATE ... WHERE status = ...``, so two
threads (or two managers on one store) can never both start a run, and a late
message from a worker can never overwrite a run that was already cancelled,
deleted or finished. ``owner`` is the job manager responsible for a run (see
``ae_core.service.owners``); only it dispatches the run and reacts to cancel requests.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from typing import Any, Iterable, Mapping

from ae_core.errors import RunNotFound
from ae_core.store.rows import number, whole
from ae_core.store.records import CANCELLED_BEFORE_START_MESSAGE, CANCELLED_MESSAGE, RunStatus, validate_run_id
from ae_core.store.sqlite_db import Database

_FINAL = tuple(s.value for s in RunStatus if not s.is_active)


def _placeholders(values: list[str]) -> str:
    return ",".join("?" * len(values))


def fair_order(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The order in which QUEUED runs are served: round-robin across the students who queued them.

    A waiting run's rank is how many of its student's own runs were ahead of it: queued
    before it and still waiting, training, or ended only after it was queued. Lower ranks
    go first, and within a rank, first come, first served. So when thirty students press
    Train at once, each one's first run starts before anyone's second, however many runs one
    of them queued first; and a student whose run has ended and who presses Train again
    waits behind no one's second run. Within a rank, runs that have not started go before
    paused ones (which have had a time slice already), then first come, first served. Runs
    nobody is recorded as starting (the command line, older stores) count as one student's.

    Args:
        rows: ``runs`` rows with ``run_id``, ``status``, ``started_by``, ``queue_order``,
            ``created_at``, ``started_at`` and ``finished_at`` (runs that ended before every waiting run was
            queued may be left out).

    Returns:
        The QUEUED runs' ids, the next to start first.
    """
    by_student: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_student[row["started_by"]].append(row)
    ranked = []
    for own in by_student.values():
        for row in own:
            if row["status"] != "QUEUED":
                continue
            queued_at = _place(row)
            ahead = sum(1 for other in own if other is not row and _place(other) < queued_at
                        and (other["status"] in ("QUEUED", "RUNNING")
                             or (number(other["finished_at"]) or 0.0) > queued_at[0]))
            paused = row["started_at"] is not None
            ranked.append((ahead, paused, whole(row["queue_order"]) or 0, row["run_id"]))
    return [run_id for *_, run_id in sorted(ranked)]


def _place(row: Mapping[str, Any]) -> tuple[float, int]:
    # When a run joined the queue; a damaged time or order (not a number) counts as the earliest.
    return number(row["created_at"]) or 0.0, whole(row["queue_order"]) or 0


class RunLifecycle:
    """Status transitions and queue queries over the store's ``runs`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, run_id: str, owner: str, worker_pid: int | None) -> bool:
        """Move a QUEUED run to RUNNING; False if it was not QUEUED any more."""
        with self.db.transaction() as db:
            return db.execute(
                "UPDATE runs SET status = 'RUNNING', started_at = COALESCE(started_at, ?), owner = ?, worker_pid = ?, "
                "queue_order = NULL "
                "WHERE run_id = ? AND status = 'QUEUED'",
                (time.time(), owner, worker_pid, validate_run_id(run_id))).rowcount == 1

    def finish(self, run_id: str, status: RunStatus, message: str = "", result: Mapping[str, Any] | None = None,
               *, only_if: Iterable[RunStatus] = (RunStatus.RUNNING,)) -> bool:
        """Give a run its final ``status``.

        Returns:
            True if the run was in one of the ``only_if`` states (and changed).

        Raises:
            ValueError: if ``status`` is not a final one.
        """
        if status.is_active:
            raise ValueError(f"status must be one of {', '.join(_FINAL)}; got {status.value!r}")
        allowed = [s.value for s in only_if]
        with self.db.transaction() as db:
            return db.execute(
                "UPDATE runs SET status = ?, message = ?, result = COALESCE(?, result), finished_at = ?, "
                f"queue_order = NULL WHERE run_id = ? AND status IN ({_placeholders(allowed)})",
                (status.value, message, json.dumps(dict(result)) if result is not None else None, time.time(),
                 validate_run_id(run_id), *allowed)).rowcount == 1

    def request_cancel(self, run_id: str) -> RunStatus:
        """Cancel a QUEUED run at once, or flag a RUNNING one for its manager to stop.

        Returns:
            The run's status after the call (CANCELLED, or RUNNING until its
            manager has stopped it, or the final status it already had).

        Raises:
            RunNotFound: for an unknown run.
        """
        validate_run_id(run_id)
        now = time.time()
        with self.db.transaction() as db:
            # A paused run (QUEUED, but it has trained) is cancelled at once too, as having trained.
            db.execute("UPDATE runs SET status = 'CANCELLED', finished_at = ?, queue_order = NULL, "
                       "message = CASE WHEN started_at IS NULL THEN ? ELSE ? END WHERE run_id = ? AND status = 'QUEUED'",
                       (now, CANCELLED_BEFORE_START_MESSAGE, CANCELLED_MESSAGE, run_id))
            db.execute("UPDATE runs SET cancel_requested_at = COALESCE(cancel_requested_at, ?) "
                       "WHERE run_id = ? AND status = 'RUNNING'", (now, run_id))
            row = db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"No run with id {run_id}.")
        return RunStatus(row[0])

    def cancel_requested(self, run_id: str) -> bool:
        """True if someone asked to cancel this run."""
        row = self.db.connection().execute("SELECT cancel_requested_at FROM runs WHERE run_id = ?",
                                           (validate_run_id(run_id),)).fetchone()
        return row is not None and row[0] is not None

    def requeue(self, run_id: str, owner: str | None, allowed: Iterable[RunStatus]) -> bool:
        """Queue an ended run again, at the back, keeping its id and metrics (for resume).

        Returns:
            True if the run was in one of the ``allowed`` states.
        """
        states = [s.value for s in allowed]
        with self.db.transaction() as db:
            return db.execute(
                "UPDATE runs SET status = 'QUEUED', message = '', started_at = NULL, finished_at = NULL, "
                "cancel_requested_at = NULL, owner = ?, "
                "queue_order = (SELECT COALESCE(MAX(queue_order), 0) + 1 FROM runs) "
                f"WHERE run_id = ? AND status IN ({_placeholders(states)})",
                (owner, validate_run_id(run_id), *states)).rowcount == 1

    def pause(self, run_id: str, owner: str) -> bool:
        """Put a RUNNING run that paused at an epoch end back in the queue, at the back.

        Returns:
            False if it was not RUNNING, or someone asked to cancel it (then it must end instead).
        """
        with self.db.transaction() as db:
            return db.execute(
                "UPDATE runs SET status = 'QUEUED', owner = ?, worker_pid = NULL, "
                "queue_order = (SELECT COALESCE(MAX(queue_order), 0) + 1 FROM runs) "
                "WHERE run_id = ? AND status = 'RUNNING' AND cancel_requested_at IS NULL",
                (owner, validate_run_id(run_id))).rowcount == 1

    def never_started_waiting(self, owner: str) -> int:
        """How many of this owner's QUEUED runs are waiting to start (new or resumed; a paused run is not)."""
        return int(self.db.connection().execute(
            "SELECT COUNT(*) FROM runs WHERE status = 'QUEUED' AND owner = ? AND started_at IS NULL",
            (owner,)).fetchone()[0])

    def service_order(self, owner: str | None = None) -> list[str]:
        """The QUEUED runs (only ``owner``'s if given) in the order they will start (``fair_order``)."""
        found = self.db.connection().execute(
            "SELECT run_id, status, owner, started_by, queue_order, created_at, started_at, finished_at FROM runs "
            "WHERE status IN ('QUEUED', 'RUNNING') OR finished_at > (SELECT MIN(created_at) FROM runs "
            "WHERE status = 'QUEUED')").fetchall()
        owners = {row["run_id"]: row["owner"] for row in found}
        return [run_id for run_id in fair_order(found) if owner is None or owners[run_id] == owner]

    def queued_run_ids(self, owner: str) -> list[str]:
        """This owner's QUEUED runs, the next to start first (round-robin across students: ``fair_order``)."""
        return self.service_order(owner)

    def queued_count(self, started_by: str | None, connection: sqlite3.Connection | None = None) -> int:
        """How many runs ``started_by`` has QUEUED (in ``connection``'s transaction, if given)."""
        return int((connection or self.db.connection()).execute(
            "SELECT COUNT(*) FROM runs WHERE status = 'QUEUED' AND started_by IS ?", (started_by,)).fetchone()[0])

    def running_run_ids(self, owner: str) -> list[str]:
        """This owner's RUNNING runs (its supervisor finishes those that no worker runs)."""
        return [row[0] for row in self.db.connection().execute(
            "SELECT run_id FROM runs WHERE status = 'RUNNING' AND owner = ?", (owner,))]

    def cancel_requests(self, owner: str) -> list[str]:
        """This owner's RUNNING runs that someone asked to cancel."""
        return [row[0] for row in self.db.connection().execute(
            "SELECT run_id FROM runs WHERE status = 'RUNNING' AND owner = ? AND cancel_requested_at IS NOT NULL",
            (owner,))]

    def active_runs(self) -> list[tuple[str, RunStatus, str]]:
        """(run_id, status, owner) of every QUEUED or RUNNING run ('' for no owner)."""
        return [(row[0], RunStatus(row[1]), row[2] or "") for row in self.db.connection().execute(
            "SELECT run_id, status, owner FROM runs WHERE status IN ('QUEUED', 'RUNNING')")]

    def adopt(self, run_id: str, owner: str) -> bool:
        """Take over a QUEUED run whose manager is gone."""
        with self.db.transaction() as db:
            return db.execute("UPDATE runs SET owner = ? WHERE run_id = ? AND status = 'QUEUED'",
                              (owner, validate_run_id(run_id))).rowcount == 1
