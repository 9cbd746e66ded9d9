"""The Keras callback that applies a run's changes at the next batch, and replays them on resume.

Changes (``ae_core.changes``) come two ways: asked for while the run trains (``take_changes``
returns them, as the worker receives them from the job service), or already in the run's
history (``TrainConfig.changes``) when it resumes. At the start of training every changeable
setting is set to its value at the step the run starts from (a checkpoint restores the
optimizer's learning rate, but β and the noise level live outside the saved weights, and a
reused or paused model may hold another run's values); the history's later changes are then
replayed at their steps without being recorded again. A new change is applied before the next
batch (before the next execution of ``STEPS_PER_EXECUTION`` batches), and sent as one
``change`` event, which the store records in the run's ``config.json``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import keras

from ae_core.changes import MAX_CHANGES, Change, check_change, effective_changes, value_at
from ae_core.config import TrainConfig
from ae_core.training.callbacks import RunState
from ae_core.training.events import Event, change_event

logger = logging.getLogger(__name__)

ChangeSource = Callable[[], list[tuple[str, float]]]


def no_changes() -> list[tuple[str, float]]:
    """The default ``take_changes``: nothing is changed while the run trains."""
    return []


class LiveChanges(keras.callbacks.Callback):
    """Assign changed settings to the model's variables at the next batch (see the module).

    Args:
        state: the run's ``RunState`` (its step and epoch), kept by the callback placed first.
        config: the run's config, with the history of its changes.
        variables: the variables to assign, by field (``ae_core.models.live_settings``).
        take_changes: returns the ``(field, value)`` pairs asked for since it was last called.
        on_event: receives a ``change`` event for each change applied.
    """

    def __init__(self, state: RunState, config: TrainConfig, variables: dict[str, Any],
                 take_changes: ChangeSource, on_event: Callable[[Event], None]) -> None:
        super().__init__()
        self.state, self.config, self.variables = state, config, variables
        self.take_changes, self.on_event = take_changes, on_event
        self.recorded = len(config.changes)
        self.replay: list[Change] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        start = self.state.step
        for field, variable in self.variables.items():
            variable.assign(value_at(self.config, field, start))
        self.replay = [change for change in effective_changes(self.config.changes)
                       if change.step > start and change.field in self.variables]

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        step = self.state.step
        while self.replay and self.replay[0].step <= step:
            change = self.replay.pop(0)
            self.variables[change.field].assign(change.value)
        for field, value in self.take_changes():
            self._apply_new(field, value, step)

    def _apply_new(self, field: str, value: float, step: int) -> None:
        try:
            value = check_change(self.config, field, value)
        except ValueError as error:  # the service checked it already; a bad one is dropped, not fatal
            logger.warning("A change was dropped: %s", error)
            return
        if field not in self.variables or self.recorded >= MAX_CHANGES:
            logger.warning("A change of %s was dropped: %s", field, "the model has no such setting"
                           if field not in self.variables else f"the run has {MAX_CHANGES} changes already")
            return
        self.variables[field].assign(value)
        # A replay of this field still ahead came from a part of the run trained again; this change replaces it.
        self.replay = [c for c in self.replay if c.field != field]
        self.recorded += 1
        self.on_event(change_event(Change(step=step, epoch=self.state.epoch, field=field, value=value),
                                   self.state.elapsed()))
