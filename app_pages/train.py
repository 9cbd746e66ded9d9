"""Train page: set a run up in the sidebar, press Train, and watch it learn.

The page never trains anything itself: it submits a config to the job
service and then polls the service about once a second from a fragment,
reading only the metric rows it has not seen yet. The run id lives in the
URL (``?run_id=...``), so a reload, a shared link or a second tab re-attaches
to the same run while it keeps training in its worker.
"""

from __future__ import annotations

import streamlit as st

from ae_core.data import datasets
from ae_core.errors import RunNotFound
from ae_core.store import RunRecord, RunStatus, validate_run_id
from ae_lab_ui import controls, form, views
from ae_lab_ui.history import MetricHistory, ProjectionCache
from ae_lab_ui.services import (attempt, get_manager, how_to_get, keep_error, offer_offline_dataset, show_error,
                                show_kept_errors)
from ae_lab_ui.watched import watch

LIVE_SECONDS = 1.0
PAGE = "train"
VIEW_KEY = "train_view"
SEEN_STATUS_KEY = "train_seen_status"

manager = get_manager()
controls.init_state()


def attached_run_id() -> str | None:
    """The run named in the URL, if the id is well formed."""
    run_id = st.query_params.get("run_id")
    if not run_id:
        return None
    try:
        return validate_run_id(run_id)
    except ValueError:
        st.error("The link names a run id that cannot exist, so no run is shown. Start a new one from the sidebar.")
        del st.query_params["run_id"]
        return None


def _start() -> None:
    try:
        config = form.build_config(controls.dataset(), controls.values())
        run_id = manager.submit(config)
    except Exception as error:  # noqa: BLE001 - shown to the person by show_error, logged there if unexpected
        keep_error(PAGE, "start the run", error)
        return
    st.query_params["run_id"] = run_id


def _stop() -> None:
    run_id = attached_run_id()
    if run_id is None:
        return
    try:
        manager.cancel(run_id)
    except Exception as error:  # noqa: BLE001
        keep_error(PAGE, "stop the run", error)


def _view(run_id: str) -> tuple[MetricHistory, ProjectionCache]:
    """This session's memory of the attached run; a new run starts afresh."""
    view = st.session_state.get(VIEW_KEY)
    if view is None or view[0].run_id != run_id:
        view = (MetricHistory(run_id), ProjectionCache())
        st.session_state[VIEW_KEY] = view
    return view


def load_record(run_id: str) -> RunRecord | None:
    try:
        return manager.get_run(run_id)
    except RunNotFound:
        st.warning("The run in this link no longer exists (it may have been deleted). Start a new one from the "
                   "sidebar, or open another on the Runs page.", icon=":material/link_off:")
        del st.query_params["run_id"]
    except Exception as error:  # noqa: BLE001
        show_error(error, what="read the run")
    return None


def live_view(run_id: str) -> None:
    """Everything that changes while the run trains; a fragment reruns only this."""
    record = attempt(lambda: manager.get_run(run_id), what="read the run")
    if record is None:
        return
    history, cache = _view(run_id)
    attempt(lambda: history.refresh(manager.metrics_since), what="read the metrics")
    views.render_run(manager, record, history, cache, key_prefix="train", live=record.status.is_active,
                     log_scale=st.session_state.get("train_log_scale", False))
    # When the run ends during a fragment rerun, redraw the whole page once,
    # so the Stop button turns off and the once-a-second polling stops.
    if st.session_state.get(SEEN_STATUS_KEY) != record.status and not record.status.is_active:
        st.session_state[SEEN_STATUS_KEY] = record.status
        st.rerun(scope="app")


def welcome() -> None:
    st.markdown("Pick a **preset** or turn the knobs in the sidebar, then press **Train**. Training runs in a "
                "background worker; this page shows it live, and you can leave and come back.")
    columns = st.columns(3)
    for column, (icon, title, text) in zip(columns, (
        (":material/show_chart:", "Loss curve", "Every batch's loss, and the train and validation loss per epoch."),
        (":material/grid_view:", "Reconstructions", "Validation images above what the autoencoder makes of them."),
        (":material/scatter_plot:", "Latent map", "Each image's code drawn in 2-D, coloured by its class."),
    )):
        with column.container(border=True):
            st.markdown(f"#### {icon} {title}")
            st.caption(text)


run_id = attached_run_id()
record = load_record(run_id) if run_id else None
active = record is not None and record.status.is_active

with st.sidebar:
    st.header("Set up a run")
    controls.render_main()
    start_column, stop_column = st.columns(2)
    start_column.button("Train", key="train_start", type="primary", icon=":material/play_arrow:", width="stretch",
                        on_click=_start)
    stop_column.button("Stop", key="train_stop", icon=":material/stop:", width="stretch", disabled=not active,
                       on_click=_stop)
    controls.render_details()

st.title("Train an autoencoder")
show_kept_errors(PAGE)

if record is None:
    welcome()
else:
    watch(record.run_id)
    title_column, toggle_column = st.columns([4, 1], vertical_alignment="bottom")
    title_column.subheader(form.describe(record.config))
    title_column.caption(f"Run `{record.run_id}` · {record.config.num_epochs} epochs · batch "
                         f"{record.config.batch_size} · {record.config.optimizer} {record.config.learning_rate:g}")
    toggle_column.toggle("Log-scale loss", key="train_log_scale")
    if record.status is RunStatus.FAILED and not datasets.is_available_offline(record.config.dataset):
        st.info(how_to_get(record.config.dataset), icon=":material/cloud_download:")
        offer_offline_dataset(form.key("dataset"), key_suffix="failed")
    st.session_state[SEEN_STATUS_KEY] = record.status
    st.fragment(live_view, run_every=LIVE_SECONDS if active else None)(record.run_id)
