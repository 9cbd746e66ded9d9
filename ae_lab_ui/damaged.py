"""Damaged runs on the Runs page: the runs the store cannot read, each with why, and a way to delete them.

The store skips such a run in every listing (so one bad run never hides the others), which
would also leave it invisible and impossible to remove. This section names each one with
the reason the store gives, and offers Delete (asked twice, like any delete).
"""

from __future__ import annotations

import re

import streamlit as st

from ae_lab_ui.identity import current_actor
from ae_lab_ui.services import JobService, attempt, keep_error

CONFIRM_KEY = "runs_damaged_confirm"
# A reason may quote the damaged value; these would turn it into markdown formatting.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~$#])")


def _escape(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", text)


def _delete(manager: JobService, page: str, run_id: str) -> None:
    """The confirm button's callback: delete, or keep the error for ``show_kept_errors(page)``."""
    st.session_state.pop(CONFIRM_KEY, None)
    try:
        manager.delete(run_id, current_actor())
    except Exception as error:  # noqa: BLE001 - shown in plain words by show_kept_errors
        keep_error(page, "delete the damaged run", error)


def damaged_runs_section(manager: JobService, page: str) -> None:
    """An expander listing the damaged runs with their reasons and Delete buttons; nothing when there are none.

    Args:
        manager: the job service.
        page: the page's name for ``keep_error`` (its errors are shown by ``show_kept_errors(page)``).
    """
    damaged = attempt(manager.damaged_runs, what="list the damaged runs") or []
    if not damaged:
        return
    title = "1 run cannot be read" if len(damaged) == 1 else f"{len(damaged)} runs cannot be read"
    with st.expander(title, expanded=True, icon=":material/report:"):
        st.caption("Their files or their entry in the store are damaged, so they are left out of every list and "
                   "cannot be opened or trained. Deleting one removes its folder and its entry.")
        for run_id, reason in damaged:
            row = st.container(horizontal=True, vertical_alignment="center")
            row.markdown(f"Run `{run_id}`: {_escape(reason)}")
            if st.session_state.get(CONFIRM_KEY) == run_id:
                row.button("Yes, delete it", key="runs_damaged_yes", type="primary", icon=":material/delete_forever:",
                           on_click=_delete, args=(manager, page, run_id))
                row.button("Keep it", key="runs_damaged_keep", on_click=lambda: st.session_state.pop(CONFIRM_KEY, None))
            else:
                row.button("Delete", key=f"runs_damaged_delete_{run_id}", icon=":material/delete:",
                           on_click=st.session_state.__setitem__, args=(CONFIRM_KEY, run_id),
                           help="Delete this run's folder and entry. This cannot be undone.")
