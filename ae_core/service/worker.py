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
import importlib
import itertools
import logging
import os
import signal
import sys
import traceback
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from ae_core.changes import CHANGEABLE
from ae_core.config import TrainConfig
from ae_core.errors import AELabError
from ae_core.export.tensorboard import TensorBoardSink
from ae_core.service.sinks import EventSink, PipeSink, SinkClosed
from ae_core.store import PARTIAL_PREFIX, RunFolder
from ae_core.store.disk import disk_problem, unwritable_message
from ae_core.training import FAILED, FINISHED, PAUSED, end_event, train
from ae_core.training.events import never_stop

logger = logging.getLogger(__name__)

# A few batches of the default run on the bundled sample: enough to pay Keras's one-time
# costs (first graph trace, dataset read) before a user is waiting, and to leave the default
# setup's model traced for the first runs to reuse (``ae_core.training.warm``).
WARMUP_CONFIG = replace(TrainConfig(), num_epochs=1, train_limit=64)

Trainer = Callable[..., Any]
# Training is throughput work and page runs are a person waiting: the workers (and the
# server's own background warm-up) run this much nicer than the server, so the server's
# threads get a core as soon as they want one and training takes every idle cycle. With
# two 1-thread workers on the 2-core machine, they otherwise take both cores from the
# server at equal weight. Training alone on the machine runs as fast as before.
BACKGROUND_NICENESS = 10


# Changes asked for while a run trains travel in a shared array of doubles, two slots per field of
# ``CHANGEABLE``: how many times it was asked (a counter the worker compares with what it has
# taken), and the value last asked. Read under the array's lock at each poll (a microsecond).
CHANGE_SLOTS = 2 * len(CHANGEABLE)


def post_change(changes: Any, field: str, value: float) -> None:
    """Write a change of ``field`` into a worker's shared change array (the manager's side)."""
    slot = 2 * CHANGEABLE.index(field)
    with changes.get_lock():
        changes[slot + 1] = float(value)
        changes[slot] += 1.0


class ChangeInbox:
    """The worker's side of the shared change array: each call returns the changes posted since the last.

    Two changes of one field between polls leave the last: it is the one in force from the next batch.
    """

    def __init__(self, changes: Any) -> None:
        self.changes = changes
        self.taken = [0.0] * len(CHANGEABLE)

    def __call__(self) -> list[tuple[str, float]]:
        with self.changes.get_lock():
            values = self.changes[:]
        new = []
        for index, field in enumerate(CHANGEABLE):
            if values[2 * index] != self.taken[index]:
                self.taken[index] = values[2 * index]
                new.append((field, values[2 * index + 1]))
        return new


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker runs: its thread budget, its trainer, whether to warm up,
    and after how many jobs it retires (TensorFlow keeps about 15 MB per run
    that ``clear_session`` does not return, so a fresh process is cheaper)."""

    threads_per_run: int = 1
    # ``train`` itself, or another function with its signature named as "module:function"
    # (the seam tests use for a fast fake trainer), imported in the worker process.
    trainer: Trainer | str = train
    warmup: bool = True
    jobs_per_worker: int = 20
    # Write each run's TensorBoard logs (``ae_core.export.tensorboard``); only with the real
    # trainer, so that a fake trainer's worker (in tests) never loads TensorFlow for them.
    tensorboard: bool = True


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


def configure_threads(threads: int) -> None:
    """Limit the math libraries to ``threads`` threads; call before TensorFlow is imported.

    N concurrent runs with T threads each should use N*T cores, not N*cores,
    or they slow each other down by oversubscription.
    """
    threads = max(1, int(threads))
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    # Inter-op threads only run independent ops side by side; two are plenty
    # for these sequential models and avoid starving a blocking op.
    os.environ["TF_NUM_INTEROP_THREADS"] = str(min(2, threads + 1))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_trainer(trainer: Trainer | str) -> Trainer:
    """The trainer itself, or the function a ``"package.module:function"`` string names, imported.

    Raises:
        ValueError: if a string is not of that form or names nothing callable.
    """
    if not isinstance(trainer, str):
        return trainer
    module_name, _, function_name = trainer.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"trainer must be 'package.module:function'; got {trainer!r}")
    function = getattr(importlib.import_module(module_name), function_name, None)
    if not callable(function):
        raise ValueError(f"trainer must name a function; {trainer!r} is not callable")
    return function


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
    _lower_priority()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    configure_threads(settings.threads_per_run)
    parent = os.getppid()
    try:
        trainer = load_trainer(settings.trainer)
        if trainer is train:
            # Import TensorFlow now, while no one waits, rather than at the first run.
            import ae_core.training.autoencoder  # noqa: F401
            from ae_core.training import warm

            warm.reuse_traced_models()  # this process runs one run at a time: see ``warm``
        _pin_tensorflow_threads(settings.threads_per_run)
        if settings.warmup:
            _warm_up(trainer)
        events.send(("ready", os.getpid()))
    except Exception as error:  # noqa: BLE001 (reported to the manager, which stops respawning)
        logger.error("Worker could not start:\n%s", traceback.format_exc())
        with contextlib.suppress(OSError):
            events.send(("startup_failed", f"The training worker could not start: {type(error).__name__}: {error}"))
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
        job_sink = _tensorboard_sink(job, sink) if settings.tensorboard and trainer is train else sink
        try:
            status = run_job(job, trainer, job_sink, stop, pause, None if changes is None else ChangeInbox(changes))
            if retiring:  # announced first, so the manager never sends this worker another job
                events.send(("retiring",))
            events.send(("done", job.run_id))
        except (SinkClosed, OSError):
            return
        finally:
            if isinstance(job_sink, TensorBoardSink):
                job_sink.close()
        if retiring:
            return
        if status != PAUSED:  # a paused run's model stays in memory, to go on here (training.warm)
            _release_memory()


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


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # not on this OS, or not allowed: run as is
        os.nice(BACKGROUND_NICENESS)


def _pin_tensorflow_threads(threads: int) -> None:
    """Also set the thread budget through TensorFlow's API, which wins over the environment."""
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is None:
        return
    try:
        tensorflow.config.threading.set_intra_op_parallelism_threads(max(1, threads))
        tensorflow.config.threading.set_inter_op_parallelism_threads(min(2, max(1, threads) + 1))
    except RuntimeError:  # the runtime already started (the trainer ran ops at import): the env applies
        logger.info("TensorFlow was initialised before its threads could be set; using the environment's")


def _warm_up(trainer: Trainer) -> None:
    try:
        trainer(WARMUP_CONFIG, on_event=lambda event: None, should_stop=lambda: False)
    except Exception:  # noqa: BLE001 (a failed warm-up only costs speed)
        logger.warning("Worker warm-up failed; the first run will start cold:\n%s", traceback.format_exc())
    _release_memory()


def _release_memory() -> None:
    """Drop the finished run's models and graphs so a long-lived worker does not grow.

    ``clear_session`` frees Keras's global state (about 0.25 s). A full
    ``gc.collect`` would cost as much again and found nothing to collect in
    measurements, because reference counting already frees the run's objects.
    """
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
