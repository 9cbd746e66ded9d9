"""Per-session memory of what a page has already read about a run.

A live page polls about once a second. Rather than re-reading a run's whole
metric series each time, it keeps a ``MetricHistory`` in ``st.session_state``
and asks the service only for rows after the last ``seq`` it has seen. The
slow 2-D projections (t-SNE, UMAP) are remembered per snapshot step in a
``ProjectionCache`` for the same reason; ``progress_bar_state`` turns a run's
record and its history into what the progress bar says. No streamlit here: plain data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ae_core.store import MetricRow, RunRecord, RunStatus

# t-SNE and UMAP take seconds on 2,000 points; while a run trains, recompute
# them at most this often so the server's CPU stays with the training.
SLOW_METHODS = ("tsne", "umap")
SLOW_REFRESH_SECONDS = 15.0


@dataclass
class MetricHistory:
    """The metric rows of one run seen so far, grouped for plotting.

    ``batch`` holds (step, loss, time) of the live per-batch loss; ``epochs``
    maps a Keras log key (``loss``, ``val_loss``...) to (epoch, step, value).
    """

    run_id: str
    last_seq: int = 0
    batch_steps: list[int] = field(default_factory=list)
    batch_losses: list[float] = field(default_factory=list)
    batch_times: list[float] = field(default_factory=list)
    epochs: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)

    def add(self, rows: Iterable[MetricRow]) -> int:
        """Append rows newer than ``last_seq``; return how many were new."""
        added = 0
        for row in rows:
            if row.seq <= self.last_seq:
                continue
            self.last_seq = row.seq
            added += 1
            if row.kind == "batch":
                self.batch_steps.append(row.step)
                self.batch_losses.append(row.value)
                self.batch_times.append(row.time)
            else:
                self.epochs.setdefault(row.key, []).append((row.epoch, row.step, row.value))
        return added

    def refresh(self, read: Callable[[str, int], list[MetricRow]]) -> int:
        """Read what is new with ``read(run_id, after_seq)`` (the service's ``metrics_since``)."""
        return self.add(read(self.run_id, self.last_seq))

    @property
    def num_points(self) -> int:
        return len(self.batch_steps) + sum(len(series) for series in self.epochs.values())

    def latest(self, metric_key: str) -> float | None:
        """The last end-of-epoch value of ``metric_key``, or None."""
        series = self.epochs.get(metric_key)
        return series[-1][2] if series else None

    def latest_batch_loss(self) -> float | None:
        return self.batch_losses[-1] if self.batch_losses else None

    def steps_per_second(self) -> float | None:
        """Training speed over the batch rows seen, or None with too little data."""
        if len(self.batch_steps) < 2:
            return None
        steps = self.batch_steps[-1] - self.batch_steps[0]
        seconds = self.batch_times[-1] - self.batch_times[0]
        return steps / seconds if steps > 0 and seconds > 0 else None


@dataclass(frozen=True)
class ProgressBarState:
    """What the progress bar of a run says: how far it is, and about how long is left."""

    fraction: float
    epoch: int
    num_epochs: int | None
    step: int
    total_steps: int | None
    seconds_left: float | None


def progress_bar_state(record: RunRecord, history: MetricHistory | None) -> ProgressBarState:
    """The progress bar's state: the position from ``record.progress``, the time left from the history's speed.

    The store writes ``progress`` in the same transaction as each batch row, so the record
    alone says where the run is; the history only tells how fast it has been going.
    """
    info = record.progress or {}
    num_epochs = info.get("num_epochs") or record.config.num_epochs
    steps_per_epoch = info.get("steps_per_epoch")
    epoch = int(info.get("epoch") or 0)
    step = int(info.get("step") or 0)
    total_steps = int(num_epochs * steps_per_epoch) if steps_per_epoch else None
    if total_steps:
        fraction = step / total_steps
    else:
        fraction = epoch / num_epochs if num_epochs else 0.0
    if record.status is RunStatus.FINISHED:
        fraction = 1.0
    speed = history.steps_per_second() if history is not None else None
    seconds_left = None
    if record.status is RunStatus.RUNNING and speed and total_steps:
        seconds_left = max(0.0, (total_steps - step) / speed)
    return ProgressBarState(min(1.0, max(0.0, fraction)), epoch, num_epochs, step, total_steps, seconds_left)


def format_seconds(seconds: float | None, *, clock: bool = False) -> str:
    """``75`` -> ``"1 min 15 s"``, or with ``clock`` ``"1:15"`` (a tile's width, even at a projector's size);
    None -> an em dash."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if clock:
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


@dataclass
class _Frame:
    step: int
    computed_at: float
    points: np.ndarray


@dataclass
class ProjectionCache:
    """The last 2-D frame per (run, method), reused until a newer snapshot is worth projecting."""

    frames: dict[tuple[str, str], _Frame] = field(default_factory=dict)

    def points(self, run_id: str, method: str, step: int, codes: np.ndarray, *, live: bool,
               project: Callable[..., np.ndarray], now: Callable[[], float] = time.monotonic) -> np.ndarray:
        """The projected points for the snapshot taken at ``step``.

        A new frame is aligned to the previous one of the same run and method,
        so the picture moves only when the codes do. While a run is ``live``,
        t-SNE and UMAP are recomputed at most every ``SLOW_REFRESH_SECONDS``.

        Raises:
            ValueError: from ``project`` (for example ``raw`` on a latent size other than 2).
        """
        frame = self.frames.get((run_id, method))
        if frame is not None and frame.step == step:
            return frame.points
        if frame is not None and live and method in SLOW_METHODS and len(frame.points) == len(codes) \
                and now() - frame.computed_at < SLOW_REFRESH_SECONDS:
            return frame.points
        previous = frame.points if frame is not None and len(frame.points) == len(codes) else None
        points = project(codes, method, previous=previous)
        self.frames[(run_id, method)] = _Frame(step, now(), points)
        return points


# The Train page polls fast while a run is next in the queue and for its first seconds of
# training: then the loss falls fastest and the snapshots come every half second
# (ae_core.training.callbacks). A run further back polls slowly: thirty students' pages
# polling four times a second for runs that wait were most of a class's server load.
# Changing the interval redraws the whole page once.
LIVE_SECONDS = 1.0
YOUNG_LIVE_SECONDS = 0.25
FAST_POLL_SECONDS = 15.0
WAITING_SECONDS = 2.0
NEXT_IN_QUEUE = 2


def poll_seconds(record: RunRecord, now: Callable[[], float] = time.time) -> float | None:
    """How often a live view of ``record`` polls: fast while the run is young, slower later, never once it ended."""
    if not record.status.is_active:
        return None
    if record.status is RunStatus.QUEUED and (record.queue_position or 0) > NEXT_IN_QUEUE:
        return WAITING_SECONDS
    young = record.started_at is None or now() - record.started_at < FAST_POLL_SECONDS
    return YOUNG_LIVE_SECONDS if young else LIVE_SECONDS
