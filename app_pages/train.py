"""Train page: set a run up in the sidebar, press Train, and watch it learn.

The page never trains anything itself: it submits a config to the job
service and then polls the service from a fragment, reading only the metric
rows it has not seen yet: four times a second while the run is young (its
pictures change fastest then), once a second later. The run id lives in the
URL (``?run_id=...``), so a reload, a shared link or a second tab re-attaches
to the same run while it keeps training in its worker; coming back from
another page shows the run this session last watched.
"""

from __future__ import annotations


import streamlit as st

from ae_core.data import datasets
from ae_core.errors import RunNotFound
from ae_core.store import RunRecord, RunStatus, validate_run_id
from ae_lab_ui import controls, form, link_state, live_changes, timelapse, views
from ae_lab_ui.history import MetricHistory, ProjectionCache, poll_seconds
from ae_lab_ui.identity import current_actor
from ae_lab_ui.services import (attempt, get_manager, how_to_get, keep_error, offer_offline_dataset, show_error,
                                show_kept_errors)
from ae_lab_ui.watched import unwatch, watch, watched_run_id

PAGE = "train"
VIEW_KEY = "train_view"
POLL_KEY = "train_poll_seconds"
STOPPING_KEY = "train_seen_stopping"
JUST_STARTED_KEY = "train_just_started"

manager = get_manager()
controls.init_state()
# The URL's settings, a run's, a lesson's locks: their order is link_state's docstring.
link_applied = link_state.apply_new_link(controls.default_dataset())


def attached_run_id() -> str | None:
    """The run named in the URL (if the id is well formed), else the one this session last watched."""
    run_id = st.query_params.get("run_id")
    if not run_id:
        run_id = watched_run_id()
        if run_id:
            st.query_params["run_id"] = run_id
        return run_id
    try:
        return validate_run_id(run_id)
    except ValueError:
        st.error("The link names a run id that cannot exist, so no run is shown. Start a new one from the sidebar.")
        del st.query_params["run_id"]
        return None


def _start() -> None:
    try:
        config = form.build_config(controls.dataset(), controls.values())
        run_id = manager.submit(config, current_actor())
    except Exception as error:  # noqa: BLE001 - shown to the person by show_error, logged there if unexpected
        keep_error(PAGE, "start the run", error)
        return
    controls.filled(run_id)
    st.query_params["run_id"] = run_id
    st.session_state[JUST_STARTED_KEY] = True


def _stop() -> None:
    run_id = attached_run_id()
    if run_id is None:
        return
    try:
        manager.cancel(run_id, current_actor())
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
        unwatch(run_id)
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
    views.render_run(manager, record, history, cache, key_prefix="train", live=record.status.is_active)
    # A fragment's interval is set by the full page run: when the run grows up, stops
    # or ends, redraw the whole page once, so the polling slows down or stops and the
    # Stop button follows the run's state.
    if poll_seconds(record) != st.session_state.get(POLL_KEY) \
            or record.is_stopping != st.session_state.get(STOPPING_KEY) \
            or live_changes.control_state(record) != st.session_state.get(live_changes.STATE_KEY):
        st.rerun(scope="app")


def start_buttons(record: RunRecord | None) -> None:
    """Train and Stop side by side in the sidebar; Stop says "Stopping…" until the worker confirms."""
    start_column, stop_column = st.columns(2)
    start_column.button("Train", key="train_start", type="primary", icon=":material/play_arrow:", width="stretch",
                        on_click=_start)
    active = record is not None and record.status.is_active
    stopping = record is not None and record.is_stopping
    theirs = record is not None and not current_actor().may_act_on(record.started_by)
    stop_column.button("Stopping…" if stopping else "Stop", key="train_stop", icon=":material/stop:",
                       width="stretch", disabled=not active or stopping or theirs, on_click=_stop,
                       help="Another student started this run; only they (or the teacher) can stop it."
                       if theirs and active else None)


