"""The worker processes: spawning, talking to, stopping and reaping them.

Only the job manager's supervisor thread uses a ``WorkerPool``, so it needs no
locks of its own. Each worker has two one-way pipes (jobs in, events out) and
a shared integer for stop requests. A pipe per worker, rather than one shared
queue, matters for ``kill -9``: a process killed while writing to a shared
queue can leave it locked or corrupt for everyone, while a dead worker's own
pipe just reports end-of-file.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import itertools
import logging
import multiprocessing
import pickle
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ae_core.service.change_slots import CHANGE_SLOTS, clear_changes, post_change
from ae_core.service.worker import Job, worker_main
from ae_core.service.worker_setup import WorkerSettings

logger = logging.getLogger(__name__)

JOIN_SECONDS = 5.0
_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_not_reimported() -> Iterator[None]:
    """Spawn children without re-running the parent's ``__main__`` script.

    By default a spawned child re-executes the parent's main script (for the
    app, the ``streamlit`` launcher; for a script, the script itself) so that
    objects defined there can be unpickled. Workers need nothing from it, and
    re-running it costs time and memory and breaks scripts that lack an
    ``if __name__ == "__main__"`` guard. A main-module spec named ``__main__``
    is multiprocessing's documented signal to leave ``__main__`` alone (it is
    what ``python -m package`` gives), so it is set while the child starts.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    with _MAIN_LOCK:
        saved = getattr(main, "__spec__", None)
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
        try:
            yield
        finally:
            main.__spec__ = saved


@contextlib.contextmanager
def _ctrl_c_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while a worker starts, so that the worker starts with it blocked.

    A spawned child inherits its parent thread's signal mask, and it keeps SIGINT blocked until
    ``worker_main`` has set it to be ignored: a Ctrl-C while a worker is still starting up cannot
    kill it with a traceback either. A SIGINT meant for this process meanwhile stays pending
    (or goes to another thread) and is not lost.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@dataclass(eq=False)
class WorkerHandle:
    """The manager's view of one worker process."""

    process: BaseProcess
    jobs: Connection
    events: Connection
    stop_token: Any
    # Changes asked for while its run trains (``worker.post_change``): a shared array with its lock.
    changes: Any = None
    ready: bool = False
    retiring: bool = False
    run_id: str | None = None
    token: int = 0
    stop_requested_at: float | None = None
    pause_requested: bool = False
    # Runs that paused on this worker: it keeps their models in memory, so they go on here if it is free.
    paused_here: set[str] = field(default_factory=set)
    closed: bool = False
    messages: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def busy(self) -> bool:
        return self.run_id is not None

    @property
    def available(self) -> bool:
        """Ready for a job now."""
        return self.ready and not self.retiring and self.run_id is None


@dataclass(frozen=True)
class WorkerInfo:
    """A snapshot of one worker, for status pages, tests and benchmarks."""

    pid: int | None
    ready: bool
    run_id: str | None


