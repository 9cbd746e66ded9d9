"""The one Keras callback that turns training into live events.

It emits plain-Python event dicts (see docs/DESIGN.md): throttled batch losses,
epoch metrics, and reconstruction and latent snapshots of fixed validation
images. It also ends a run early, the way Keras's own callbacks do, by setting
``self.model.stop_training``: when the user asks to stop, or when the loss is
no longer a finite number.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import keras
import numpy as np

from ae_core.pipeline import to_float, to_uint8

Event = dict[str, Any]

BATCH_EVENTS_PER_SECOND = 4.0
# Snapshots come at least this often (and at every epoch end), so that a
# 60-second CIFAR epoch still looks live.
SNAPSHOT_SECONDS = 3.0
# Snapshots of a big model cost real time; spacing them at least this many
# times their own cost keeps the live view under about 5% of training time.
SNAPSHOT_COST_FACTOR = 20.0
ENCODE_BATCH = 500


class LiveProgress(keras.callbacks.Callback):
    """Report progress through ``on_event`` and honour ``should_stop``.

    Args:
        bundle: the ``ae_core.models.Autoencoder`` being trained.
        on_event: called with each event dict.
        should_stop: polled after every batch; True ends training cleanly.
        steps_per_epoch: batches in one epoch, to number global steps.
        recon_images, latent_images, latent_labels, latent_indices: the fixed
            validation images (uint8) the snapshots follow; left out (None),
            no snapshots are sent (a classifier has no reconstructions).
        clock: monotonic seconds, replaceable in tests.
    """

    def __init__(self, bundle: Any, on_event: Callable[[Event], None], should_stop: Callable[[], bool], *,
                 steps_per_epoch: int, recon_images: np.ndarray | None = None,
                 recon_indices: np.ndarray | None = None, latent_images: np.ndarray | None = None,
                 latent_labels: np.ndarray | None = None, latent_indices: np.ndarray | None = None,
                 corrupt: Callable[[np.ndarray], np.ndarray] | None = None, initial_epoch: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.bundle = bundle
        self.on_event = on_event
        self.should_stop = should_stop
        self.steps_per_epoch = steps_per_epoch
        self.recon_images, self.recon_indices = recon_images, recon_indices
        self.latent_images, self.latent_labels, self.latent_indices = latent_images, latent_labels, latent_indices
        self.corrupt = corrupt
        self.clock = clock
        self.start_time = clock()
        self.epoch = initial_epoch
        self.epochs_completed = initial_epoch
        self.step = initial_epoch * steps_per_epoch
        self.stopped = False
        self.failure: str | None = None
        self.last_logs: dict[str, float] = {}
        self._last_batch_event = -math.inf
        self._last_snapshot = clock()
        self._snapshot_interval = SNAPSHOT_SECONDS

    def elapsed(self) -> float:
        return self.clock() - self.start_time

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        # With steps_per_execution > 1, Keras reports the index of the last
        # batch of each execution (which can run past the epoch's last batch),
        # so the global step is derived and clamped, not counted.
        self.step = self.epoch * self.steps_per_epoch + min(batch + 1, self.steps_per_epoch)
        loss = float(logs.get("loss", 0.0))
        if not math.isfinite(loss):
            self._fail(f"The loss became {_describe(loss)} at epoch {self.epoch + 1}, step {self.step}. Training diverged: "
                       "try a lower learning rate, another optimizer, or less extreme settings.")
            return
        if self.should_stop():
            self.stopped = True
            self.model.stop_training = True
            return
        now = self.clock()
        if now - self._last_batch_event >= 1.0 / BATCH_EVENTS_PER_SECOND:
            self._last_batch_event = now
            self.on_event({"type": "batch", "epoch": self.epoch, "step": self.step, "loss": loss,
                           "time": now - self.start_time})
        if now - self._last_snapshot >= self._snapshot_interval:
            self.emit_snapshots()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        # Keras still ends the epoch (and validates) after a stop request;
        # that partial epoch is not reported as a completed one.
        if self.stopped:
            return
        metrics = {key: float(value) for key, value in logs.items() if np.ndim(value) == 0}
        self.last_logs = metrics
        bad = sorted(key for key, value in metrics.items() if not math.isfinite(value))
        if bad and self.failure is None:
            self._fail(f"The {bad[0]} became {_describe(metrics[bad[0]])} at the end of epoch {epoch + 1}. Training "
                       "diverged: try a lower learning rate, another optimizer, or less extreme settings.")
        if self.failure is not None:
            return
        self.epochs_completed = epoch + 1
        self.on_event({"type": "epoch", "epoch": epoch + 1, "step": self.step, "metrics": metrics,
                       "time": self.elapsed()})
        self.emit_snapshots(epoch=epoch + 1)

    def emit_snapshots(self, epoch: int | None = None) -> None:
        """Send a reconstruction and a latent snapshot of the fixed images (if there are any)."""
        if self.recon_images is None or self.latent_images is None:
            return
        started = self.clock()
        epoch = self.epoch if epoch is None else epoch
        originals = self.recon_images
        inputs = to_float(originals)
        noisy = None
        if self.corrupt is not None:
            inputs = self.corrupt(inputs)
            noisy = to_uint8(inputs)
        reconstructions = to_uint8(self.bundle.autoencoder(inputs, training=False))
        self.on_event({"type": "reconstruction", "epoch": epoch, "step": self.step,
                       "indices": self.recon_indices, "originals": originals, "inputs": noisy,
                       "reconstructions": reconstructions, "time": self.elapsed()})
        codes = np.concatenate([
            np.asarray(self.bundle.encoder(to_float(self.latent_images[i:i + ENCODE_BATCH]), training=False))
            for i in range(0, len(self.latent_images), ENCODE_BATCH)
        ]).astype(np.float32)
        self.on_event({"type": "latent", "epoch": epoch, "step": self.step, "indices": self.latent_indices,
                       "codes": codes.reshape(len(codes), -1), "labels": self.latent_labels,
                       "time": self.elapsed()})
        now = self.clock()
        self._last_snapshot = now
        self._snapshot_interval = max(SNAPSHOT_SECONDS, SNAPSHOT_COST_FACTOR * (now - started))

    def _fail(self, message: str) -> None:
        self.failure = message
        self.model.stop_training = True


def _describe(value: float) -> str:
    return "NaN (not a number)" if math.isnan(value) else "infinite"
