"""The autoencoder trainer: ``train_autoencoder(config, on_event, should_stop)``.

It trains with Keras ``fit`` over the tf.data pipeline and reports through the
live callbacks (step and stop, metric events, snapshots). ``ae_core.training.train`` hands it every
``task="reconstruct"`` config: the same code path for the CLI, the worker
processes of the job service and the benchmarks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from ae_core.checks import check_int
from ae_core.config import TrainConfig
from ae_core.data import Splits, fixed_sample, make_dataset
from ae_core.models import (Autoencoder, build_autoencoder, corrupt, live_settings, load_autoencoder,
                            save_autoencoder)
from ae_core.training.callbacks import (MetricEvents, RunState, SnapshotEvents,
                                        StopOnRequestOrDivergence)
from ae_core.training.events import Event, TrainResult, ignore_event, never_stop
from ae_core.training.fit import (STEPS_PER_EXECUTION, EpochCheckpoint, fit_live, keep_if_paused, resume_or_build,
                                  run_start_event, seeded_splits)
from ae_core.training.live_changes import ChangeSource, LiveChanges, no_changes

NUM_RECONSTRUCTIONS = 16
MAX_LATENT_POINTS = 2000


def psnr_from_mse(mse: float) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    return math.inf if mse <= 0 else -10.0 * math.log10(mse)


def train_autoencoder(config: TrainConfig, on_event: Callable[[Event], None] = ignore_event,
                      should_stop: Callable[[], bool] = never_stop, *, checkpoint_dir: Path | str | None = None,
                      resume: bool = False, splits: Splits | None = None,
                      should_pause: Callable[[], bool] = never_stop,
                      take_changes: ChangeSource | None = None) -> TrainResult:
    """Train the autoencoder a ``task="reconstruct"`` config describes, emitting live events.

    The arguments are those of ``ae_core.training.train``.

    Returns:
        A ``TrainResult`` whose model is the ``Autoencoder`` bundle.

    Raises:
        ValueError: if ``config.task`` is not ``"reconstruct"``.
        DatasetUnavailable: when the dataset is not on this machine.
    """
    splits = seeded_splits(config, "train_autoencoder", "reconstruct", splits)
    if config.exclude_class is not None:
        splits = without_class(splits, config.exclude_class)
    bundle, checkpoint, initial_epoch = resume_or_build(checkpoint_dir, resume, load_autoencoder,
                                                        lambda: _build(config), key=repr(_setup(config)))

    train_data = make_dataset(splits.x_train, config.batch_size, shuffle=True, seed=config.seed)
    val_data = make_dataset(splits.x_val, config.batch_size, shuffle=False)
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    recon_indices = fixed_sample(len(splits.x_val), NUM_RECONSTRUCTIONS, config.seed)
    latent_indices = fixed_sample(len(splits.x_val), MAX_LATENT_POINTS, config.seed + 1)
    noisy = None
    if config.model.noise != "none":
        def noisy(images: np.ndarray) -> np.ndarray:
            return corrupt(bundle, images, seed=config.seed)

    # The state's keeper comes first and the checkpoint last: the events and the
    # checkpoint of an epoch follow from how that epoch ended.
    state = RunState(steps_per_epoch, initial_epoch)
    callbacks: list[keras.callbacks.Callback] = [
        StopOnRequestOrDivergence(state, should_stop, should_pause), MetricEvents(state, on_event),
        LiveChanges(state, config, live_settings(bundle), take_changes or no_changes, on_event),
        SnapshotEvents(state, bundle, on_event, images=splits.x_val, labels=splits.y_val,
                       recon_indices=recon_indices, latent_indices=latent_indices, corrupt=noisy),
    ]
    if checkpoint is not None:
        callbacks.append(EpochCheckpoint(lambda path: save_autoencoder(bundle, path), checkpoint, state))
    on_event(run_start_event(config.num_epochs, steps_per_epoch, initial_epoch, splits))
    status, message, metrics = fit_live(
        bundle.autoencoder, train_data, val_data, state=state, callbacks=callbacks,
        num_epochs=config.num_epochs, initial_epoch=initial_epoch, num_train=len(splits.x_train),
        batch_size=config.batch_size, evaluate=lambda: evaluate(bundle, splits, config.batch_size),
        on_event=on_event)
    keep_if_paused(status, checkpoint, state.epochs_completed, bundle)
    return TrainResult(status=status, message=message, metrics=metrics, model=bundle)


def without_class(splits: Splits, label: int) -> Splits:
    """The same splits with every training example of class ``label`` removed.

    Validation and test keep the class, so a model trained this way can be shown
    images it has never seen the like of (the anomaly demo).

    Raises:
        ValueError: for a label outside the dataset's classes, or when nothing
            would be left to train on.
    """
    check_int("exclude_class", label, 0, splits.spec.num_classes - 1)
    keep = splits.y_train != label
    if not keep.any():
        raise ValueError(f"exclude_class must leave some training examples; class {label} is all there is")
    return Splits(splits.x_train[keep], splits.y_train[keep], splits.x_val, splits.y_val,
                  splits.x_test, splits.y_test, splits.spec)


def evaluate(bundle: Autoencoder, splits: Splits, batch_size: int) -> dict[str, float]:
    """Test-split metrics: ``test_loss``, ``test_mse`` and ``test_psnr``."""
    logs = bundle.autoencoder.evaluate(make_dataset(splits.x_test, batch_size, shuffle=False),
                                       verbose=0, return_dict=True)
    mse = float(logs["mse"])
    return {"test_loss": float(logs["loss"]), "test_mse": mse, "test_psnr": psnr_from_mse(mse)}


def _setup(config: TrainConfig) -> tuple[tuple, dict]:
    """What ``build_autoencoder`` is given but the seed: a traced model serves any run of it (``warm``)."""
    return (config.model, config.image_shape), {
        "optimizer": config.optimizer, "learning_rate": config.learning_rate,
        "compile_options": {"steps_per_execution": STEPS_PER_EXECUTION}}


def _build(config: TrainConfig) -> Autoencoder:
    arguments, options = _setup(config)
    return build_autoencoder(*arguments, **options, seed=config.seed)
