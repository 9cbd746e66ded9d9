"""Runs page: every run in the store, and one opened with its curves, pictures and files.

The list refreshes every second while any run is queued or training, and every few
seconds otherwise, so that runs started in other browsers (a class's) appear by
themselves. The opened run's id goes in the URL like on the Train page, so a link opens it.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from ae_core.access import is_class
from ae_core.errors import AELabError
from ae_core.store import RunRecord, RunStatus
from ae_lab_ui import form, timelapse, views
from ae_lab_ui.controls import USE_SETTINGS_PARAM
from ae_lab_ui.damaged import damaged_runs_section
from ae_lab_ui.history import MetricHistory, ProjectionCache
from ae_lab_ui.identity import current_actor
from ae_lab_ui.run_export import take_it_with_you
from ae_lab_ui.run_table import RUNS_TABLE_COLUMNS, runs_table
from ae_lab_ui.services import attempt, get_manager, keep_error, show_kept_errors
from ae_lab_ui.watched import watched_run_id

PAGE = "runs"
ACTIVE_REFRESH_SECONDS = 1.0
IDLE_REFRESH_SECONDS = 5.0
SELECTED_KEY = "runs_selected"
CONFIRM_KEY = "runs_confirm_delete"
POLLING_KEY = "runs_polling"
WHOSE_KEY = "runs_whose"

manager = get_manager()


def _act(what: str, action: Callable[[str], Any], run_id: str,
         then: Callable[[Any], None] | None = None) -> None:
    """Run a button's action, then ``then(result)``; keep an error for the page to show (callbacks run first)."""
    try:
        result = action(run_id, current_actor())
    except Exception as error:  # noqa: BLE001 - shown in plain words by show_kept_errors
        keep_error(PAGE, what, error)
        return
    st.session_state.pop(CONFIRM_KEY, None)
    if then is not None:
        then(result)


def _select(run_id: str) -> None:
    st.session_state[SELECTED_KEY] = run_id
    st.query_params["run_id"] = run_id


def _forget_selection(_: object = None) -> None:
    st.session_state.pop(SELECTED_KEY, None)
    st.query_params.pop("run_id", None)


def _selection_changed() -> None:
    st.session_state.pop(CONFIRM_KEY, None)
    st.query_params["run_id"] = st.session_state[SELECTED_KEY]


def default_selection(ids: list[str]) -> str:
    """The run in the URL, else the one this session watches on the Train page, else the newest."""
    for candidate in (st.query_params.get("run_id"), watched_run_id()):
        if candidate in ids:
            return candidate
    return ids[0]


def actions(record: RunRecord) -> None:
    run_id = record.run_id
    row = st.container(horizontal=True)
    row.page_link("app_pages/train.py", label="Watch on the Train page", icon=":material/monitoring:",
                  query_params={"run_id": run_id})
    if record.config.task == "reconstruct":
        # A link, not a button with st.switch_page: this view is a fragment, and switching
        # pages from a fragment run leaves the browser on a blank page (Streamlit 1.67).
        with row.container(key="runs_use_settings", width="content"):
            st.page_link("app_pages/train.py", label="Use these settings", icon=":material/tune:",
                         query_params={"run_id": run_id, USE_SETTINGS_PARAM: "1"},
                         help="Open the Train page with its sidebar set to this run's settings.")
    mine = current_actor().may_act_on(record.started_by)
    if mine:  # another student's run is read-only here (and the service refuses it anyway)
        if record.status.is_active:
            row.button("Stopping…" if record.is_stopping else "Cancel", key="runs_cancel", icon=":material/stop:",
                       disabled=record.is_stopping, on_click=_act, args=("cancel the run", manager.cancel, run_id))
        if record.status.is_resumable:
            row.button("Resume", key="runs_resume", icon=":material/replay:", on_click=_act,
                       args=("resume the run", manager.resume, run_id, _select),
                       help="Continue from the last finished epoch.")
        row.button("Delete", key="runs_delete", icon=":material/delete:",
                   on_click=lambda: st.session_state.__setitem__(CONFIRM_KEY, run_id))
    model_path = attempt(lambda: manager.model_path(run_id), what="find the model file")
    row.download_button("Model (.keras)", data=(lambda: model_path.read_bytes()) if model_path else b"",
                        file_name=f"{'classifier' if record.config.task == 'classify' else 'autoencoder'}-"
                                  f"{run_id[:8]}.keras", mime="application/octet-stream",
                        key="runs_download_model", icon=":material/download:", disabled=model_path is None,
                        on_click="ignore", help=None if model_path else "The model is saved when the run ends.")
    row.download_button("config.json", data=lambda: config_text(record), file_name=f"config-{run_id[:8]}.json",
                        mime="application/json", key="runs_download_config", icon=":material/download:",
                        on_click="ignore")
    if not mine:
        st.caption("Another student started this run: you can watch it, download it and train its settings "
                   "yourself, but only they (or the teacher) can stop, resume or delete it.")
    elif st.session_state.get(CONFIRM_KEY) == run_id:
        with st.container(border=True):
            st.warning("Delete this run, its model and its pictures? This cannot be undone."
                       + (" It is still training, so it will be stopped first." if record.status.is_active else ""),
                       icon=":material/delete_forever:")
            yes, no = st.columns(2)
            yes.button("Yes, delete it", key="runs_delete_confirm", type="primary", on_click=_act,
                       args=("delete the run", manager.delete, run_id, _forget_selection))
            no.button("Keep it", key="runs_delete_keep", on_click=lambda: st.session_state.pop(CONFIRM_KEY, None))