class WorkerPool:
    """Spawned training workers.

    Args:
        settings: passed to every worker (thread budget, trainer, warm-up).
    """

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.workers: list[WorkerHandle] = []
        self._context = multiprocessing.get_context("spawn")
        self._tokens = itertools.count(1)

    def spawn(self) -> WorkerHandle:
        """Start one worker; it reports ``ready`` once TensorFlow is imported."""
        job_reader, job_writer = self._context.Pipe(duplex=False)
        event_reader, event_writer = self._context.Pipe(duplex=False)
        stop_token = self._context.RawValue("q", 0)
        changes = self._context.Array("d", CHANGE_SLOTS)
        process = self._context.Process(target=worker_main, name="ae-lab-worker", daemon=True,
                                        args=(self.settings, job_reader, event_writer, stop_token, changes))
        with _main_not_reimported(), _ctrl_c_blocked():
            process.start()
        # Close our copies of the child's ends, so that its death shows as EOF.
        job_reader.close()
        event_writer.close()
        worker = WorkerHandle(process=process, jobs=job_writer, events=event_reader, stop_token=stop_token,
                              changes=changes)
        self.workers.append(worker)
        logger.info("Started training worker %s", process.pid)
        return worker

    def capacity(self) -> int | None:
        """How many workers the machines behind this pool can run at once, when the pool knows (else None)."""
        return None

    def exit_words(self, worker: WorkerHandle) -> str:
        """How a worker that is no longer alive ended, in words for a run's message (before ``remove``)."""
        code = worker.process.exitcode
        return f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"

    def infos(self) -> list[WorkerInfo]:
        return [WorkerInfo(w.pid, w.ready, w.run_id) for w in list(self.workers)]

    def wait(self, extra: list[Any], timeout: float) -> set[Any]:
        """Block until a worker sends something, a worker dies, or an ``extra`` object is readable."""
        objects = list(extra)
        for worker in self.workers:
            objects.append(worker.process.sentinel)
            if not worker.closed:
                objects.append(worker.events)
        return set(wait(objects, timeout))

    def receive(self, worker: WorkerHandle) -> list[tuple[Any, ...]]:
        """Every message the worker has sent so far; marks it closed at end-of-file."""
        messages = []
        while not worker.closed:
            try:
                if not worker.events.poll():
                    break
                messages.append(worker.events.recv())
            except (EOFError, OSError, ValueError, pickle.UnpicklingError) as error:
                # A worker killed mid-send leaves a truncated message; it is dropped.
                if not isinstance(error, EOFError):
                    logger.warning("Worker %s: unreadable message dropped (%s)", worker.pid, error)
                worker.closed = True
        return messages

    def is_dead(self, worker: WorkerHandle) -> bool:
        """True once the process has exited (reaping it); a worker whose pipe closed is waited for."""
        if worker.closed:
            worker.process.join(JOIN_SECONDS)
            if worker.process.is_alive():
                logger.warning("Worker %s closed its pipe but did not exit; killing it", worker.pid)
                self.kill(worker)
        return not worker.process.is_alive()

    def dispatch(self, worker: WorkerHandle, run_id: str, config: dict[str, Any], run_dir: str,
                 source_model: str | None) -> None:
        """Send a job to an idle worker.

        Raises:
            OSError: if the worker's pipe is broken (it died); the caller requeues nothing,
                because the death is handled as an interruption of this run.
        """
        worker.token = next(self._tokens)
        worker.run_id = run_id
        worker.stop_requested_at = None
        worker.pause_requested = False
        self._send_job(worker, Job(run_id=run_id, token=worker.token, config=config, run_dir=run_dir,
                                   source_model=source_model))

    def _send_job(self, worker: WorkerHandle, job: Job) -> None:
        """Hand ``job`` to the worker, its changes cleared (``clear_changes``)."""
        clear_changes(worker.changes)
        worker.jobs.send(job)

    def request_stop(self, worker: WorkerHandle) -> None:
        """Ask the worker's current job to stop at its next batch (idempotent; overrides a pause)."""
        if worker.busy and worker.stop_requested_at is None:
            self._send_stop(worker, worker.token)
            worker.stop_requested_at = time.monotonic()

    def _send_stop(self, worker: WorkerHandle, token: int) -> None:
        """Tell the worker: stop the job of dispatch ``token`` (its negative: pause it at its epoch end)."""
        worker.stop_token.value = token

    def post_change(self, worker: WorkerHandle, field: str, value: float) -> None:
        """Hand a change of its current run to the worker; it applies it at its next batch."""
        if worker.busy:
            post_change(worker.changes, field, value)

    def request_pause(self, worker: WorkerHandle) -> None:
        """Ask the worker's current job to pause at its next epoch end, checkpointed (idempotent)."""
        if worker.busy and worker.stop_requested_at is None and not worker.pause_requested:
            self._send_stop(worker, -worker.token)
            worker.pause_requested = True

    def kill(self, worker: WorkerHandle) -> None:
        """Stop a worker at once (SIGKILL) and reap it."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(JOIN_SECONDS)

    def remove(self, worker: WorkerHandle) -> None:
        """Forget a dead worker and close its pipes."""
        if worker in self.workers:
            self.workers.remove(worker)
        for connection in (worker.jobs, worker.events):
            if connection is not None:  # a Ray worker has no jobs pipe
                connection.close()
        if not worker.process.is_alive():
            worker.process.close()

    def ask_to_exit(self, worker: WorkerHandle) -> None:
        """Tell an idle worker to exit after its current job (if any)."""
        try:
            worker.jobs.send(None)
        except OSError:
            pass  # already gone
