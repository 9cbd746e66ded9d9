"""The time-lapse view of an ended run: how its clusters formed and its reconstructions sharpened.

One animated Plotly figure (``timelapse_figure``) holds the latent map beside the reconstruction
grid, with a frame slider and a play button that run in the browser. PCA (or the raw 2-D codes)
is projected here at once; t-SNE and UMAP of every frame take a minute or two, so they are
computed once in a background thread shared by every session (``timelapse_jobs``) and kept in
the run folder; until then the page says how far that has got and shows the PCA time-lapse.
A button exports the time-lapse as an animated GIF for slides (``timelapse_gif``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st
from threadpoolctl import threadpool_limits

from ae_core.analysis import projection
from ae_core.data import DATASETS
from ae_core.store import RunRecord
from ae_lab_ui import views
from ae_lab_ui.history import SLOW_METHODS
from ae_lab_ui.services import JobService, attempt, show_error
from ae_lab_ui.timelapse_figure import Timelapse, timelapse_figure, timelapse_frames
from ae_lab_ui.timelapse_gif import timelapse_gif
from ae_lab_ui.timelapse_jobs import ProjectionJob, TimelapseProjections

# While a slow projection is computed, the page looks again this often.
PROGRESS_SECONDS = 1.0


@st.cache_resource
def shared_projections() -> TimelapseProjections:
    """The one registry of background projections of this server (so no two sessions compute the same)."""
    return TimelapseProjections()


# The Runs page redraws every few seconds: reading a hundred frames, projecting and drawing them
# each time would cost the server about a second per watching tab. An ended run's frames stay as
# they are until it ends again (a resumed run), so they are kept by (run, when it ended).
@st.cache_resource(max_entries=8)
def _frames(_manager: JobService, run_id: str, finished_at: float) -> Timelapse | None:
    """The frames of an ended run, or None when it kept none."""
    latent = _manager.snapshot_history(run_id, "latent")
    return timelapse_frames(latent, _manager.snapshot_history(run_id, "reconstruction")) if latent else None


@st.cache_resource(max_entries=8)
def _fast_points(_timelapse: Timelapse, run_id: str, method: str, finished_at: float) -> np.ndarray:
    """Every frame projected with a fast method (PCA, or the raw 2-D codes)."""
    with threadpool_limits(limits=1):  # the training workers have the cores
        return projection.project_frames(_timelapse.codes, method)


@st.cache_resource(max_entries=8)
def _figure(_timelapse: Timelapse, _points: np.ndarray, run_id: str, method: str, finished_at: float,
            dataset: str) -> dict[str, Any]:
    """The animated figure of an ended run's frames projected with ``method`` (the same until it changes)."""
    return timelapse_figure(_timelapse, _points, DATASETS[dataset].class_names, run_id=run_id,
                            method_title=projection.METHOD_TITLES[method])


def _watch_progress(job: ProjectionJob, method_title: str, fallback_title: str, key_prefix: str) -> None:
    """Say how far the background projection has got; redraw the page once it is ready."""
    def progress() -> None:
        if job.finished.is_set():
            st.rerun(scope="app")
        st.progress(job.done / max(job.total, 1),
                    text=f"Computing the {method_title} of all {job.total} frames in the background: {job.done} done. "
                         f"It is computed once and kept; the {fallback_title} time-lapse is shown meanwhile.")

    with st.container(key=f"{key_prefix}_timelapse_progress"):
        st.fragment(progress, run_every=PROGRESS_SECONDS)()


def _points(manager: JobService, record: RunRecord, timelapse: Timelapse, method: str,
            key_prefix: str) -> tuple[np.ndarray, str]:
    """The frames' points, and the method they were projected with (PCA while a slow one is computed)."""
    fast = projection.available_methods(record.config.model.latent_dim)[0]
    finished_at = float(record.finished_at or 0.0)
    if method not in SLOW_METHODS:
        return _fast_points(timelapse, record.run_id, method, finished_at), method
    path = manager.projection_cache_path(record.run_id, method)
    job = shared_projections().request(path, method, timelapse.steps, timelapse.codes)
    if job.points is not None:
        return job.points, method
    title, fast_title = projection.METHOD_TITLES[method], projection.METHOD_TITLES[fast]
    if job.error is not None:
        st.error(f"The {title} time-lapse could not be computed ({job.error}); the {fast_title} one is shown.",
                 icon=":material/error:")
    else:
        _watch_progress(job, title, fast_title, key_prefix)
    return _fast_points(timelapse, record.run_id, fast, finished_at), fast


def render_timelapse(manager: JobService, record: RunRecord, *, key_prefix: str) -> None:
    """The time-lapse of an ended autoencoder run: projection picker, animated map and grid, GIF export."""
    if record.config.task != "reconstruct":
        return
    with st.container(key=f"{key_prefix}_timelapse"):
        st.markdown("#### :material/movie: Time-lapse")
        if record.status.is_active:
            st.info("The time-lapse of this run, how its latent map formed and its reconstructions sharpened, "
                    "appears here once it has ended.", icon=":material/movie:")
            return
        finished_at = float(record.finished_at or 0.0)
        try:
            timelapse = _frames(manager, record.run_id, finished_at)
        except Exception as error:  # noqa: BLE001 - said in words, as attempt() does
            show_error(error, what="read the time-lapse")
            return
        if timelapse is None:
            st.info("This run kept no time-lapse (runs trained before the time-lapse existed have none).",
                    icon=":material/movie:")
            return
        latent_dim = record.config.model.latent_dim
        methods = projection.available_methods(latent_dim)
        method = st.segmented_control(
            "Projection", methods, default=methods[0], required=True, format_func=projection.METHOD_TITLES.get,
            key=f"{key_prefix}_timelapse_method_{'2d' if latent_dim == 2 else 'nd'}",
            help="t-SNE and UMAP of every frame take a minute or two the first time; they are kept afterwards.")
        found = attempt(lambda: _points(manager, record, timelapse, method, key_prefix),
                        what="prepare the time-lapse")
        if found is None:
            return
        points, shown = found
        title = projection.METHOD_TITLES[shown]
        spec = attempt(lambda: _figure(timelapse, points, record.run_id, shown, finished_at, record.config.dataset),
                       what="draw the time-lapse")
        if spec is None:
            return
        views.plot(spec, key=f"{key_prefix}_timelapse_chart")
        st.caption(f"{len(timelapse)} snapshots taken while the run trained. Press **▶ Play** or drag the slider: "
                   "each frame is aligned to the one before, so points move only when their codes move. "
                   "Right: the reconstructions at the same moment (originals above).")
        st.download_button(
            "Download as GIF", data=lambda: timelapse_gif(timelapse, points, method_title=title,
                                                          class_names=DATASETS[record.config.dataset].class_names),
            file_name=f"timelapse-{record.run_id[:6]}-{shown}.gif", mime="image/gif", on_click="ignore",
            icon=":material/download:", key=f"{key_prefix}_timelapse_gif",
            help="An animated GIF of the map and the reconstructions, for slides.")
