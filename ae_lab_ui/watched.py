"""The run this browser session watches on the Train page, for the other pages to offer first.

The Train page calls ``watch(run_id)`` for the run it shows, and shows ``watched_run_id()``
again when the person comes back to it without a run in the URL (Train → Runs → Train);
the Runs page opens it when its URL names no run. One session-state key, kept here, so no
page reads another page's private keys.
"""

from __future__ import annotations

import streamlit as st

_WATCHED_KEY = "watched_run_id"


def watch(run_id: str) -> None:
    """Remember ``run_id`` as the run this session watches."""
    st.session_state[_WATCHED_KEY] = run_id


def unwatch(run_id: str) -> None:
    """Forget ``run_id`` if it is the watched run (it was deleted)."""
    if st.session_state.get(_WATCHED_KEY) == run_id:
        del st.session_state[_WATCHED_KEY]


def watched_run_id() -> str | None:
    """The run this session last watched on the Train page, or None."""
    return st.session_state.get(_WATCHED_KEY)
