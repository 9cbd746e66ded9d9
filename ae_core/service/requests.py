"""The rules for what a person may ask of the job service, beyond a config's own checks.

``JobManager`` applies them before it touches a run, and the pages' fake job manager in the
tests imports the same functions, so a page test meets the real words of a refusal.
"""

from __future__ import annotations

from ae_core.access import Actor
from ae_core.changes import FIELD_WORDS, check_change
from ae_core.config import TrainConfig
from ae_core.store import RunRecord, RunStatus


def check_may_act(run_id: str, started_by: str | None, actor: Actor, what: str) -> None:
    """A student acts only on their own runs; the teacher (and the lab's owner) on any.

    Args:
        run_id: the run asked about.
        started_by: the student who started it (None: the lab's owner, before any class).
        actor: who asks.
        what: the request in words ("stop", "delete"), for the message.

    Raises:
        PermissionError: in plain words, when ``actor`` may not act on the run.
    """
    if not actor.may_act_on(started_by):
        raise PermissionError(f"You can only {what} your own runs; run {run_id[:8]} was started by someone "
                              "else. Ask your teacher if it needs to be done.")


def check_may_change(record: RunRecord, field: str, value: object) -> float:
    """The rule for a change while a run trains (``JobManager.change``): the run trains now, and the value is allowed.

    Returns:
        The value, as a float.

    Raises:
        ValueError: in plain words, for a run that is not training now (queued, paused, stopping,
            ended), a field the run does not have, or a value out of range (naming the field).
    """
    run = record.run_id[:8]
    if record.is_paused:
        raise ValueError(f"Run {run} is paused so that a waiting run could start; change its "
                         f"{FIELD_WORDS.get(field, field)} when it trains again.")
    if record.status is not RunStatus.RUNNING or record.is_stopping:
        state = "stopping" if record.is_stopping else f"{record.status.value.lower()}, not training"
        raise ValueError(f"Only a run that is training can be changed; run {run} is {state}.")
    return check_change(record.config, field, value)


def check_source(config: TrainConfig, source: RunRecord, has_model: bool) -> None:
    """A classifier fine-tunes the encoder of a finished autoencoder run on images of its shape.

    Args:
        config: the classifier's config (its ``source_run_id`` names ``source``).
        source: the source run.
        has_model: whether the source run's final model is in the store.

    Raises:
        ValueError: naming ``source_run_id``, for a classifier run, a run that did not finish
            with a saved model, or a run trained on images of another shape.
    """
    source_id = source.run_id
    if source.config.task != "reconstruct":
        raise ValueError(f"source_run_id must name an autoencoder run; run {source_id} is a classifier run")
    if source.status is not RunStatus.FINISHED or not has_model:
        raise ValueError(f"source_run_id must name a FINISHED autoencoder run with a saved model; run "
                         f"{source_id} is {source.status.value}")
    if source.config.image_shape != config.image_shape:
        raise ValueError(f"source_run_id must name a run trained on {config.image_shape} images; run "
                         f"{source_id} was trained on {source.config.image_shape}")
