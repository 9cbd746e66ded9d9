"""What every trainer shares: the live ``fit``, how it ended, and epoch checkpoints.

The autoencoder trainer (``ae_core.training.autoencoder``) and the classifier trainer
(``ae_core.training.classifier``) differ in their models, data and test metrics,
but not in how a run is driven: the same ``start`` event, ``fit`` with the live
callbacks of ``ae_core.training.callbacks`` sharing one ``RunState``, the same
reading of that state once it ended (finished, stopped or failed), the same
``end`` event, and the same atomic checkpoint at each good epoch end, which is
what ``resume`` continues from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import keras

from ae_core.config import TrainConfig
from ae_core.data import Splits, load_dataset
from ae_core.store import Checkpoint
from ae_core.training import warm
from ae_core.training.callbacks import RunState
from ae_core.training.events import FAILED, FINISHED, PAUSED, STOPPED, Event, end_event, start_event

# Running several steps per call of the compiled train function removes most
# of Keras's per-step Python overhead, which dominates for small dense models.
# It also bounds how late a stop request or a NaN is noticed, so it stays small.
STEPS_PER_EXECUTION = 4


def seeded_splits(config: TrainConfig, trainer: str, task: str, splits: Splits | None) -> Splits:
    """Check that ``config`` is one for ``trainer``, seed every random generator, and load the data.

    Args:
        config: the run.
        trainer: the calling trainer's name, for the error message.
        task: the ``config.task`` that trainer runs.
        splits: already loaded data (tests pass tiny data), used as it is; None
            loads the dataset ``config`` names.

    Returns:
        The splits to train on.

    Raises:
        ValueError: if ``config.task`` is not ``task``.
        DatasetUnavailable: when the dataset is not on this machine.
    """
    if config.task != task:
        raise ValueError(f"task must be {task!r} for {trainer}; got {config.task!r}")
    # Seeded before anything random is drawn, so that the same config gives the same run.
    keras.utils.set_random_seed(config.seed)
    if splits is None:
        splits = load_dataset(config.dataset, train_limit=config.train_limit,
                              validation_fraction=config.validation_fraction, grayscale=config.grayscale)
    return splits


def run_start_event(num_epochs: int, steps_per_epoch: int, initial_epoch: int, splits: Splits) -> Event:
    """The ``start`` event of a run on ``splits``."""
    return start_event(num_epochs, steps_per_epoch, initial_epoch, len(splits.x_train), splits.image_shape,
                       splits.class_names)


def keep_if_paused(status: str, checkpoint: Checkpoint | None, epoch: int, model: Any) -> None:
    """Keep a run's model in memory if it paused (``ae_core.training.warm``)."""
    if status == PAUSED and checkpoint is not None:
        warm.keep_paused(str(checkpoint.directory), epoch, model)


def resume_or_build(checkpoint_dir: Path | str | None, resume: bool, load: Callable[[Path], Any],
                    build: Callable[[], Any], key: str | None = None) -> tuple[Any, Checkpoint | None, int]:
    """The checkpointed model and the epoch it had reached when resuming from one, else a new model at epoch 0.

    A run that paused in this process at its checkpoint's epoch goes on with the model it
    paused with (the same weights and optimizer state as the checkpoint, already traced), and
    a new run may get a traced model of its setup ``key`` (``ae_core.training.warm.build``).

    Returns:
        ``(model, checkpoint, initial_epoch)``; ``checkpoint`` is None without a ``checkpoint_dir``.
    """
    checkpoint = Checkpoint(Path(checkpoint_dir)) if checkpoint_dir is not None else None
    reached = checkpoint.epoch() if checkpoint is not None and resume else None
    if reached is not None:
        kept = warm.take_paused(str(checkpoint.directory), reached)
        return (kept if kept is not None else load(checkpoint.model_path)), checkpoint, reached
    return warm.build(key, build), checkpoint, 0


def fit_live(model: keras.Model, train_data: Any, val_data: Any, *, state: RunState,
             callbacks: list[keras.callbacks.Callback], num_epochs: int, initial_epoch: int, num_train: int,
             batch_size: int, evaluate: Callable[[], dict[str, Any]],
             on_event: Callable[[Event], None]) -> tuple[str, str, dict[str, Any]]:
    """Fit from ``initial_epoch`` to ``num_epochs``, then send the ``end`` event.

    Args:
        model: the compiled Keras model to fit.
        train_data, val_data: its datasets.
        state: the run's ``RunState``, kept by the ``StopOnRequestOrDivergence`` in ``callbacks``.
        callbacks: every callback of the fit, that one first.
        num_epochs, initial_epoch: where the run ends and starts.
        num_train, batch_size: to count the samples trained, for throughput.
        evaluate: the test-split metrics, called only when the run finished.
        on_event: receives the ``end`` event.

    Returns:
        ``(status, message, metrics)``; ``metrics`` always has ``seconds``,
        ``samples_per_second`` and ``epochs_completed``, plus what
        ``evaluate`` returns when the run finished.
    """
    fit_start = time.perf_counter()
    if initial_epoch < num_epochs:
        model.fit(train_data, validation_data=val_data, epochs=num_epochs, initial_epoch=initial_epoch,
                  callbacks=callbacks, shuffle=False, verbose=0)
    seconds = time.perf_counter() - fit_start
    # Samples actually trained: whole epochs, plus the batches of an epoch cut short by a stop.
    full_epochs = state.epochs_completed - initial_epoch
    partial_steps = state.step - state.epochs_completed * state.steps_per_epoch if state.step else 0
    samples = full_epochs * num_train + max(partial_steps, 0) * batch_size
    metrics: dict[str, Any] = {"seconds": seconds, "samples_per_second": samples / seconds if seconds > 0 else 0.0,
                               "epochs_completed": float(state.epochs_completed)}
    if state.failure is not None:
        status, message = FAILED, state.failure
    elif state.stopped:
        status, message = STOPPED, f"Stopped by request after {state.step} steps."
    elif state.paused:
        status, message = PAUSED, f"Paused after epoch {state.epochs_completed}, so that a waiting run could start."
    else:
        status, message = FINISHED, f"Finished {num_epochs} epochs."
        metrics.update(evaluate())
    on_event(end_event(status, message, metrics, state.elapsed()))
    return status, message, metrics


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the model (with optimizer state) at each good epoch end, atomically.

    Args:
        save: writes the model to the path it is given (a ``.keras`` file).
        checkpoint: the run's checkpoint.
        state: the run's ``RunState``, kept by a ``StopOnRequestOrDivergence`` placed before this
            callback; a stopped or failed epoch is not saved.
    """

    def __init__(self, save: Callable[[Path], None], checkpoint: Checkpoint, state: RunState) -> None:
        super().__init__()
        self.save, self.checkpoint, self.state = save, checkpoint, state

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.state.ended_early:
            return
        self.checkpoint.save(self.save, epoch + 1)
