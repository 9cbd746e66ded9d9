"""Slow projections (t-SNE, UMAP) of every frame of a time-lapse: computed once, in the background.

t-SNE of one frame of a thousand codes takes about a second, and a time-lapse has up to a
hundred frames: far too long for a page run, which would hold the person's page (and, with
thirty students, the server). The page asks ``TimelapseProjections.request`` instead, which
answers at once: the projected frames if they are ready (in memory, or cached on disk in the
run folder), else how far a background thread has got. One shared instance (behind
``st.cache_resource``) guards each cache file with one job, so two sessions that open the same
run's time-lapse never compute it twice; the cache file remembers the frames' steps, so a
run whose frames changed is projected afresh. No streamlit here: plain threads and files.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ae_core.analysis import projection
from ae_core.store import artifacts

LOGGER = logging.getLogger("ae_lab_ui")


@dataclass
class ProjectionJob:
    """One method's projection of one run's frames: how far it got, and its result or error once done."""

    steps: tuple[int, ...]
    done: int = 0
    points: np.ndarray | None = None  # (frames, n, 2) once ready
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def total(self) -> int:
        return len(self.steps)


def _start_thread(target: Callable[[], None]) -> None:
    threading.Thread(target=target, name="timelapse-projection", daemon=True).start()


class TimelapseProjections:
    """The background projections of time-lapses, one job per cache file (thread-safe).

    Args:
        project_frames: ``projection.project_frames`` (tests count its calls).
        start: runs a job's work; a daemon thread by default.
    """

    def __init__(self, project_frames: Callable[..., np.ndarray] = projection.project_frames,
                 start: Callable[[Callable[[], None]], None] = _start_thread) -> None:
        self._project_frames = project_frames
        self._start = start
        self._lock = threading.Lock()
        self._jobs: dict[Path, ProjectionJob] = {}

    def request(self, cache_path: Path, method: str, steps: Sequence[int],
                frames: Sequence[np.ndarray]) -> ProjectionJob:
        """The projection of ``frames`` (taken at ``steps``) with ``method``: ready, cached, or started now.

        Returns:
            The job: ``points`` is set once it is ready, ``error`` if it failed; otherwise
            ``done`` of ``total`` frames are projected so far.
        """
        steps = tuple(int(step) for step in steps)
        with self._lock:
            job = self._jobs.get(cache_path)
            if job is not None and (job.steps == steps or not job.finished.is_set()):
                return job  # the same frames, or another job still busy on this file: never two at once
            job = ProjectionJob(steps)
            cached = artifacts.read_npz(cache_path)
            if cached is not None and tuple(np.asarray(cached.get("steps")).tolist()) == steps:
                job.points, job.done = np.asarray(cached["points"], dtype=np.float32), len(steps)
                job.finished.set()
            self._jobs[cache_path] = job
        if not job.finished.is_set():
            self._start(lambda: self._run(job, cache_path, method, list(frames)))
        return job

    def _run(self, job: ProjectionJob, cache_path: Path, method: str, frames: list[np.ndarray]) -> None:
        from threadpoolctl import threadpool_limits

        from ae_lab_ui.warmup import lower_thread_priority

        lower_thread_priority()
        try:
            with threadpool_limits(1):  # the training workers have the cores; one is plenty here
                points = self._project_frames(frames, method, on_frame=lambda done: setattr(job, "done", done))
            if cache_path.parent.parent.is_dir():  # the run folder; a deleted run gets no new one
                cache_path.parent.mkdir(exist_ok=True)
                artifacts.write_npz_atomic(cache_path, {"steps": np.asarray(job.steps), "points": points})
            job.points = points
        except Exception as error:  # noqa: BLE001 - any failure is the page's message, never a dead thread
            LOGGER.exception("time-lapse: the %s projection of %s failed", method, cache_path.parent.parent.name)
            job.error = f"{type(error).__name__}: {error}"
        finally:
            job.finished.set()
