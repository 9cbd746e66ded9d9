"""A fast trainer with the signature and events of ``ae_core.training.train``.

The job service tests run it in real spawned worker processes (as
``JobManager(trainer="fake_trainer:train")``), so they test processes, pipes,
the queue and the store in seconds, without TensorFlow. It does no learning:
the "loss" is a fixed decreasing curve. What it does is chosen by the config,
so that one manager can run differently behaving jobs side by side:

* ``seed == NAN_SEED``: the loss becomes NaN at step ``NAN_STEP``, and the run
  ends ``failed`` with a message, as the real trainer does;
* ``seed == CRASH_SEED``: raises ``RuntimeError`` at step 2 (a trainer bug);
* ``seed == RUNAWAY_SEED``: never polls ``should_stop`` (a runaway model);
* anything else: trains normally.

Changes asked for while it trains (``take_changes``) are sent as ``change`` events before the next batch.

``ceil(train_limit / batch_size)`` steps make an epoch; each step sleeps
``$FAKE_STEP_SECONDS`` (default 0.02 s). At each epoch end it writes
``checkpoint.json`` (``{"epoch": n}``) into ``checkpoint_dir``, and with
``resume=True`` it continues from there, like the real trainer.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ae_core.changes import Change
from ae_core.config import TrainConfig
from ae_core.store import Checkpoint
from ae_core.training.events import TrainResult, change_event, end_event, start_event

NAN_SEED = 13
CRASH_SEED = 17
RUNAWAY_SEED = 19
NAN_STEP = 3
CRASH_MESSAGE = "the fake trainer crashed on purpose"




def _loss(step: int) -> float:
    return 0.5 / (1.0 + 0.1 * step)


def train(config: TrainConfig, on_event: Callable[[dict[str, Any]], None] = lambda event: None,
          should_stop: Callable[[], bool] = lambda: False, *, checkpoint_dir: Path | str | None = None,
          resume: bool = False, should_pause: Callable[[], bool] = lambda: False,
          take_changes: Callable[[], list[tuple[str, float]]] = lambda: []) -> TrainResult:
    """Pretend to train; see the module docstring for the behaviours."""
    step_seconds = float(os.environ.get("FAKE_STEP_SECONDS", "0.02"))
    steps_per_epoch = math.ceil((config.train_limit or 256) / config.batch_size)
    checkpoint = Checkpoint(Path(checkpoint_dir)) if checkpoint_dir is not None else None
    initial_epoch = (checkpoint.epoch() if resume and checkpoint is not None else None) or 0
    start = time.monotonic()

    def elapsed() -> float:
        return time.monotonic() - start

    def end(status: str, message: str, epochs: int) -> TrainResult:
        metrics = {"seconds": elapsed(), "samples_per_second": 1000.0, "epochs_completed": float(epochs)}
        if status == "finished":
            metrics.update(test_loss=_loss(epochs * steps_per_epoch), test_mse=0.01, test_psnr=20.0)
        on_event(end_event(status, message, metrics, elapsed()))
        return TrainResult(status, message, metrics)

    on_event(start_event(config.num_epochs, steps_per_epoch, initial_epoch, config.train_limit or 256,
                         config.image_shape, tuple(str(d) for d in range(10))))
    height, width, channels = config.image_shape
    for epoch in range(initial_epoch, config.num_epochs):
        for batch in range(steps_per_epoch):
            step = epoch * steps_per_epoch + batch + 1
            for field, value in take_changes():  # applied from this batch on, as the real trainer does
                on_event(change_event(Change(step=step - 1, epoch=epoch, field=field, value=value), elapsed()))
            time.sleep(step_seconds)
            if config.seed == CRASH_SEED and step == 2:
                raise RuntimeError(CRASH_MESSAGE)
            loss = float("nan") if config.seed == NAN_SEED and step >= NAN_STEP else _loss(step)
            if math.isnan(loss):
                return end("failed", f"The loss became NaN (not a number) at epoch {epoch + 1}, step {step}. "
                                     "Training diverged: try a lower learning rate.", epoch)
            if config.seed != RUNAWAY_SEED and should_stop():
                return end("stopped", f"Stopped by request after {step} steps.", epoch)
            on_event({"type": "batch", "epoch": epoch, "step": step, "loss": loss, "time": elapsed()})
        step = (epoch + 1) * steps_per_epoch
        on_event({"type": "epoch", "epoch": epoch + 1, "step": step, "time": elapsed(),
                  "metrics": {"loss": _loss(step), "val_loss": _loss(step) * 1.1, "mse": 0.02, "val_mse": 0.021}})
        images = np.full((16, height, width, channels), epoch, dtype=np.uint8)
        on_event({"type": "reconstruction", "epoch": epoch + 1, "step": step, "indices": np.arange(16),
                  "originals": images, "inputs": None, "reconstructions": images, "time": elapsed()})
        on_event({"type": "latent", "epoch": epoch + 1, "step": step, "indices": np.arange(32),
                  "codes": np.full((32, config.model.latent_dim), float(epoch), dtype=np.float32),
                  "labels": np.arange(32) % 10, "time": elapsed()})
        if checkpoint is not None:  # no model to save: an empty file stands for it
            checkpoint.save(lambda path: path.write_bytes(b""), epoch + 1)
        if epoch + 1 < config.num_epochs and should_pause():
            return end("paused", f"Paused after epoch {epoch + 1}.", epoch + 1)
    return end("finished", f"Finished {config.num_epochs} epochs.", config.num_epochs)
