"""Training: ``train(config, ...)`` runs any ``TrainConfig`` with live events.

``train`` is defined here, importing nothing heavy, so the job service can name it as its
default trainer without loading TensorFlow in the web server; it dispatches on
``config.task`` to the autoencoder trainer or the classifier trainer, which share the
live fit, the events and the checkpoints of ``fit`` and ``callbacks``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ae_core.config import TrainConfig
from ae_core.lazy import lazy_exports
from ae_core.training.events import (FAILED, FINISHED, PAUSED, STOPPED, Event, TrainResult, end_event,
                                     ignore_event, never_stop, start_event)

if TYPE_CHECKING:
    from ae_core.data import Splits
    from ae_core.training.autoencoder import evaluate, psnr_from_mse, train_autoencoder, without_class
    from ae_core.training.classifier import evaluate_classifier, train_classifier

__getattr__, __dir__, _lazy = lazy_exports(__name__, {
    "autoencoder": ("evaluate", "psnr_from_mse", "train_autoencoder", "without_class"),
    "classifier": ("evaluate_classifier", "train_classifier"),
})
__all__ = ["Event", "FAILED", "FINISHED", "PAUSED", "STOPPED", "TrainResult", "end_event", "start_event", "train", *_lazy]


def train(config: TrainConfig, on_event: Callable[[Event], None] = ignore_event,
          should_stop: Callable[[], bool] = never_stop, *, checkpoint_dir: Path | str | None = None,
          resume: bool = False, splits: Splits | None = None,
          source_model: Path | str | None = None, should_pause: Callable[[], bool] = never_stop,
          take_changes: Callable[[], list[tuple[str, float]]] | None = None) -> TrainResult:
    """Train what ``config`` describes (an autoencoder, or a classifier for ``task="classify"``), with live events.

    Args:
        config: the whole run.
        on_event: receives each event dict (``start``, ``batch``, ``epoch``,
            ``reconstruction`` and ``latent`` for autoencoders, and a last ``end``).
        should_stop: polled after every few batches; True stops cleanly.
        checkpoint_dir: where to keep a checkpoint at each epoch end.
        resume: continue from the checkpoint in ``checkpoint_dir``, if there is one.
        splits: already loaded data (tests pass tiny data); by default the
            dataset named in ``config`` is loaded.
        source_model: for a classifier fine-tuning an encoder, the ``model.keras``
            of run ``config.source_run_id``.
        should_pause: polled at each epoch end (but the last); True ends the run there,
            checkpointed, with the status ``"paused"``, to be resumed later.
        take_changes: polled before every few batches of an autoencoder run: the
            ``(field, value)`` changes asked for since (``ae_core.changes``), applied at once
            and sent as ``change`` events. A classifier run takes none.

    Returns:
        A ``TrainResult``. A diverging loss or a stop request is a result, not an exception.

    Raises:
        DatasetUnavailable: when the dataset is not on this machine.
        RunNotFound: for a classifier whose source model is missing.
    """
    options = dict(checkpoint_dir=checkpoint_dir, resume=resume, splits=splits, should_pause=should_pause)
    if config.task == "classify":
        from ae_core.training.classifier import train_classifier

        return train_classifier(config, on_event, should_stop, source_model=source_model, **options)
    from ae_core.training.autoencoder import train_autoencoder

    return train_autoencoder(config, on_event, should_stop, take_changes=take_changes, **options)
