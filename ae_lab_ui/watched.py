"""The run this browser session watches on the Train page, for the other pages to offer first.

The Train page calls ``watch(run_id)`` for the run it shows; the Runs page opens
``watched_run_id()`` when its URL names no run. One session-state key, kept here, so no
page reads another page's private keys.
"""

from __future__ import annotations

import streamlit as st

_WATCHED_KEY = "watched_run_id"


def watch(run_id: str) -> None:
    """Remember ``run_id`` as the run this session watches."""
    st.session_state[_WATCHED_KEY] = run_id


def watched_run_id() -> str | None:
    """The run this session last watched on the Train page, or None."""
    return st.session_state.get(_WATCHED_KEY)
