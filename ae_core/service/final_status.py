"""A run's final status: the one write of the job service that must not be lost.

If the store cannot take it (a full disk: "database or disk is full"), it is kept and written
again until the store can. And a RUNNING run of this manager that no live worker runs is over,
whatever happened to its last words, so it is finished on the supervisor's next sweep.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Callable

from ae_core.store import RunStatus, RunStore, stopped_status

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 0.5


class FinalStatuses:
    """Writes runs' final statuses for the supervisor (its thread only), retrying those the store refused.

    Args:
        store: the run store.
        owner: the owning manager's id; only its runs are swept.
    """

    def __init__(self, store: RunStore, owner: str) -> None:
        self.store, self.owner = store, owner
        # Final-status writes the store refused, by run: retried until one succeeds.
        self.unwritten: dict[str, Callable[[], object]] = {}
        self._next_sweep = 0.0

    def write(self, run_id: str, write: Callable[[], object]) -> None:
        """Give a run its final status with ``write``; keep it to retry if the store cannot take it now.

        A write that fails for another reason (an end event the store cannot hold) is not retried
        as it is: the run is failed with that reason instead.
        """
        try:
            write()
        except sqlite3.OperationalError as error:  # a full disk or a locked database: it may pass
            if run_id not in self.unwritten:
                logger.warning("Run %s: its final status cannot be written now (%s); retrying", run_id, error)
            self.unwritten[run_id] = write
        except Exception as error:  # noqa: BLE001 (the run must still end)
            logger.exception("Run %s: could not record how it ended", run_id)
            reason = f"The run ended, but how could not be recorded: {type(error).__name__}: {error}"
            self.unwritten[run_id] = lambda: self.store.lifecycle.finish(run_id, RunStatus.FAILED, reason)
        else:
            self.unwritten.pop(run_id, None)

    def sweep(self, trained: set[str]) -> None:
        """Finish this manager's RUNNING runs that no live worker trains (``trained``), about twice a second.

        Such a run is over: its end event or its worker's death was seen but could not be
        written (it is written now), or nothing of its end arrived (it stopped: ``stopped_status``).
        """
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        running = set(self.store.lifecycle.running_run_ids(self.owner))
        for run_id in set(self.unwritten) - running:  # ended meanwhile (deleted, say)
            del self.unwritten[run_id]
        for run_id in running - trained:
            self.write(run_id, self.unwritten.get(run_id) or self.stopped_writer(run_id))

    def stopped_writer(self, run_id: str) -> Callable[[], object]:
        """What ends a run that stopped without a word: ``stopped_status`` as of when it is written."""
        lifecycle = self.store.lifecycle
        return lambda: lifecycle.finish(run_id, *stopped_status(lifecycle.cancel_requested(run_id)))
