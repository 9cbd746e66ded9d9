"""The classifier trainer: ``train_classifier`` runs a ``task="classify"`` config.

It is the autoencoder trainer's twin for the Classify page's two neural classifiers:
the reference CNN (``classifier="cnn"``) and a finished autoencoder run's encoder with
a dense head, fine-tuned (``classifier="encoder_head"``). It reports through the same
live callbacks, less the snapshots, so the job service, the store, the Runs page and the
live views see the same ``start``, ``batch``, ``epoch`` and ``end`` events (with Keras's
``accuracy`` and ``val_accuracy`` next to the losses; there are no snapshots). The
``end`` event's result holds ``test_loss``, ``test_accuracy``, the test confusion
matrix (``confusion``, true x predicted, as lists) and the usual timing figures.
Checkpoints and resume work as for autoencoders: the whole model is saved at each
epoch end, optimizer state included.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import keras

from ae_core.models import build_cnn, encoder_classifier, labelled_dataset
from ae_core.config import TrainConfig
from ae_core.data import Splits
from ae_core.errors import RunNotFound
from ae_core.training.callbacks import MetricEvents, RunState, StopOnRequestOrDivergence
from ae_core.training.events import Event, TrainResult, ignore_event, never_stop
from ae_core.training.fit import (STEPS_PER_EXECUTION, EpochCheckpoint, fit_live, keep_if_paused, resume_or_build,
                                  run_start_event, seeded_splits)

PREDICT_BATCH = 512


def train_classifier(config: TrainConfig, on_event: Callable[[Event], None] = ignore_event,
                     should_stop: Callable[[], bool] = never_stop, *, checkpoint_dir: Path | str | None = None,
                     resume: bool = False, splits: Splits | None = None,
                     source_model: Path | str | None = None,
                     should_pause: Callable[[], bool] = never_stop) -> TrainResult:
    """Train the classifier a ``task="classify"`` config describes, emitting live events.

    Args:
        config: the run; ``classifier``, ``augment``, ``num_epochs``, ``batch_size``,
            ``optimizer``, ``learning_rate``, ``seed`` and the data fields apply.
        on_event: receives ``start``, throttled ``batch``, ``epoch`` and a last ``end``.
        should_stop: polled after every few batches; True stops cleanly.
        checkpoint_dir: where to keep a checkpoint at each epoch end.
        resume: continue from the checkpoint in ``checkpoint_dir``, if any.
        splits: already loaded data (tests pass tiny data).
        source_model: the ``model.keras`` of run ``config.source_run_id``
            (needed for ``encoder_head`` unless resuming from a checkpoint).

    Returns:
        A ``TrainResult`` whose model is the trained ``keras.Model``; a diverging loss or a
        stop request is a result.

    Raises:
        ValueError: if ``config.task`` is not ``"classify"``, or the source model
            does not fit the images.
        RunNotFound: if the source autoencoder's model file is missing.
        DatasetUnavailable: when the dataset is not on this machine.
    """
    splits = seeded_splits(config, "train_classifier", "classify", splits)
    num_classes = splits.spec.num_classes
    model, checkpoint, initial_epoch = resume_or_build(checkpoint_dir, resume, _load,
                                                       lambda: _build(config, num_classes, source_model))
    train_data = labelled_dataset(splits.x_train, splits.y_train, num_classes, config.batch_size, shuffle=True,
                                  seed=config.seed)
    val_data = labelled_dataset(splits.x_val, splits.y_val, num_classes, config.batch_size, shuffle=False)
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    state = RunState(steps_per_epoch, initial_epoch)
    # The state's keeper first, the checkpoint last (see the autoencoder trainer).
    callbacks: list[keras.callbacks.Callback] = [StopOnRequestOrDivergence(state, should_stop, should_pause),
                                                 MetricEvents(state, on_event)]
    if checkpoint is not None:
        callbacks.append(EpochCheckpoint(lambda path: model.save(path, overwrite=True), checkpoint, state))
    on_event(run_start_event(config.num_epochs, steps_per_epoch, initial_epoch, splits))
    status, message, metrics = fit_live(
        model, train_data, val_data, state=state, callbacks=callbacks, num_epochs=config.num_epochs,
        initial_epoch=initial_epoch, num_train=len(splits.x_train), batch_size=config.batch_size,
        evaluate=lambda: evaluate_classifier(model, splits, config.batch_size), on_event=on_event)
    keep_if_paused(status, checkpoint, state.epochs_completed, model)
    return TrainResult(status=status, message=message, metrics=metrics, model=model)


def evaluate_classifier(model: Any, splits: Splits, batch_size: int) -> dict[str, Any]:
    """Test-split ``test_loss``, ``test_accuracy``, ``confusion`` (true x predicted), ``num_train``, ``num_test``."""
    from sklearn.metrics import confusion_matrix

    num_classes = splits.spec.num_classes
    logs = model.evaluate(labelled_dataset(splits.x_test, splits.y_test, num_classes, batch_size, shuffle=False),
                          verbose=0, return_dict=True)
    probabilities = model.predict(labelled_dataset(splits.x_test, splits.y_test, num_classes, PREDICT_BATCH,
                                                   shuffle=False), verbose=0)
    confusion = confusion_matrix(splits.y_test, probabilities.argmax(axis=1), labels=list(range(num_classes)))
    return {"test_loss": float(logs["loss"]), "test_accuracy": float(logs["accuracy"]),
            "confusion": confusion.astype(int).tolist(), "num_train": float(len(splits.x_train)),
            "num_test": float(len(splits.x_test))}


def _load(path: Path) -> Any:
    import ae_core.models.zoo  # noqa: F401 (registers the custom layers a fine-tuned encoder may hold)

    return keras.saving.load_model(path, compile=True)


def _build(config: TrainConfig, num_classes: int, source_model: Path | str | None) -> Any:
    options = {"augment": config.augment, "learning_rate": config.learning_rate, "seed": config.seed,
               "optimizer": config.optimizer, "steps_per_execution": STEPS_PER_EXECUTION}
    if config.classifier == "cnn":
        return build_cnn(config.image_shape, num_classes, **options)
    from ae_core.models import load_autoencoder

    if source_model is None or not Path(source_model).is_file():
        raise RunNotFound(f"The autoencoder run {config.source_run_id} whose encoder this classifier fine-tunes has "
                          "no saved model: it was deleted or never finished.")
    encoder = load_autoencoder(source_model).encoder
    if tuple(encoder.input_shape[1:]) != tuple(config.image_shape):
        raise ValueError(f"source_run_id must name a run trained on {config.image_shape} images; run "
                         f"{config.source_run_id} takes {tuple(encoder.input_shape[1:])}")
    return encoder_classifier(encoder, num_classes, **options)