def config_text(record: RunRecord) -> str:
    """The run's config.json as the service saved it (or as the record holds it)."""
    try:
        return manager.config_path(record.run_id).read_text(encoding="utf-8")
    except (OSError, ValueError, AELabError):
        return json.dumps(record.config.to_dict(), indent=2)


def details(record: RunRecord) -> None:
    st.subheader(form.describe(record.config))
    started = datetime.datetime.fromtimestamp(record.created_at).strftime("%d %b %Y, %H:%M")
    st.markdown(f"{views.status_badge(record)} &nbsp; created {started} · run `{record.run_id}`")
    actions(record)
    take_it_with_you(manager, record)
    with st.expander("Settings of this run"):
        st.json(record.config.to_dict(), expanded=2)
    histories: dict[str, MetricHistory] = st.session_state.setdefault("runs_histories", {})
    history = histories.setdefault(record.run_id, MetricHistory(record.run_id))
    attempt(lambda: history.refresh(manager.metrics_since), what="read the metrics")
    cache: ProjectionCache = st.session_state.setdefault("runs_projections", ProjectionCache())
    views.render_run(manager, record, history, cache, key_prefix="runs", live=record.status.is_active)
    timelapse.render_timelapse(manager, record, key_prefix="runs")


def runs_view() -> None:
    show_kept_errors(PAGE)
    damaged_runs_section(manager, PAGE)  # runs the store cannot read: named here so they can be deleted
    runs = every_run = attempt(manager.list_runs, what="list the runs") or []
    actor = current_actor()
    if is_class():
        st.radio("Show", ("Mine", "Everyone"), key=WHOSE_KEY, horizontal=True, label_visibility="collapsed",
                 index=1 if actor.is_teacher else 0, help="Everyone's runs are read-only unless they are yours.")
        if st.session_state[WHOSE_KEY] == "Mine":
            runs = [record for record in runs if record.started_by == actor.student_id]
    if not runs:
        st.info("No runs yet. Start one on the Train page."
                + (" Choose Everyone to see the class's runs." if is_class() else ""), icon=":material/inbox:")
        st.page_link("app_pages/train.py", label="Go to the Train page", icon=":material/model_training:")
        return
    counts = {status: sum(r.status is status for r in runs) for status in RunStatus}
    tiles = st.columns(4)
    tiles[0].metric("Runs", len(runs), border=True)
    tiles[1].metric("Training", counts[RunStatus.RUNNING], border=True)
    tiles[2].metric("Queued", counts[RunStatus.QUEUED], border=True)
    tiles[3].metric("Finished", counts[RunStatus.FINISHED], border=True)
    st.dataframe(runs_table(runs, actor.student_id if is_class() else None), hide_index=True, key="runs_table",
                 column_config=RUNS_TABLE_COLUMNS)
    by_id = {record.run_id: record for record in runs}
    ids = list(by_id)
    if st.session_state.get(SELECTED_KEY) not in by_id:
        st.session_state[SELECTED_KEY] = default_selection(ids)
    st.selectbox("Open a run", ids, key=SELECTED_KEY, format_func=lambda run_id: views.run_label(by_id[run_id]),
                 on_change=_selection_changed)
    st.query_params["run_id"] = st.session_state[SELECTED_KEY]
    st.divider()
    details(by_id[st.session_state[SELECTED_KEY]])
    if refresh_seconds(every_run) != st.session_state.get(POLLING_KEY):
        # A run started, resumed or ended: redraw the page once, so the polling follows
        # (a fragment's interval is set by the full page run).
        st.rerun(scope="app")


def refresh_seconds(runs: list[RunRecord]) -> float:
    """How often the list refreshes: every second while a run is queued or training."""
    return ACTIVE_REFRESH_SECONDS if any(record.status.is_active for record in runs) else IDLE_REFRESH_SECONDS


def current_refresh_seconds() -> float:
    """``refresh_seconds`` of the store now; errors are left to the view, which shows them."""
    try:
        return refresh_seconds(manager.list_runs())
    except Exception:  # noqa: BLE001
        return IDLE_REFRESH_SECONDS


st.title("Runs")
st.session_state[POLLING_KEY] = current_refresh_seconds()
st.fragment(runs_view, run_every=st.session_state[POLLING_KEY])()
