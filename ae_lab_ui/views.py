"""Streamlit views of one run, shared by the Train page (live) and the Runs page (final).

Each view takes what the service returned and draws it; reading is left to
the caller, so a live fragment can read incrementally. Elements that tests
and the browser look for sit in keyed containers (``st-key-<prefix>_loss``...).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import time
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from threadpoolctl import ThreadpoolController

from ae_core.analysis import projection
from ae_core.data import DATASETS
from ae_core.store import RunRecord, RunStatus
from ae_lab_ui import classify_views, diagnostics_view, figures, form, link_state
from ae_lab_ui.history import SLOW_METHODS, MetricHistory, ProjectionCache, format_seconds, progress_bar_state
from ae_lab_ui.services import JobService, attempt

STATUS_WORDS = {
    RunStatus.QUEUED: ("Queued", "gray", ":material/hourglass_top:"),
    RunStatus.RUNNING: ("Training", "blue", ":material/model_training:"),
    RunStatus.FINISHED: ("Finished", "green", ":material/check_circle:"),
    RunStatus.FAILED: ("Failed", "red", ":material/error:"),
    RunStatus.CANCELLED: ("Stopped", "orange", ":material/stop_circle:"),
    RunStatus.INTERRUPTED: ("Interrupted", "violet", ":material/warning:"),
}


@functools.cache
def _math_threads() -> ThreadpoolController:
    # A controller sees only the math libraries loaded when it is made, so
    # load scikit-learn's (and SciPy's) first: the projections use them.
    import sklearn.decomposition  # noqa: F401

    return ThreadpoolController()


def plot(spec: figures.Figure, *, key: str, **options: Any) -> Any:
    """Draw a figure spec (a plain dict, as every figure function of ``ae_lab_ui`` returns).

    The spec is wrapped without validation: the figure functions build it, their tests
    check it, and validating again would cost tens of milliseconds per rerun. Every chart
    gets the one toolbar, ``figures.PLOT_CONFIG``; ``options`` go to ``st.plotly_chart``
    (``on_select`` for a clickable map), whose return value is returned.
    """
    if link_state.presenting():
        spec = figures.for_projector(spec)
    return st.plotly_chart(go.Figure(figures.typed_arrays(spec), _validate=False), key=key, config=figures.PLOT_CONFIG,
                           **options)


# A run asked to stop shows this at once, until its worker confirms (a second or two later).
STOPPING_WORDS = ("Stopping…", "orange", ":material/pending:")
# A run that paused at an epoch end so that waiting runs could start (it goes on by itself).
PAUSED_WORDS = ("Paused", "gray", ":material/pause_circle:")


def _words(record: RunRecord) -> tuple[str, str, str]:
    if record.is_stopping:
        return STOPPING_WORDS
    return PAUSED_WORDS if record.is_paused else STATUS_WORDS[record.status]


def status_word(record: RunRecord) -> str:
    """The run's state in one word ("Training", "Stopping…", "Finished")."""
    return _words(record)[0]


def status_badge(record: RunRecord) -> str:
    """Markdown for a coloured status badge."""
    word, colour, _ = _words(record)
    return f":{colour}-badge[{word}]"


def run_label(record: RunRecord) -> str:
    """A label that tells runs apart in every run picker: when, a short id, what it is, its state.

    Two runs of the same setup differ in time and id; ``form.describe`` names what sets a
    run apart from its parent (a held-out class, noise, β).
    """
    when = datetime.datetime.fromtimestamp(record.created_at).strftime("%d %b %H:%M:%S")
    return f"{when} · {record.run_id[:6]} · {form.describe(record.config)} · {status_word(record)}"


