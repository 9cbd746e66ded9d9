"""The small Keras callbacks that turn training into live events, and the ``RunState`` they share.

Each does one job, the way Keras's own callbacks (``TerminateOnNaN``, ``BackupAndRestore``) do:

- ``StopOnRequestOrDivergence`` keeps the run's step count, ends the run when the user
  asks, and fails it when the loss is no longer a finite number or runs away;
- ``MetricEvents`` sends throttled ``batch`` events and an ``epoch`` event per epoch;
- ``SnapshotEvents`` sends ``reconstruction`` and ``latent`` snapshots of fixed
  validation images (autoencoders only; a classifier has no reconstructions); a VAE's
  ``latent`` snapshot also carries each code's ``log_var``.

The events are plain-Python dicts (see docs/DESIGN.md, "training"). A run ends early by
setting ``self.model.stop_training``. ``StopOnRequestOrDivergence`` is the only writer of
the ``RunState`` and must come first in the callback list, so that the others, and the
checkpoint after them, read the step and the outcome of the batch or epoch at hand.
"""

from __future__ import annotations

import math
import time
from dataclasses import InitVar, dataclass, field
from typing import Any, Callable

import keras
import numpy as np

from ae_core.checks import check_int
from ae_core.data import to_float, to_uint8
from ae_core.training.events import Event, never_stop

BATCH_EVENTS_PER_SECOND = 4.0
# The first seconds of a run are when the pictures change most, and when a person
# decides whether it is learning: while a run is young (its first YOUNG_RUN_SECONDS),
# snapshots come every YOUNG_SNAPSHOT_SECONDS, the first right after the first batch
# (the untrained model's grey guesses). Later they come at least every SNAPSHOT_SECONDS
# (and at every epoch end), so that a 60-second CIFAR epoch still looks live.
YOUNG_RUN_SECONDS = 6.0
YOUNG_SNAPSHOT_SECONDS = 0.5
SNAPSHOT_SECONDS = 3.0
# Snapshots of a big model cost real time; spacing them at least this many times their
# own cost keeps the live view under about 5% of training time (about 12% while young,
# which is a few seconds of a run).
SNAPSHOT_COST_FACTOR = 20.0
YOUNG_COST_FACTOR = 8.0
ENCODE_BATCH = 500
DIVERGED = "Training diverged: try a lower learning rate, another optimizer, or less extreme settings."
# A loss that stays finite can still run away (Adam at learning rate 10 with a linear
# output reached a test MSE of 5.9e6 and was reported finished). Two bounds catch it:
# a loss above DIVERGENCE_FACTOR times the run's first one (the untrained model's, the
# highest a healthy run shows), and a reconstruction MSE above MSE_LIMIT, the most two
# images with pixels between 0 and 1 can differ (that run's first batches already did).
DIVERGENCE_FACTOR = 10.0
MSE_LIMIT = 1.0


@dataclass
class RunState:
    """Where one run is and how it ended, shared by its callbacks and ``fit_live``.

    Args:
        steps_per_epoch: batches in one epoch, to number global steps.
        initial_epoch: the epoch the run starts from (a resumed run starts past 0).
        clock: monotonic seconds, replaceable in tests.

    Raises:
        ValueError: for fewer than 1 step per epoch or a negative ``initial_epoch``.

    The other fields start from ``initial_epoch``: ``epoch`` (0-based, in progress),
    ``step`` (global batches done), ``epochs_completed`` (epochs that ended well),
    ``stopped`` (by request), ``paused`` (at an epoch end, by request), ``failure`` (a
    message for people, or None) and ``start_time`` (``clock()`` when the state was made).
    """

    steps_per_epoch: int
    initial_epoch: InitVar[int] = 0
    clock: Callable[[], float] = time.monotonic
    epoch: int = field(init=False)
    step: int = field(init=False)
    epochs_completed: int = field(init=False)
    stopped: bool = field(default=False, init=False)
    paused: bool = field(default=False, init=False)
    failure: str | None = field(default=None, init=False)
    start_time: float = field(init=False)

    def __post_init__(self, initial_epoch: int) -> None:
        check_int("steps_per_epoch", self.steps_per_epoch, 1)
        check_int("initial_epoch", initial_epoch, 0)
        self.epoch = self.epochs_completed = initial_epoch
        self.step = initial_epoch * self.steps_per_epoch
        self.start_time = self.clock()

    @property
    def ended_early(self) -> bool:
        """True once the run was stopped or failed: the epoch in progress no longer counts."""
        return self.stopped or self.failure is not None

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self.clock() - self.start_time


