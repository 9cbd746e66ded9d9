"""How a training worker gets ready: its priority, thread budget, trainer and warm-up.

Shared by both executors' workers: the local worker process (``ae_core.service.worker``)
and the Ray actor (``ae_core.service.ray_worker``), so that a run trains the same way on both.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import traceback
from dataclasses import dataclass, replace
from typing import Any, Callable

from ae_core.config import TrainConfig
from ae_core.training import train

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


def start_worker(settings: WorkerSettings) -> Trainer:
    """Get this process ready to train: nicer priority, thread budget, the trainer imported and warmed up.

    Shared by the local worker process (``worker_main``) and the Ray actor (``ae_core.service.ray_worker``).

    Returns:
        The trainer.

    Raises:
        Exception: whatever stopped the trainer from loading (the caller reports it as ``startup_failed``).
    """
    _lower_priority()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    configure_threads(settings.threads_per_run)
    trainer = load_trainer(settings.trainer)
    if trainer is train:
        # Import TensorFlow now, while no one waits, rather than at the first run.
        import ae_core.training.autoencoder  # noqa: F401
        from ae_core.training import warm

        warm.reuse_traced_models()  # this process runs one run at a time: see ``warm``
    _pin_tensorflow_threads(settings.threads_per_run)
    if settings.warmup:
        _warm_up(trainer)
    return trainer


def startup_failure(error: BaseException) -> tuple[str, str]:
    """The ``startup_failed`` message for a worker that could not start (logged here with its traceback)."""
    logger.error("Worker could not start:\n%s", traceback.format_exc())
    return "startup_failed", f"The training worker could not start: {type(error).__name__}: {error}"


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
    release_memory()


def release_memory() -> None:
    """Drop the finished run's models and graphs so a long-lived worker does not grow.

    ``clear_session`` frees Keras's global state (about 0.25 s). A full
    ``gc.collect`` would cost as much again and found nothing to collect in
    measurements, because reference counting already frees the run's objects.
    """
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
