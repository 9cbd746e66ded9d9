"""Plain records the job service hands to the pages.

These are the types of the service's reading API (see ``ae_core.service.jobs``). They
import nothing heavy, so pages and tests can build them freely, for example in
a fake job manager.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ae_core.checks import check_run_id
from ae_core.config import TrainConfig

CANCELLED_MESSAGE = "Cancelled by request."
CANCELLED_BEFORE_START_MESSAGE = "Cancelled before it started."
INTERRUPTED_MESSAGE = ("Interrupted: the server stopped while this run was training. Resume it to continue from "
                       "its last epoch checkpoint.")


class RunStatus(str, enum.Enum):
    """The life of a run. The last four are final."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"

    @property
    def is_active(self) -> bool:
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def is_resumable(self) -> bool:
        """A run that stopped before its end can be queued again and continue from its checkpoint."""
        return self in (RunStatus.INTERRUPTED, RunStatus.CANCELLED)


def stopped_status(cancel_requested: bool, *, worker_exit: str | None = None) -> tuple[RunStatus, str]:
    """How a run that stopped before its end is recorded, with the message a person reads.

    The one rule, wherever a stop is noticed (the worker's own end event, the death of its
    process, or a server that finds runs left RUNNING by a dead one): a stop that someone
    asked for is CANCELLED; any other stop came from a shutdown or a crash, so the run is
    INTERRUPTED and can be resumed.

    Args:
        cancel_requested: whether a cancel was asked for this run.
        worker_exit: how the worker process ended (``"exit code 1"``, ``"killed by SIGKILL"``)
            when it died under the run; None when the run stopped in an orderly way.

    Returns:
        ``(status, message)``.
    """
    if cancel_requested:
        forced = " (the worker was stopped by force)" if worker_exit else ""
        return RunStatus.CANCELLED, CANCELLED_MESSAGE[:-1] + forced + "."
    if worker_exit:
        return RunStatus.INTERRUPTED, (
            f"Interrupted: the worker process training this run stopped unexpectedly ({worker_exit}). Its last "
            "epoch checkpoint is kept; resume the run to continue from there.")
    return RunStatus.INTERRUPTED, INTERRUPTED_MESSAGE


def validate_run_id(run_id: object) -> str:
    """Return ``run_id`` if it is well formed.

    Raises:
        ValueError: if it is not 32 lowercase hex digits.
    """
    return check_run_id("run_id", run_id)


@dataclass(frozen=True)
class RunRecord:
    """One run as the store knows it.

    ``progress`` holds the latest ``epoch`` (epochs completed), ``step``
    (global batch count), ``num_epochs`` and ``steps_per_epoch`` once the
    worker has reported them. ``result`` holds the final test metrics
    (``test_loss``, ``test_mse``, ``test_psnr``, ``seconds``,
    ``samples_per_second``) once the run has finished. ``message`` explains a
    FAILED or INTERRUPTED run in plain words. ``cancel_requested`` is True once
    someone asked to stop it (an active run is then stopping). ``started_by`` is the
    student whose browser started it (``ae_core.access``; None when not recorded).
    """

    run_id: str
    status: RunStatus
    config: TrainConfig
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    queue_position: int | None = None
    message: str = ""
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    cancel_requested: bool = False
    started_by: str | None = None

    @property
    def is_paused(self) -> bool:
        """Trained for a while, then paused at an epoch end to let waiting runs start; it goes on by itself."""
        return self.status is RunStatus.QUEUED and self.started_at is not None

    @property
    def is_stopping(self) -> bool:
        """Asked to stop, and not stopped yet."""
        return self.cancel_requested and self.status.is_active


class DamagedRun(NamedTuple):
    """A run the store knows but cannot read, so ``list_runs`` skips it.

    ``reason`` says what is wrong in plain words (never a server path), for example
    ``"config.json is unreadable: it is nested too deeply"``. Such a run is never
    trained; it can only be deleted.
    """

    run_id: str
    reason: str


@dataclass(frozen=True)
class MetricRow:
    """One appended metric value.

    ``kind`` is ``"batch"`` for the live per-batch loss and ``"epoch"`` for
    end-of-epoch metrics. ``key`` is a Keras log key (``loss``, ``val_loss``,
    ``mse``, ``val_mse``, ``reconstruction_loss``, ``kl_loss``...). ``seq``
    increases with every row of a run, so a poller asks for rows after the
    last ``seq`` it has seen.
    """

    seq: int
    kind: str
    key: str
    value: float
    epoch: int
    step: int
    time: float


# -- resumed runs: rows superseded by a resume (see StoreSink) ----------------------------
# Metrics are append-only, so a resumed run does not delete what it recorded past its
# checkpoint: ``StoreSink`` appends a marker row of this kind at the checkpoint's epoch E, and
# readers leave out the rows it supersedes.
RESUME_KIND = "resume"


def without_superseded(metrics: list[MetricRow]) -> list[MetricRow]:
    """``metrics`` (in ``seq`` order) without resume markers and the rows a later marker supersedes.

    A marker at epoch E supersedes the earlier ``epoch`` rows past E and ``batch`` rows of epochs
    from E on (both are retrained). A marker supersedes only rows before it, so every marker that
    matters to rows after ``after_seq`` is itself after it: one backward pass over them suffices.

    Args:
        metrics: rows of one run, oldest first.

    Returns:
        The rows that still count, oldest first.
    """
    kept: list[MetricRow] = []
    resumed_from: float = float("inf")  # the lowest epoch a later marker resumed from
    for row in reversed(metrics):
        if row.kind == RESUME_KIND:
            resumed_from = min(resumed_from, row.epoch)
        elif not (row.epoch > resumed_from or (row.kind == "batch" and row.epoch == resumed_from)):
            kept.append(row)
    kept.reverse()
    return kept