def duration(record: RunRecord) -> float | None:
    """Seconds the run has trained so far (or in all, once it is over)."""
    if record.started_at is None:
        return None
    end = record.finished_at if record.finished_at is not None else time.time()
    return max(0.0, end - record.started_at)


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render_status(record: RunRecord, history: MetricHistory | None) -> None:
    """Metric tiles, the progress bar, and the run's state in plain words."""
    progress = progress_bar_state(record, history)
    train_loss = history.latest("loss") if history else None
    if train_loss is None and history is not None:
        train_loss = history.latest_batch_loss()
    val_loss = history.latest("val_loss") if history else None
    result = record.result or {}
    tiles = st.columns(5)
    tiles[0].metric("Status", status_word(record), border=True)
    epochs = f"{progress.epoch} / {progress.num_epochs}" if progress.num_epochs else str(progress.epoch)
    tiles[1].metric("Epochs done", epochs, border=True)
    tiles[2].metric("Train loss", _number(train_loss), border=True)
    if record.status is RunStatus.FINISHED and "test_accuracy" in result:
        tiles[3].metric("Test accuracy", f"{result['test_accuracy']:.1%}", border=True)
        tiles[4].metric("Test loss", _number(result.get("test_loss")), border=True)
    elif record.status is RunStatus.FINISHED and "test_mse" in result:
        tiles[3].metric("Test MSE", _number(result.get("test_mse"), 5), border=True)
        psnr = result.get("test_psnr")
        tiles[4].metric("Test PSNR", "—" if psnr is None else f"{psnr:.1f} dB", border=True)
    else:
        tiles[3].metric("Validation loss", _number(val_loss), border=True)
        tiles[4].metric("Time left" if record.status.is_active else "Trained for",
                        format_seconds(progress.seconds_left if record.status.is_active else duration(record),
                                       clock=True),
                        border=True)
    steps = f"step {progress.step:,}" + (f" of {progress.total_steps:,}" if progress.total_steps else "")
    epoch_text = f"epoch {min(progress.epoch + 1, progress.num_epochs or progress.epoch + 1)} of {progress.num_epochs}"
    left = f" · about {format_seconds(progress.seconds_left)} left" if progress.seconds_left is not None else ""
    st.progress(progress.fraction, text=f"{status_word(record)}: {epoch_text} · {steps}{left}")
    if record.status is RunStatus.QUEUED:
        place = f" (place {record.queue_position} in the queue)" if record.queue_position else ""
        if record.is_paused:
            st.info(f"Paused after epoch {progress.epoch} so that runs still waiting could start; it goes on by "
                    f"itself from there{place}.", icon=":material/pause_circle:")
        else:
            st.info(f"Waiting for a free worker{place}. It starts by itself.", icon=":material/hourglass_top:")
    elif record.status is RunStatus.FAILED:
        st.error(f"This run failed: {record.message or 'no reason was recorded.'}", icon=":material/error:")
    elif record.status is RunStatus.INTERRUPTED:
        st.warning(f"This run was interrupted: {record.message or 'its worker stopped.'} "
                   "You can resume it from its last finished epoch on the Runs page.", icon=":material/warning:")
    elif record.status is RunStatus.CANCELLED:
        st.info("This run was stopped before the end.", icon=":material/stop_circle:")


def render_loss(record: RunRecord, history: MetricHistory, *, key_prefix: str) -> None:
    """The loss curve, with its log-scale toggle and zoom above it."""
    with st.container(key=f"{key_prefix}_loss_curve"):
        if not history.num_points:
            st.info("The loss curve starts with the first batches.", icon=":material/show_chart:")
            return
        steps_per_epoch = (record.progress or {}).get("steps_per_epoch")
        with st.container(horizontal=True, vertical_alignment="center", key=f"{key_prefix}_loss_controls"):
            log_scale = st.toggle("Log scale", key=f"{key_prefix}_log_scale")
            window = zoom_window(record, steps_per_epoch, key_prefix=key_prefix)
        plot(figures.loss_figure(history, steps_per_epoch, log_scale=log_scale, window=window,
                                 changes=record.config.changes),
             key=f"{key_prefix}_loss_chart")


def zoom_window(record: RunRecord, steps_per_epoch: int | None, *, key_prefix: str) -> tuple[float, float] | None:
    """The loss curve's zoom: a slider over the run's epochs, in a popover (None while it shows them all).

    A widget keeps its value through every live update, which a drag zoom in Streamlit
    1.67 does not (see ``figures.loss_figure``). One slider per run, so a new run starts whole.
    """
    if not steps_per_epoch:
        return None
    num_epochs = float(record.config.num_epochs)
    with st.popover("Zoom", icon=":material/zoom_in:"):
        low, high = st.slider("Epochs shown", 0.0, num_epochs, (0.0, num_epochs), step=num_epochs / 100,
                              key=f"{key_prefix}_loss_zoom_{record.run_id}", format="%.1f",
                              help="Drag either end to look closely at part of the curve; the zoom stays while "
                                   "the run trains.")
    return None if (low, high) == (0.0, num_epochs) else (low, high)