def welcome() -> None:
    st.title("Train an autoencoder")
    st.markdown("Pick a **preset** or turn the knobs in the sidebar, then press **Train**. Training runs in a "
                "background worker; this page shows it live, and you can leave and come back.")
    try:
        summary = form.describe(form.build_config(controls.dataset(), controls.values()))
    except ValueError:  # pressing Train says what is wrong
        summary = "the settings in the sidebar"
    with st.container(border=True, key="train_welcome_start"):
        st.markdown(f"**Ready to train:** {summary}")
        # The same Train as the sidebar's, for a phone, where the sidebar starts closed.
        st.button("Train", key="train_start_main", type="primary", icon=":material/play_arrow:", on_click=_start)
    columns = st.columns(3)
    for column, (icon, title, text) in zip(columns, (
        (":material/show_chart:", "Loss curve", "Every batch's loss, and the train and validation loss per epoch."),
        (":material/grid_view:", "Reconstructions", "Validation images above what the autoencoder makes of them."),
        (":material/scatter_plot:", "Latent map", "Each image's code drawn in 2-D, coloured by its class."),
    )):
        with column.container(border=True):
            st.markdown(f"#### {icon} {title}")
            st.caption(text)


def run_header(record: RunRecord) -> None:
    """What the run is, how it trains, and a way back to its settings."""
    config = record.config
    title_column, button_column = st.columns([4, 1], vertical_alignment="center")
    title_column.subheader(form.describe(config))
    # A projector's room needs the settings, not the 32-character id (which wrapped the line at 1280 px).
    run = "" if link_state.presenting() else f"Run `{record.run_id}` · "
    title_column.caption(f"{run}{config.num_epochs} epochs · batch {config.batch_size} · "
                         f"{config.optimizer} {config.learning_rate:g}")
    if config.task == "reconstruct":
        button_column.button("Use these settings", key="train_use_settings", icon=":material/tune:",
                             on_click=controls.use_settings_of, args=(record.run_id,),
                             help="Set the sidebar to this run's settings, to train it again or change one thing.")


run_id = attached_run_id()
record = load_record(run_id) if run_id else None
if record is not None:
    controls.fill_from(record.config, record.run_id, link_applied=link_applied)
link_state.hold()

# A student of a class trains within the teacher's caps (None: not a class, or the teacher).
rules = None if current_actor().is_teacher else attempt(manager.class_rules, what="read the class's limits")
limits = controls.keep_within(rules) if rules is not None else None

with st.sidebar:
    st.header("Set up a run")
    controls.render_main()
    start_buttons(record)
    if limits:
        st.caption(limits)
    link_state.share_tools(controls.dataset(), controls.values(), controls.default_dataset())
    if not link_state.presenting():  # a projector shows the run, not every knob
        controls.render_details()

show_kept_errors(PAGE)
link_state.show_problems()

if record is None:
    welcome()
else:
    watch(record.run_id)
    # The phone's script is drawn only until a page run after Train ends, so it gets a slot on every
    # run: an element that comes and goes shifts everything below it, and Streamlit mounts
    # shifted elements afresh, so the next redraw (the polling slowing down) closed the
    # "Change while training" expander in the person's hands.
    phone_slot = st.empty()
    if st.session_state.get(JUST_STARTED_KEY):
        with phone_slot:
            views.close_sidebar_on_a_phone()  # the run, not the settings, is what a phone should show now
    run_header(record)
    # A projector's 720 px show the run itself while it trains (its status, loss curve and
    # reconstructions): in the presenter view the change control goes under the live view.
    change_below = link_state.presenting()
    if change_below:
        live_changes.track(record)  # what the live view compares with; the control itself comes below it
    else:
        live_changes.render(manager, record)
    if record.status is RunStatus.FAILED and not datasets.is_available_offline(record.config.dataset):
        st.info(how_to_get(record.config.dataset), icon=":material/cloud_download:")
        offer_offline_dataset(form.key("dataset"), key_suffix="failed")
    st.session_state[POLL_KEY] = poll_seconds(record)
    st.session_state[STOPPING_KEY] = record.is_stopping
    st.fragment(live_view, run_every=st.session_state[POLL_KEY])(record.run_id)
    if change_below:
        live_changes.render(manager, record)
    if not record.status.is_active:
        timelapse.render_timelapse(manager, record, key_prefix="train")
    # Forgotten only by a page run that got here: the live view cuts a page run short to redraw the
    # page when the run starts training (``live_view``), and the browser may never have drawn that
    # run's script, so the next page run draws it again (closing a closed sidebar does nothing).
    st.session_state.pop(JUST_STARTED_KEY, None)
