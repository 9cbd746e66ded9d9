"""The events a training run sends, as plain dicts (see docs/DESIGN.md, "training"), and its result.

Every trainer builds its ``start`` and ``end`` events here and nowhere else, returns a
``TrainResult``, and the job service reads the outcome names from here, so the event
format is written down once. This module imports nothing heavy: the service and the web
server use it without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]

FINISHED, STOPPED, FAILED = "finished", "stopped", "failed"
# Paused at an epoch end (just checkpointed) so that a waiting run can start; it goes on later.
PAUSED = "paused"
OUTCOMES = (FINISHED, STOPPED, FAILED, PAUSED)


@dataclass(frozen=True)
class TrainResult:
    """How a run ended.

    ``status`` is ``"finished"``, ``"stopped"``, ``"failed"`` or ``"paused"``, with a ``message`` for
    people. ``metrics`` always holds ``seconds``, ``samples_per_second`` and
    ``epochs_completed``, and once the run finished its test figures (an autoencoder's
    ``test_loss``, ``test_mse``, ``test_psnr``; a classifier's ``test_loss``,
    ``test_accuracy``, ``confusion``, ``num_train``, ``num_test``). ``model`` is what was
    trained: an ``ae_core.models.Autoencoder`` bundle or a Keras classifier.
    """

    status: str
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)
    model: Any = None


def never_stop() -> bool:
    """The default ``should_stop``: train to the end."""
    return False


def ignore_event(event: Event) -> None:
    """The default ``on_event``: nobody is watching."""
    del event


def start_event(num_epochs: int, steps_per_epoch: int, initial_epoch: int, num_train: int,
                image_shape: tuple[int, ...], class_names: tuple[str, ...]) -> Event:
    """The ``start`` event every run sends first."""
    return {"type": "start", "num_epochs": num_epochs, "steps_per_epoch": steps_per_epoch,
            "initial_epoch": initial_epoch, "num_train": num_train, "image_shape": list(image_shape),
            "class_names": list(class_names), "time": 0.0}


def change_event(change: Any, time: float) -> Event:
    """The ``change`` event of a setting changed while the run trains (an ``ae_core.changes.Change``)."""
    return {"type": "change", "epoch": change.epoch, "step": change.step, "field": change.field,
            "value": change.value, "time": time}


def end_event(status: str, message: str, result: dict[str, Any] | None, time: float = 0.0) -> Event:
    """The ``end`` event every run sends last: its outcome, a message for people, and its result figures."""
    if status not in OUTCOMES:
        raise ValueError(f"status must be one of {', '.join(map(repr, OUTCOMES))}; got {status!r}")
    return {"type": "end", "status": status, "message": message, "result": None if result is None else dict(result),
            "time": time}
