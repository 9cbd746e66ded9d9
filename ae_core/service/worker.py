"""A training worker process: import TensorFlow once, then run jobs one by one.

The job manager starts ``worker_main`` with the multiprocessing *spawn*
context (a fresh interpreter: no forked TensorFlow state, no copied server
threads). The worker sets its thread budget, imports the trainer (and with it
TensorFlow), optionally warms it up on a tiny run, says ``ready``, and then
waits for jobs. Each job's events go to an ``EventSink``; that is the only way
anything leaves ``run_job``, so another transport needs only another sink.

Messages to the manager, on the events pipe:
``("ready", pid)``, ``("startup_failed", message)``, ``("event", run_id, event)``,
``("retiring",)`` (sent before the last ``done``) and ``("done", run_id)``. Messages from the manager, on the jobs pipe: a
``Job``, or None to exit.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from ae_core.config import TrainConfig
from ae_core.errors import AELabError
from ae_core.export.tensorboard import TensorBoardSink
from ae_core.service.change_slots import ChangeInbox
from ae_core.service.sinks import EventSink, PipeSink, SinkClosed
from ae_core.service.worker_setup import Trainer, WorkerSettings, release_memory, start_worker, startup_failure
from ae_core.store import PARTIAL_PREFIX, RunFolder
from ae_core.store.disk import disk_problem, unwritable_message
from ae_core.training import FAILED, FINISHED, PAUSED, end_event, train
from ae_core.training.events import never_stop

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One run for a worker. ``token`` is unique per dispatch, for stop requests.

    ``run_dir`` is the run's folder; ``source_model`` the ``model.keras`` of the autoencoder
    run a classifier fine-tunes (None otherwise). Both come from the store, which owns the
    layout, so a worker never builds another run's path.
    """

    run_id: str
    token: int
    config: dict[str, Any]
    run_dir: str
    source_model: str | None = None


def run_job(job: Job, trainer: Trainer, sink: EventSink, should_stop: Callable[[], bool],
            should_pause: Callable[[], bool] = never_stop,
            take_changes: Callable[[], list[tuple[str, float]]] | None = None) -> str:
    """Run one training job, sending every event to ``sink``. Never raises for a bad run.

    The trainer's own ``end`` event is held back until the final model is
    saved, so that a run is never FINISHED before its ``model.keras`` exists.
    A trainer that raises becomes a ``failed`` end with a readable message.

    Once the sink is closed (the server is gone), the trainer is stopped on the spot by
    ``SinkClosed`` raised from its ``on_event``: the epoch whose event was lost must not be
    checkpointed, or a resumed run would start past epochs the store never recorded. Events
    go out before the epoch's checkpoint, so raising there (Keras passes a callback's
    exception through unchanged) is what keeps the checkpoint from running ahead of the store.

    Returns:
        The final status: ``finished``, ``stopped``, ``failed`` or ``paused``.

    Raises:
        SinkClosed: if the receiver went away (the caller should exit).
    """
    held_end: dict[str, Any] = {}
    closed: list[SinkClosed] = []

    def on_event(event: dict[str, Any]) -> None:
        if event.get("type") == "end":
            held_end.update(event)
            return
        if closed:
            raise closed[0]
        try:
            sink.emit(job.run_id, event)
        except SinkClosed as error:
            closed.append(error)
            raise

    folder = RunFolder(Path(job.run_dir))
    try:
        # Nothing else trains this run now, so the half-written files of a save that a kill
        # interrupted (a checkpoint, the final model) can go before they confuse anyone.
        folder.remove_partials()
        config = TrainConfig.from_dict(job.config)
        options: dict[str, Any] = {}
        if job.source_model is not None:
            options["source_model"] = Path(job.source_model)
        if take_changes is not None:
            options["take_changes"] = take_changes
        # Resuming is always asked for: only a run that trained before has a checkpoint,
        # and the trainer starts afresh when there is none.
        result = trainer(config, on_event=on_event, should_stop=lambda: bool(closed) or should_stop(),
                         should_pause=should_pause, checkpoint_dir=folder.checkpoint.directory, resume=True,
                         **options)
        end = held_end or end_event(result.status, result.message, result.metrics)
        if end["status"] == FINISHED and getattr(result, "model", None) is not None:
            _save_model(result.model, folder.model_path)
    except SinkClosed:
        raise
    except Exception as error:  # noqa: BLE001 (any crash of a run is reported, not fatal to the worker)
        logger.error("Run %s failed:\n%s", job.run_id, traceback.format_exc())
        end = end_event(FAILED, _describe(error, folder.path), None)
    if closed:
        raise closed[0]
    sink.emit(job.run_id, end)
    return str(end["status"])