class StopOnRequestOrDivergence(keras.callbacks.Callback):
    """Count the run's steps and epochs into its ``RunState``; stop on request, fail on a diverging loss.

    Like ``keras.callbacks.TerminateOnNaN``, but the run ends as a result with a
    message for people (``state.failure``), and a stop request ends it the same way
    (``state.stopped``). A run diverges when its loss is NaN or infinite or more than
    ``DIVERGENCE_FACTOR`` times the first loss this run reported, or when its
    reconstruction MSE is above ``MSE_LIMIT``. It also checks the epoch's metrics,
    validation included, for NaN and infinity.

    Args:
        state: the run's ``RunState``, which this callback alone writes.
        should_stop: polled after every batch (every execution of a few batches);
            True ends training cleanly.
        should_pause: polled at each good epoch end but the last; True ends training after
            that epoch's events and checkpoint, so the run can go on from there later.
    """

    def __init__(self, state: RunState, should_stop: Callable[[], bool],
                 should_pause: Callable[[], bool] = never_stop) -> None:
        super().__init__()
        self.state, self.should_stop, self.should_pause = state, should_stop, should_pause
        self.first_loss: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.state.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        state = self.state
        # With steps_per_execution > 1, Keras reports the index of the last
        # batch of each execution (which can run past the epoch's last batch),
        # so the global step is derived and clamped, not counted.
        state.step = state.epoch * state.steps_per_epoch + min(batch + 1, state.steps_per_epoch)
        loss = float(logs.get("loss", 0.0))
        if self.first_loss is None and math.isfinite(loss):
            self.first_loss = loss
        if not math.isfinite(loss):
            self._fail(f"The loss became {_describe(loss)} at epoch {state.epoch + 1}, step {state.step}. {DIVERGED}")
        elif self.first_loss > 0 and loss > DIVERGENCE_FACTOR * self.first_loss:
            self._fail(f"The loss grew to {loss:.3g} at epoch {state.epoch + 1}, step {state.step}, more than "
                       f"{DIVERGENCE_FACTOR:g} times its first value ({self.first_loss:.3g}). {DIVERGED}")
        elif float(logs.get("mse", 0.0)) > MSE_LIMIT:
            self._fail(f"The reconstruction error (MSE) reached {float(logs['mse']):.3g} at epoch {state.epoch + 1}, "
                       f"step {state.step}, above {MSE_LIMIT:g}, the most two images with pixels between 0 and 1 "
                       f"can differ. {DIVERGED}")
        elif self.should_stop():
            state.stopped = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        # Keras still ends the epoch (and validates) after a stop request or a
        # failed batch; that partial epoch is neither judged again nor counted.
        if self.state.ended_early:
            return
        metrics = scalar_metrics(logs)
        bad = sorted(key for key, value in metrics.items() if not math.isfinite(value))
        if bad:
            self._fail(f"The {bad[0]} became {_describe(metrics[bad[0]])} at the end of epoch {epoch + 1}. {DIVERGED}")
        else:
            self.state.epochs_completed = epoch + 1
            # Keras stops after this epoch's callbacks, so its events and checkpoint still happen.
            if epoch + 1 < (self.params or {}).get("epochs", 0) and self.should_pause():
                self.state.paused = True
                self.model.stop_training = True

    def _fail(self, message: str) -> None:
        self.state.failure = message
        self.model.stop_training = True


class MetricEvents(keras.callbacks.Callback):
    """Send ``batch`` events (at most ``BATCH_EVENTS_PER_SECOND``) and an ``epoch`` event per good epoch.

    Nothing is sent for the batch or the epoch in which the run stopped or failed.

    Args:
        state: the run's ``RunState``, kept by a ``StopOnRequestOrDivergence`` placed before
            this callback.
        on_event: called with each event dict.
    """

    def __init__(self, state: RunState, on_event: Callable[[Event], None]) -> None:
        super().__init__()
        self.state, self.on_event = state, on_event
        self._last_batch_event = -math.inf

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        state = self.state
        now = state.clock()
        if state.ended_early or now - self._last_batch_event < 1.0 / BATCH_EVENTS_PER_SECOND:
            return
        self._last_batch_event = now
        self.on_event({"type": "batch", "epoch": state.epoch, "step": state.step,
                       "loss": float(logs.get("loss", 0.0)), "time": now - state.start_time})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.state.ended_early:
            return
        self.on_event({"type": "epoch", "epoch": epoch + 1, "step": self.state.step,
                       "metrics": scalar_metrics(logs), "time": self.state.elapsed()})