def render_reconstructions(snapshot: dict[str, Any] | None, *, key_prefix: str) -> None:
    with st.container(key=f"{key_prefix}_reconstruction_grid"):
        st.markdown("**Reconstructions**")
        if snapshot is None:
            st.info("Reconstructions appear after the first seconds of training.", icon=":material/image:")
            return
        grid = attempt(lambda: figures.reconstruction_grid(snapshot), what="draw the reconstructions")
        if grid is not None:
            st.image(grid, caption=figures.grid_caption(snapshot), width="stretch", output_format="PNG")


def render_latent(record: RunRecord, snapshot: dict[str, Any] | None, cache: ProjectionCache, *, key_prefix: str,
                  live: bool) -> None:
    """The 2-D latent map with its method picker (raw for a 2-D code, PCA, t-SNE, UMAP)."""
    latent_dim = record.config.model.latent_dim
    with st.container(key=f"{key_prefix}_latent_map"):
        methods = projection.available_methods(latent_dim)
        method = st.segmented_control(
            "Latent map", methods, default=methods[0], required=True, format_func=projection.METHOD_TITLES.get,
            key=f"{key_prefix}_latent_method_{'2d' if latent_dim == 2 else 'nd'}",
            help="t-SNE and UMAP take a few seconds; while training they refresh every 15 s.")
        if snapshot is None:
            st.info("The latent map appears after the first seconds of training.", icon=":material/scatter_plot:")
            return
        codes = np.asarray(snapshot["codes"])
        # One math thread: the server shares the CPU with the training workers,
        # and a small projection only slows down when its threads fight theirs.
        # A spinner only for the slow methods: a PCA frame takes milliseconds,
        # and a spinner flashing every second would distract.
        waiting = st.spinner(f"Projecting with {projection.METHOD_TITLES.get(method, method)}…") \
            if method in SLOW_METHODS else contextlib.nullcontext()
        with waiting, _math_threads().limit(limits=1):
            points = attempt(lambda: cache.points(record.run_id, method, int(snapshot.get("step", 0)), codes,
                                                  live=live, project=projection.project), what="draw the latent map")
        if points is None:
            return
        class_names = DATASETS[record.config.dataset].class_names
        figure = figures.latent_figure(points, snapshot["labels"], snapshot["indices"], class_names,
                                       run_id=record.run_id, method_title=projection.METHOD_TITLES.get(method, method))
        plot(figure, key=f"{key_prefix}_latent_chart")


def render_run(manager: JobService, record: RunRecord, history: MetricHistory, cache: ProjectionCache, *,
               key_prefix: str, live: bool) -> None:
    """Status, what went wrong (if anything), loss curve, reconstructions and latent map of one run.

    A classifier shows its accuracy and confusion matrix instead of the last two.
    """
    render_status(record, history)
    diagnostics_view.render_findings(manager, record, history, key_prefix=key_prefix)
    if record.config.task == "classify":
        left, right = st.columns(2, gap="large")
        with left:
            render_loss(record, history, key_prefix=key_prefix)
        with right:
            classify_views.render_accuracy(history, key_prefix=key_prefix)
        classify_views.render_confusion(record, key_prefix=key_prefix)
        return
    # A projector gets the reconstructions as wide as the loss curve: the digits are what a room looks at.
    left, right = st.columns([1, 1] if link_state.presenting() else [3, 2], gap="large")
    with left:
        render_loss(record, history, key_prefix=key_prefix)
    with right:
        snapshot = attempt(lambda: manager.latest_snapshot(record.run_id, "reconstruction"),
                           what="read the reconstructions")
        render_reconstructions(snapshot, key_prefix=key_prefix)
    latent = attempt(lambda: manager.latest_snapshot(record.run_id, "latent"), what="read the latent codes")
    render_latent(record, latent, cache, key_prefix=key_prefix, live=live)


# Streamlit draws the sidebar over the page below this width (its mobile breakpoint). There
# it stays open after a press of its Train button, over three quarters of a 390 px phone,
# and Streamlit has no call to close it (streamlit#4483), so the browser presses its close
# button, as the person would.
_CLOSE_SIDEBAR_ON_A_PHONE_JS = """<script>
if (window.matchMedia("(max-width: 767.98px)").matches) {
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
  if (sidebar && close && sidebar.dataset.collapsed === "false") close.click();
}
</script>"""


def close_sidebar_on_a_phone() -> None:
    """Close the sidebar if it covers the page (a phone's width); elsewhere nothing happens."""
    st.html(_CLOSE_SIDEBAR_ON_A_PHONE_JS, unsafe_allow_javascript=True)