def _save_model(model: Any, path: Path) -> None:
    """Save an autoencoder bundle (with its config) or a plain Keras classifier, atomically."""
    partial = path.with_name(PARTIAL_PREFIX + path.name)
    if hasattr(model, "autoencoder"):
        from ae_core.models import save_autoencoder  # imported here: only real runs have a model

        save_autoencoder(model, partial)
    else:
        model.save(partial, overwrite=True)
    os.replace(partial, path)


def _describe(error: BaseException, run_dir: Path) -> str:
    problem = disk_problem(error)
    if problem is not None:  # a full or read-only disk: say where, and what to do
        return unwritable_message(run_dir, problem)
    if isinstance(error, (AELabError, ValueError)):
        return str(error)
    return f"Training crashed: {type(error).__name__}: {error}"


def train_job(job: Job, trainer: Trainer, sink: EventSink, settings: WorkerSettings, should_stop: Callable[[], bool],
              should_pause: Callable[[], bool], take_changes: Callable[[], list[tuple[str, float]]] | None) -> str:
    """``run_job`` with the worker's extras: the run's TensorBoard logs (real trainer only), and memory
    released afterwards (a paused run's model stays, to go on here: ``ae_core.training.warm``).

    Returns:
        The run's final status (``run_job``).

    Raises:
        SinkClosed: if the receiver went away.
    """
    job_sink = _tensorboard_sink(job, sink) if settings.tensorboard and trainer is train else sink
    try:
        status = run_job(job, trainer, job_sink, should_stop, should_pause, take_changes)
    finally:
        if isinstance(job_sink, TensorBoardSink):
            job_sink.close()
    if status != PAUSED:
        release_memory()
    return status


def worker_main(settings: WorkerSettings, jobs: Connection, events: Connection, stop_token: Any,
                changes: Any = None) -> None:
    """The worker process's main loop (the spawn target).

    Args:
        settings: thread budget, trainer, warm-up.
        jobs: receives ``Job`` objects, or None to exit.
        events: sends messages and events to the manager.
        stop_token: a shared integer; the current job stops when it equals the job's token.
        changes: the shared array of changes asked for while a job trains (``post_change``), or None.
    """
    _ignore_ctrl_c()
    parent = os.getppid()
    try:
        trainer = start_worker(settings)
        events.send(("ready", os.getpid()))
    except Exception as error:  # noqa: BLE001 (reported to the manager, which stops respawning)
        with contextlib.suppress(OSError):
            events.send(startup_failure(error))
        return
    sink = PipeSink(events)
    for jobs_done in itertools.count(1):
        try:
            job = jobs.recv()
        except (EOFError, OSError):
            return  # the manager is gone
        if job is None:
            return
        # An orphaned worker (its server killed) stops at the next batch. The token negated asks
        # for a pause at the next epoch end instead (``WorkerPool.request_pause``).
        stop = lambda token=job.token: stop_token.value == token or os.getppid() != parent  # noqa: E731
        pause = lambda token=job.token: stop_token.value == -token  # noqa: E731
        retiring = jobs_done >= settings.jobs_per_worker
        try:
            train_job(job, trainer, sink, settings, stop, pause, None if changes is None else ChangeInbox(changes))
            if retiring:  # announced first, so the manager never sends this worker another job
                events.send(("retiring",))
            events.send(("done", job.run_id))
        except (SinkClosed, OSError):
            return
        if retiring:
            return


def _tensorboard_sink(job: Job, sink: EventSink) -> EventSink:
    """``sink``, wrapped to also write the run's TensorBoard logs (a config that does not load is left
    to ``run_job``, which fails the run with its message)."""
    try:
        config = TrainConfig.from_dict(job.config)
    except ValueError:
        return sink
    return TensorBoardSink(sink, RunFolder(Path(job.run_dir)).tensorboard_dir, config)


def _ignore_ctrl_c() -> None:
    """Let the manager, not Ctrl-C, stop this worker.

    A terminal's Ctrl-C sends SIGINT to its whole process group, workers included. A worker
    that took it would die with a ``KeyboardInterrupt`` traceback, and its run would read as a
    crash; ignored, the manager (which gets it too) stops the run in order, INTERRUPTED and
    resumable, as for SIGTERM. The pool started this process with SIGINT blocked, so that
    none arrives before this point; it is unblocked once ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


