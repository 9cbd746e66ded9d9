"""The instrumented trainer: ``train(config, on_event, should_stop)``.

It trains with Keras ``fit`` over the tf.data pipeline and reports through the
``LiveProgress`` callback. It is the same code path for the CLI, the worker
processes of the job service and the benchmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from ae_core.config import TrainConfig
from ae_core.datasets import Splits, load_dataset
from ae_core.models import Autoencoder, build_autoencoder, corrupt, load_autoencoder, save_autoencoder
from ae_core.pipeline import fixed_sample, make_dataset
from ae_core.live_fit import (CHECKPOINT_FILE, STEPS_PER_EXECUTION, EpochCheckpoint, checkpoint_epoch, fit_live,
                              start_event)
from ae_core.progress import Event, LiveProgress

NUM_RECONSTRUCTIONS = 16
MAX_LATENT_POINTS = 2000


@dataclass(frozen=True)
class TrainResult:
    """How a run ended.

    ``metrics`` holds ``test_loss``, ``test_mse`` and ``test_psnr`` (only when
    the run finished), and always ``seconds``, ``samples_per_second`` and
    ``epochs_completed``.
    """

    status: str
    message: str
    metrics: dict[str, float] = field(default_factory=dict)
    model: Autoencoder | None = None


def _never() -> bool:
    return False


def _ignore(event: Event) -> None:
    del event


def psnr_from_mse(mse: float) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    return math.inf if mse <= 0 else -10.0 * math.log10(mse)


def train(config: TrainConfig, on_event: Callable[[Event], None] = _ignore,
          should_stop: Callable[[], bool] = _never, *, checkpoint_dir: Path | str | None = None,
          resume: bool = False, splits: Splits | None = None,
          source_model: Path | str | None = None) -> TrainResult:
    """Train one autoencoder (or, for ``task="classify"``, one classifier), emitting live events.

    A classify config is handed to ``ae_core.classify_training.train_classifier``,
    which returns a ``ClassifyResult`` with the same fields.

    Args:
        config: the whole run.
        on_event: receives each event dict (``start``, ``batch``, ``epoch``,
            ``reconstruction``, ``latent``, and a last ``end``).
        should_stop: polled after every few batches; True stops cleanly.
        checkpoint_dir: where to keep a checkpoint at each epoch end.
        resume: continue from the checkpoint in ``checkpoint_dir``, if any.
        splits: already loaded data (tests pass tiny data); by default the
            dataset named in ``config`` is loaded.
        source_model: for a classify run fine-tuning an encoder, the source
            autoencoder run's ``model.keras``.

    Returns:
        A ``TrainResult``. A diverging loss or a stop request is a result,
        not an exception.

    Raises:
        DatasetUnavailable: when the dataset is not on this machine.
        RunNotFound: for a classify run whose source model is missing.
    """
    if config.task == "classify":
        from ae_core.classify_training import train_classifier

        return train_classifier(config, on_event, should_stop, checkpoint_dir=checkpoint_dir, resume=resume,
                                splits=splits, source_model=source_model)
    keras.utils.set_random_seed(config.seed)
    if splits is None:
        splits = load_dataset(config.dataset, train_limit=config.train_limit,
                              validation_fraction=config.validation_fraction, grayscale=config.grayscale)
    if config.exclude_class is not None:
        splits = without_class(splits, config.exclude_class)
    checkpoint = Path(checkpoint_dir) if checkpoint_dir is not None else None
    bundle, initial_epoch = _model_for(config, checkpoint if resume else None)

    train_data = make_dataset(splits.x_train, config.batch_size, shuffle=True, seed=config.seed)
    val_data = make_dataset(splits.x_val, config.batch_size, shuffle=False)
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    recon_indices = fixed_sample(len(splits.x_val), NUM_RECONSTRUCTIONS, config.seed)
    latent_indices = fixed_sample(len(splits.x_val), MAX_LATENT_POINTS, config.seed + 1)
    noisy = None
    if config.model.noise != "none":
        def noisy(images: np.ndarray) -> np.ndarray:
            return corrupt(bundle, images, seed=config.seed)

    progress = LiveProgress(
        bundle, on_event, should_stop, steps_per_epoch=steps_per_epoch,
        recon_images=splits.x_val[recon_indices], recon_indices=recon_indices,
        latent_images=splits.x_val[latent_indices], latent_labels=splits.y_val[latent_indices],
        latent_indices=latent_indices, corrupt=noisy, initial_epoch=initial_epoch,
    )
    callbacks: list[keras.callbacks.Callback] = [progress]
    if checkpoint is not None:
        callbacks.append(EpochCheckpoint(lambda path: save_autoencoder(bundle, path), checkpoint, progress))
    on_event(start_event(config.num_epochs, steps_per_epoch, initial_epoch, splits))
    status, message, metrics = fit_live(
        bundle.autoencoder, train_data, val_data, progress=progress, callbacks=callbacks,
        num_epochs=config.num_epochs, initial_epoch=initial_epoch, num_train=len(splits.x_train),
        batch_size=config.batch_size, evaluate=lambda: evaluate(bundle, splits, config.batch_size),
        on_event=on_event)
    return TrainResult(status=status, message=message, metrics=metrics, model=bundle)


def without_class(splits: Splits, label: int) -> Splits:
    """The same splits with every training example of class ``label`` removed.

    Validation and test keep the class, so a model trained this way can be shown
    images it has never seen the like of (the anomaly demo).

    Raises:
        ValueError: for a label outside the dataset's classes, or when nothing
            would be left to train on.
    """
    num_classes = splits.spec.num_classes
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < num_classes:
        raise ValueError(f"exclude_class must be a whole number from 0 to {num_classes - 1}; got {label!r}")
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


def _model_for(config: TrainConfig, checkpoint: Path | None) -> tuple[Autoencoder, int]:
    """A fresh model, or the checkpointed one and the epoch it had reached."""
    reached = checkpoint_epoch(checkpoint)
    if reached is not None:
        return load_autoencoder(checkpoint / CHECKPOINT_FILE), reached
    bundle = build_autoencoder(config.model, config.image_shape, optimizer=config.optimizer,
                               learning_rate=config.learning_rate, seed=config.seed,
                               compile_options={"steps_per_execution": STEPS_PER_EXECUTION})
    return bundle, 0
