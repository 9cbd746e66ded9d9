"""What every trainer shares: the live ``fit``, how it ended, and epoch checkpoints.

The autoencoder trainer (``ae_core.training``) and the classifier trainer
(``ae_core.classify_training``) differ in their models, data and test metrics,
but not in how a run is driven: the same ``start`` event, ``fit`` with the
``LiveProgress`` callback, the same reading of how it ended (finished, stopped
or failed), the same ``end`` event, and the same atomic checkpoint at each
good epoch end, which is what ``resume`` continues from.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import keras

from ae_core.datasets import Splits
from ae_core.progress import Event, LiveProgress

FINISHED, STOPPED, FAILED = "finished", "stopped", "failed"
CHECKPOINT_FILE = "checkpoint.keras"
CHECKPOINT_STATE_FILE = "checkpoint.json"
# Running several steps per call of the compiled train function removes most
# of Keras's per-step Python overhead, which dominates for small dense models.
# It also bounds how late a stop request or a NaN is noticed, so it stays small.
STEPS_PER_EXECUTION = 4


def checkpoint_epoch(checkpoint: Path | None) -> int | None:
    """The epoch a checkpoint folder had reached, or None when it holds none."""
    if checkpoint is None or not (checkpoint / CHECKPOINT_STATE_FILE).is_file():
        return None
    return int(json.loads((checkpoint / CHECKPOINT_STATE_FILE).read_text())["epoch"])


def start_event(num_epochs: int, steps_per_epoch: int, initial_epoch: int, splits: Splits) -> Event:
    """The ``start`` event every run sends first."""
    return {"type": "start", "num_epochs": num_epochs, "steps_per_epoch": steps_per_epoch,
            "initial_epoch": initial_epoch, "num_train": len(splits.x_train),
            "image_shape": list(splits.image_shape), "class_names": list(splits.class_names), "time": 0.0}


def fit_live(model: keras.Model, train_data: Any, val_data: Any, *, progress: LiveProgress,
             callbacks: list[keras.callbacks.Callback], num_epochs: int, initial_epoch: int, num_train: int,
             batch_size: int, evaluate: Callable[[], dict[str, Any]],
             on_event: Callable[[Event], None]) -> tuple[str, str, dict[str, Any]]:
    """Fit from ``initial_epoch`` to ``num_epochs``, then send the ``end`` event.

    Args:
        model: the compiled Keras model to fit.
        train_data, val_data: its datasets.
        progress: the run's ``LiveProgress`` (also in ``callbacks``).
        callbacks: every callback of the fit.
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
    full_epochs = progress.epochs_completed - initial_epoch
    partial_steps = progress.step - progress.epochs_completed * progress.steps_per_epoch if progress.step else 0
    samples = full_epochs * num_train + max(partial_steps, 0) * batch_size
    metrics: dict[str, Any] = {"seconds": seconds, "samples_per_second": samples / seconds if seconds > 0 else 0.0,
                               "epochs_completed": float(progress.epochs_completed)}
    if progress.failure is not None:
        status, message = FAILED, progress.failure
    elif progress.stopped:
        status, message = STOPPED, f"Stopped by request after {progress.step} steps."
    else:
        status, message = FINISHED, f"Finished {num_epochs} epochs."
        metrics.update(evaluate())
    on_event({"type": "end", "status": status, "message": message, "result": dict(metrics),
              "time": progress.elapsed()})
    return status, message, metrics


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the model (with optimizer state) at each good epoch end, atomically.

    Args:
        save: writes the model to the path it is given (a ``.keras`` file).
        directory: the run's checkpoint folder.
        progress: the run's ``LiveProgress``; a stopped or failed epoch is not saved.
    """

    def __init__(self, save: Callable[[Path], None], directory: Path, progress: LiveProgress) -> None:
        super().__init__()
        self.save, self.directory, self.progress = save, directory, progress

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.progress.failure is not None or self.progress.stopped:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        # Write beside, then rename: a crash mid-save never leaves a broken checkpoint.
        partial = self.directory / ("partial-" + CHECKPOINT_FILE)
        self.save(partial)
        os.replace(partial, self.directory / CHECKPOINT_FILE)
        state = self.directory / ("partial-" + CHECKPOINT_STATE_FILE)
        state.write_text(json.dumps({"epoch": epoch + 1}))
        os.replace(state, self.directory / CHECKPOINT_STATE_FILE)
