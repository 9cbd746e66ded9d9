"""Changes made while a run trains: its learning rate, a VAE's β, a denoising run's noise level.

A change is asked for from the Train page (``JobManager.change``), reaches the worker, and
takes effect at the run's next batch (``ae_core.training.live_changes``). The worker then sends
a ``change`` event, and the store appends the change to the run's ``config.json``
(``TrainConfig.changes``), so the run's history says what it trained with, a resumed run
replays it, and the exported script can write it out as a schedule (``schedule``).

This module imports nothing heavy (no TensorFlow, no Streamlit), and nothing of
``ae_core.config`` at run time: ``TrainConfig`` validates its changes with ``check_changes``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

from ae_core.checks import check_choice, check_int, fail
from ae_core.config_json import coerce_fields

if typing.TYPE_CHECKING:
    from ae_core.config import TrainConfig

CHANGEABLE = ("learning_rate", "beta", "noise_level")
# A change is a click; two hundred fit a config.json many times over (about 70 bytes each).
MAX_CHANGES = 200
FIELD_WORDS = {"learning_rate": "learning rate", "beta": "β", "noise_level": "noise level"}


@dataclass(frozen=True)
class Change:
    """One change: from global step ``step`` (batches done when it took effect), in epoch
    ``epoch`` (0-based, in progress), ``field`` became ``value``.

    Raises:
        ValueError: naming the field, for a step or epoch that is not a whole number >= 0,
            a field not in ``CHANGEABLE`` or a value that is not a finite number.
    """

    step: int
    epoch: int
    field: str
    value: float

    def __post_init__(self) -> None:
        check_int("step", self.step, 0)
        check_int("epoch", self.epoch, 0)
        check_choice("field", self.field, CHANGEABLE)
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) or not math.isfinite(self.value):
            fail("value", self.value, "a finite number")

    @classmethod
    def from_dict(cls, data: object) -> Change:
        """A change from its ``config.json`` form (``{"step", "epoch", "field", "value"}``). Raises ValueError."""
        values = coerce_fields(cls, data, "changes item")
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in values]
        if missing:
            fail("changes item", data, "a mapping with step, epoch, field and value")
        return cls(**values)


def changeable_fields(config: TrainConfig) -> tuple[str, ...]:
    """The settings of ``config``'s run that can change while it trains (none for a classifier)."""
    if config.task != "reconstruct":
        return ()
    model = config.model
    return ("learning_rate",) + (("beta",) if model.is_variational else ()) + \
        (("noise_level",) if model.noise != "none" else ())


def check_change(config: TrainConfig, field: str, value: object) -> float:
    """Check that ``field`` of ``config``'s run may become ``value``, by the config's own rules.

    Returns:
        The value as a float.

    Raises:
        ValueError: naming the field and what is allowed: a field the run does not have
            (β of a plain autoencoder), or a value the config would refuse.
    """
    allowed = changeable_fields(config)
    if not allowed:
        raise ValueError("Only an autoencoder run can be changed while it trains; this is a classifier run.")
    if field not in allowed:
        fail("field", field, f"one of {', '.join(map(repr, allowed))} for this run")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(field, value, "a number")
    # The config's validators say what is allowed (and name the field): one rule, written once.
    if field == "learning_rate":
        dataclasses.replace(config, learning_rate=value, changes=())
    else:
        dataclasses.replace(config.model, **{field: value})
    return float(value)


def check_changes(config: TrainConfig) -> None:
    """``TrainConfig``'s rule for its ``changes``: at most ``MAX_CHANGES`` ``Change`` items the run allows.

    Raises:
        ValueError: naming ``changes`` or the field of the first bad change.
    """
    changes = config.changes
    if not isinstance(changes, tuple) or not all(isinstance(change, Change) for change in changes):
        fail("changes", changes, "a list of changes ({step, epoch, field, value})")
    if len(changes) > MAX_CHANGES:
        fail("changes", f"{len(changes)} changes", f"at most {MAX_CHANGES}")
    for change in changes:
        check_change(config, change.field, change.value)


def effective_changes(changes: typing.Sequence[Change]) -> list[Change]:
    """The changes that shaped the run, by step, from its history in the order they were recorded.

    A run that resumed from a checkpoint trained past the same steps again; a change
    recorded then, at step S, replaces the earlier-recorded changes of that field at S or
    later (they were in the part that was trained again, and were not replayed past it).
    """
    kept: list[Change] = []
    for change in changes:
        kept = [old for old in kept if old.field != change.field or old.step < change.step]
        kept.append(change)
    return sorted(kept, key=lambda change: change.step)


def configured_value(config: TrainConfig, field: str) -> float:
    """The value ``field`` was set to at submit, before any change."""
    return float(config.learning_rate if field == "learning_rate" else getattr(config.model, field))


def value_at(config: TrainConfig, field: str, step: int) -> float:
    """The value ``field`` had once ``step`` batches were done (its configured value before any change)."""
    value = configured_value(config, field)
    for change in effective_changes(config.changes):
        if change.field == field and change.step <= step:
            value = change.value
    return value


def schedule(config: TrainConfig) -> dict[str, list[tuple[int, float]]]:
    """The run's schedule of the settings it changed while training, for a script to replay.

    Returns:
        For each field in ``CHANGEABLE`` the run changed (none: ``{}``), a list of
        ``(step, value)`` pairs in increasing step order: the first is ``(0, the configured
        value)``, and each later one means "from global step ``step`` on (that many batches
        done, counted over all epochs, so step ``s`` is batch ``s % steps_per_epoch`` of epoch
        ``s // steps_per_epoch``), ``field`` is ``value``". Later changes at the same step win,
        so steps are distinct. The values are those ``Keras`` gets: the optimizer's learning
        rate, the VAE's β (weight of the KL term), the noise layer's stddev (Gaussian) or rate
        (masking).
    """
    result: dict[str, list[tuple[int, float]]] = {}
    for change in effective_changes(config.changes):
        entries = result.setdefault(change.field, [(0, configured_value(config, change.field))])
        if entries[-1][0] == change.step:
            entries.pop()
        entries.append((change.step, change.value))
    return result