class SnapshotEvents(keras.callbacks.Callback):
    """Send a ``reconstruction`` and a ``latent`` snapshot of fixed validation images.

    One comes after the first batch, at each good epoch end (after the ``epoch`` event
    when ``MetricEvents`` is placed before this callback), and between epoch ends after
    a batch: every ``YOUNG_SNAPSHOT_SECONDS`` while the run is young, then every
    ``SNAPSHOT_SECONDS``, and always at least ``YOUNG_COST_FACTOR`` (young) or
    ``SNAPSHOT_COST_FACTOR`` times as far apart as the last one took to make.

    Args:
        state: the run's ``RunState``, kept by a ``StopOnRequestOrDivergence`` placed before
            this callback.
        bundle: the ``ae_core.models.zoo.Autoencoder`` being trained.
        on_event: called with each event dict.
        images, labels: the validation images (uint8) and their labels.
        recon_indices: the images reconstructed, in ``images``.
        latent_indices: the images mapped into the latent space, in ``images``.
        corrupt: the noise of a denoising autoencoder (float images in, float images
            out); its inputs are sent along with the reconstructions.
    """

    def __init__(self, state: RunState, bundle: Any, on_event: Callable[[Event], None], *, images: np.ndarray,
                 labels: np.ndarray, recon_indices: np.ndarray, latent_indices: np.ndarray,
                 corrupt: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        super().__init__()
        self.state, self.bundle, self.on_event, self.corrupt = state, bundle, on_event, corrupt
        self.recon_indices, self.recon_images = recon_indices, images[recon_indices]
        self.latent_indices, self.latent_images, self.latent_labels = (
            latent_indices, images[latent_indices], labels[latent_indices])
        self._last_snapshot = -math.inf  # the first batch sends one
        self._interval = YOUNG_SNAPSHOT_SECONDS

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self.state.ended_early and self.state.clock() - self._last_snapshot >= self._interval:
            self.send(self.state.epoch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.state.ended_early:
            self.send(epoch + 1)

    def send(self, epoch: int) -> None:
        """Send both snapshots now, numbered ``epoch``, and space the next one by their cost."""
        state = self.state
        started = state.clock()
        inputs = to_float(self.recon_images)
        noisy = None
        if self.corrupt is not None:
            inputs = self.corrupt(inputs)
            noisy = to_uint8(inputs)
        reconstructions = to_uint8(self.bundle.autoencoder(inputs, training=False))
        self.on_event({"type": "reconstruction", "epoch": epoch, "step": state.step,
                       "indices": self.recon_indices, "originals": self.recon_images, "inputs": noisy,
                       "reconstructions": reconstructions, "time": state.elapsed()})
        self.on_event({"type": "latent", "epoch": epoch, "step": state.step, "indices": self.latent_indices,
                       **self._encode(), "labels": self.latent_labels, "time": state.elapsed()})
        now = state.clock()
        self._last_snapshot = now
        self._interval = snapshot_interval(now - state.start_time, now - started)

    def _encode(self) -> dict[str, np.ndarray]:
        """The latent images' ``codes`` (n x latent_dim), and for a VAE each code's ``log_var`` too.

        A VAE's log-variance is what the posterior-collapse diagnostic needs: with the mean
        it gives each code dimension's KL from the prior (``ae_core.analysis.diagnostics``).
        """
        variational = self.bundle.config.is_variational
        # A VAE's inner encoder gives [z_mean, z_log_var]; the bundle's public one only the mean.
        encoder = self.bundle.autoencoder.get_layer("encoder") if variational else self.bundle.encoder
        chunks = [encoder(to_float(self.latent_images[i:i + ENCODE_BATCH]), training=False)
                  for i in range(0, len(self.latent_images), ENCODE_BATCH)]
        outputs = {"codes": [chunk[0] for chunk in chunks], "log_var": [chunk[1] for chunk in chunks]} \
            if variational else {"codes": chunks}
        return {name: np.concatenate([np.asarray(part) for part in parts]).astype(np.float32).reshape(
            len(self.latent_images), -1) for name, parts in outputs.items()}


def snapshot_interval(age: float, cost: float) -> float:
    """Seconds until the next snapshot of a run ``age`` seconds old whose last one took ``cost`` seconds."""
    if age < YOUNG_RUN_SECONDS:
        return max(YOUNG_SNAPSHOT_SECONDS, YOUNG_COST_FACTOR * cost)
    return max(SNAPSHOT_SECONDS, SNAPSHOT_COST_FACTOR * cost)


def scalar_metrics(logs: dict) -> dict[str, float]:
    """The scalar entries of Keras's epoch logs, as Python floats (what an ``epoch`` event carries)."""
    return {key: float(value) for key, value in logs.items() if np.ndim(value) == 0}


def _describe(value: float) -> str:
    return "NaN (not a number)" if math.isnan(value) else "infinite"
