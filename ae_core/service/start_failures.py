"""Whether training workers can start at all, and if not, why, in words for a banner.

A worker that dies before it is ready counts as a failed start. After ``MAX_START_FAILURES``
in a row (or at once, when the executor says that none can start: an unreachable cluster),
the supervisor stops trying: queued runs fail with the reason and every page shows it
(``JobManager.problem``). Each new submit allows one more try, so a fixed cause heals itself.
"""

from __future__ import annotations

import threading

MAX_START_FAILURES = 3


class StartFailures:
    """The count of failed worker starts in a row, and the reason of the latest. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._reason = ""

    def started(self) -> None:
        """A worker is ready: the count starts again, and an earlier reason no longer holds."""
        with self._lock:
            self._count, self._reason = 0, ""

    def explain(self, reason: str) -> None:
        """The reason a worker gave while it failed to start (its start-up error)."""
        with self._lock:
            self._reason = reason

    def failed(self, how: str) -> None:
        """A worker died before it was ready (``how``: its exit in words, used if it gave no reason)."""
        with self._lock:
            self._count += 1
            self._reason = self._reason or f"The training worker could not start ({how})."

    def give_up(self, reason: str) -> None:
        """No worker can start at all (``ExecutorUnavailable``): stop trying, with this reason."""
        with self._lock:
            self._count, self._reason = MAX_START_FAILURES, reason

    def allow_retry(self) -> None:
        """One more try after giving up (a new submit)."""
        with self._lock:
            self._count = min(self._count, MAX_START_FAILURES - 1)

    def problem(self) -> str | None:
        """Why no worker can start, once the supervisor has given up; else None."""
        with self._lock:
            if self._count < MAX_START_FAILURES:
                return None
            return self._reason or "The training workers could not start."
