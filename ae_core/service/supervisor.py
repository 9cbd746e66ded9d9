"""The job service's supervisor: one thread that owns the worker processes.

It waits on every worker's event pipe and process sentinel at once (plus a
wake-up pipe that the manager's public methods write to), and in each turn:
writes the events that arrived to the store through a ``StoreSink``; reaps
dead workers, marking their runs INTERRUPTED (or CANCELLED, if a cancel was
pending); finishes its RUNNING runs that no live worker runs (see below); stops
cancelled runs, politely first and by killing the worker after a grace period;
starts queued runs on idle warm workers in the queue's order (round-robin across
students: ``fair_order``); while runs wait that have not started, asks running ones to
pause at their next epoch end (time-slicing: ``ae_core.service.slicing``); and starts
workers that are needed, up to ``max_concurrent``. Keeping all process handling in this
one thread means no locks around the pool, which is either executor's
(``ae_core.service.executors``: local worker processes or Ray actors).

A run's final status is the one write that must not be lost: ``FinalStatuses``
retries it until the store takes it, and finishes the RUNNING runs that no live
worker trains (``ae_core.service.final_status``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from ae_core.errors import ExecutorUnavailable
from ae_core.service.final_status import FinalStatuses
from ae_core.service.sinks import StoreSink
from ae_core.service.pool import WorkerHandle, WorkerInfo, WorkerPool
from ae_core.service.slicing import workers_to_pause
from ae_core.service.start_failures import StartFailures
from ae_core.store import CONFIG_FILENAME, RunStatus, RunStore, stopped_status
from ae_core.store.disk import disk_problem, unwritable_message
from ae_core.store.rows import describe
from ae_core.training.events import FAILED, PAUSED, end_event

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5


class Supervisor:
    """Runs a store owner's queued runs on a pool of spawned workers.

    Args:
        store: the run store.
        owner: the owning manager's id; only its runs are dispatched here.
        pool: the workers' executor: a local ``WorkerPool`` or a ``RayPool`` (``ae_core.service.executors``).
        max_concurrent: the most workers (so runs) at once; None follows the pool's ``capacity()``.
        warm_workers: workers kept started even when idle.
        cancel_grace_seconds: how long a stop request may take before the worker is killed.
    """

    def __init__(self, store: RunStore, owner: str, pool: WorkerPool, *, max_concurrent: int | None,
                 warm_workers: int, cancel_grace_seconds: float) -> None:
        self.store = store
        self.owner = owner
        self._max_concurrent = max_concurrent
        self.warm_workers = warm_workers
        self.cancel_grace_seconds = cancel_grace_seconds
        self._pool = pool
        self._sink = StoreSink(store)
        self._lock = threading.Lock()
        self._start_failures = StartFailures()
        self._stopping = threading.Event()
        self._finals = FinalStatuses(store, owner)
        # Changes asked for by run, field -> value, until handed to the run's worker (``_hand_over_changes``).
        self._changes: dict[str, dict[str, float]] = {}
        # Runs stopped because the disk refused their events, with the message they fail with.
        self._unwritable: dict[str, str] = {}
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._thread = threading.Thread(target=self._supervise, name="ae-lab-supervisor", daemon=True)

    def start(self) -> None:
        """Start the thread; its first turn starts the warm workers (they import TensorFlow in the background).

        Starting them there, not here, keeps a slow or unreachable Ray cluster from holding up the server.
        """
        self._thread.start()

    @property
    def max_concurrent(self) -> int:
        """The most runs at once: as set, else what the pool's machines can run (at least the warm workers)."""
        if self._max_concurrent is not None:
            return self._max_concurrent
        return max(self.warm_workers, 1, self._pool.capacity() or 0)

    def problem(self) -> str | None:
        """Why no run can train now (the workers cannot start: an unreachable cluster, say), or None."""
        return self._start_failures.problem()

    def wake(self) -> None:
        """Make the supervisor look at the store now (new run, cancel request). Thread-safe."""
        try:
            os.write(self._wake_write, b"!")
        except OSError:
            pass  # the pipe is full (a wake-up is pending anyway) or already closed

    def request_change(self, run_id: str, field: str, value: float) -> None:
        """Pass a change to the worker of a RUNNING run, which applies it at its next batch. Thread-safe.

        A change its run no longer trains to take (it ended or paused meanwhile) is dropped.
        """
        with self._lock:
            self._changes.setdefault(run_id, {})[field] = value
        self.wake()

    def allow_retry(self) -> None:
        """After workers failed to start, allow one more try (called on each submit)."""
        self._start_failures.allow_retry()
        self.wake()

    def workers(self) -> list[WorkerInfo]:
        return self._pool.infos()

    def stop(self, timeout: float) -> None:
        """Stop running jobs (they become INTERRUPTED), make the workers exit, end the thread."""
        self._stopping.set()
        self.wake()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            os.close(self._wake_read)
            os.close(self._wake_write)

    def _supervise(self) -> None:
        first = True
        while not self._stopping.is_set():
            try:
                self._step(0.0 if first else POLL_SECONDS)  # the first turn starts the warm workers at once
                first = False
                if not self._stopping.is_set():
                    self._finals.sweep({w.run_id for w in self._pool.workers if w.run_id})
                    self._apply_cancels()
                    self._hand_over_changes()
                    self._dispatch()
            except Exception:  # noqa: BLE001 (the supervisor must outlive any one bad event)
                logger.exception("Job supervisor error; carrying on")
                time.sleep(POLL_SECONDS)
        try:
            self._stop_workers()
        except Exception:  # noqa: BLE001
            logger.exception("Error while stopping the training workers")

    def _step(self, timeout: float) -> None:
        """Wait for messages or deaths, then handle them."""
        ready = self._pool.wait([self._wake_read], timeout)
        if self._wake_read in ready:
            os.read(self._wake_read, 4096)
        for worker in list(self._pool.workers):
            if worker.events in ready or worker.process.sentinel in ready or worker.closed:
                for message in self._pool.receive(worker):
                    self._on_message(worker, message)
                if (worker.closed or worker.process.sentinel in ready) and self._pool.is_dead(worker):
                    self._on_death(worker)

    def _on_message(self, worker: WorkerHandle, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "event":
            run_id, event = message[1], message[2]
            if run_id != worker.run_id:
                logger.warning("Worker %s sent an event for run %s, which it is not running", worker.pid, run_id)
                return
            if event.get("type") == "end":
                unwritable = self._unwritable.pop(run_id, None)
                if unwritable is not None:  # the run stopped because its folder could not be written
                    event = end_event(FAILED, unwritable, None)
                if event.get("status") == PAUSED:
                    worker.paused_here.add(run_id)
                    self._finals.write(run_id, lambda: self._requeue_paused(run_id))
                else:
                    self._finals.write(run_id, lambda: self._sink.emit(run_id, event))
                return
            try:
                self._sink.emit(run_id, event)
            except Exception as error:  # noqa: BLE001 (one unwritable event must not stop the server)
                problem = disk_problem(error)
                if problem is None:
                    logger.exception("Run %s: could not record a %r event", run_id, event.get("type"))
                elif run_id not in self._unwritable:
                    # A full or read-only disk: training on would record nothing, so the run stops
                    # and fails with the reason; what it wrote before stays.
                    logger.warning("Run %s: its events cannot be written (%s); stopping it", run_id, problem)
                    self._unwritable[run_id] = unwritable_message(self.store.folder(run_id).path, problem)
                    self._pool.request_stop(worker)
        elif kind == "done":
            worker.run_id, worker.stop_requested_at = None, None
        elif kind == "retiring":
            worker.retiring = True
        elif kind == "ready":
            worker.ready = True
            self._start_failures.started()
        elif kind == "startup_failed":
            self._start_failures.explain(str(message[1]))

    def _on_death(self, worker: WorkerHandle, *, shutting_down: bool = False) -> None:
        code, pid, run_id, was_ready = worker.process.exitcode, worker.pid, worker.run_id, worker.ready
        how = self._pool.exit_words(worker)
        self._pool.remove(worker)
        expected = shutting_down or (worker.retiring and code == 0)
        logger.log(logging.INFO if expected else logging.WARNING, "Training worker %s stopped (%s)", pid, how)
        if not was_ready and not shutting_down:
            self._start_failures.failed(how)
        if run_id is None:
            return
        cancelled = self.store.lifecycle.cancel_requested(run_id)
        # A worker stopped by our own shutdown is an orderly stop, not a crash.
        status, message = stopped_status(cancelled, worker_exit=None if shutting_down and not cancelled else how)
        unwritable = self._unwritable.pop(run_id, None)
        if unwritable is not None:
            status, message = RunStatus.FAILED, unwritable
        self._finals.write(run_id, lambda: self.store.lifecycle.finish(run_id, status, message))

    def _apply_cancels(self) -> None:
        busy = {w.run_id: w for w in self._pool.workers if w.busy}
        if not busy:
            return
        for run_id in self.store.lifecycle.cancel_requests(self.owner):
            worker = busy.get(run_id)
            if worker is None:
                continue
            self._pool.request_stop(worker)
            if time.monotonic() - (worker.stop_requested_at or time.monotonic()) > self.cancel_grace_seconds:
                logger.warning("Run %s did not stop within %.0f s; killing worker %s", run_id,
                               self.cancel_grace_seconds, worker.pid)
                self._pool.kill(worker)

    def _hand_over_changes(self) -> None:
        with self._lock:
            changes, self._changes = self._changes, {}
        for worker in self._pool.workers:
            for field, value in changes.get(worker.run_id or "", {}).items():
                self._pool.post_change(worker, field, value)

    def _requeue_paused(self, run_id: str) -> None:
        """A run paused at an epoch end goes back in the queue; one asked to cancel meanwhile ends instead."""
        if not self.store.lifecycle.pause(run_id, self.owner):
            self._finals.stopped_writer(run_id)()

    def _dispatch(self) -> None:
        """Start queued runs on idle ready workers, and start workers that are needed."""
        queued = self.store.lifecycle.queued_run_ids(self.owner)
        problem = self._start_failures.problem()
        if problem is not None:
            for run_id in queued:
                self.store.lifecycle.finish(run_id, RunStatus.FAILED, problem, only_if=(RunStatus.QUEUED,))
            return
        idle = [w for w in self._pool.workers if w.available]
        for worker in self._pool.workers:  # forget paused runs that were cancelled or deleted meanwhile
            worker.paused_here &= set(queued)
        for run_id in queued:
            if not idle:
                break
            # The config is read before the run is claimed: a damaged one fails the run
            # straight from QUEUED, and the worker stays idle for the next run.
            try:
                job = self._job_of(run_id)
            except Exception as error:  # noqa: BLE001 (RecursionError, OverflowError...: any damage)
                reason = describe(error).removeprefix(f"{CONFIG_FILENAME} is unreadable: ")
                self.store.lifecycle.finish(run_id, RunStatus.FAILED, f"The run's {CONFIG_FILENAME} is unreadable: "
                                            f"{reason}", only_if=(RunStatus.QUEUED,))
                continue
            worker = next((w for w in idle if run_id in w.paused_here), idle[0])
            if not self.store.lifecycle.claim(run_id, self.owner, worker.pid):
                continue  # cancelled meanwhile
            idle.remove(worker)
            for other in self._pool.workers:
                other.paused_here.discard(run_id)
            try:
                self._pool.dispatch(worker, run_id, *job)
            except OSError:  # the worker died just now; its death is handled on the next step
                worker.run_id = None
                self.store.lifecycle.requeue(run_id, self.owner, (RunStatus.RUNNING,))
        waiting = len(self.store.lifecycle.queued_run_ids(self.owner)) if queued else 0
        if waiting:  # time-slicing (``slicing``): a run not started yet gets a worker at the next epoch end
            for worker in workers_to_pause(self._pool.workers, max_workers=self.max_concurrent,
                                           waiting_new=self.store.lifecycle.never_started_waiting(self.owner)):
                self._pool.request_pause(worker)
        # A retiring worker is replaced as soon as it says so, not when it is gone.
        staying = [w for w in self._pool.workers if not w.retiring]
        busy = sum(w.busy for w in staying)
        wanted = min(self.max_concurrent, max(self.warm_workers, busy + waiting))
        try:
            for _ in range(wanted - len(staying)):
                self._pool.spawn()
        except ExecutorUnavailable as error:  # no worker can start at all: say why, once, to every queued run
            logger.warning("%s", error)
            self._start_failures.give_up(str(error))

    def _job_of(self, run_id: str) -> tuple[dict[str, Any], str, str | None]:
        """A queued run's config (as a dict), folder and source model, for ``WorkerPool.dispatch``."""
        config = self.store.read_config(run_id)
        source = config.source_run_id
        return (config.to_dict(), str(self.store.folder(run_id).path),
                str(self.store.folder(source).model_path) if source else None)

    def _stop_workers(self) -> None:
        """Shutdown: stop running jobs politely, then make every worker exit."""
        for worker in self._pool.workers:
            self._pool.request_stop(worker)
        deadline = time.monotonic() + self.cancel_grace_seconds
        while any(w.busy for w in self._pool.workers) and time.monotonic() < deadline:
            self._step(0.1)
        for worker in list(self._pool.workers):
            if worker.ready:
                self._pool.ask_to_exit(worker)
            else:  # still importing TensorFlow, and never given a job: nothing to lose
                self._pool.kill(worker)
        deadline = time.monotonic() + 5.0
        for worker in list(self._pool.workers):
            worker.process.join(max(0.0, deadline - time.monotonic()))
            self._pool.kill(worker)  # a no-op for a worker that exited
            for message in self._pool.receive(worker):
                self._on_message(worker, message)
            self._on_death(worker, shutting_down=True)
