"""Who this browser is: a student id kept in a cookie, and the teacher's token once unlocked.

Streamlit reads a browser's cookies when its session connects (``st.context.cookies``) but
has no call to set one, so a browser without the cookie gets a fresh id in its session
state, and a small script writes the cookie for the next visit (reloads, other tabs,
links). The rules themselves (who may act on which run) are ``ae_core.access``'s, enforced
by the job service; this module only says who is asking.
"""

from __future__ import annotations

import json

import streamlit as st

from ae_core.access import (Actor, actor_for, is_class, is_student_id, key_matches, new_student_id, teacher_key,
                            teacher_token)

STUDENT_COOKIE = "ae_lab_student"
TEACHER_COOKIE = "ae_lab_teacher"
COOKIE_MAX_AGE_SECONDS = 365 * 24 * 3600
_STUDENT_KEY = "identity_student_id"
_TOKEN_KEY = "identity_teacher_token"


def _cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # noqa: BLE001 - no browser (a test harness): no cookies
        return None
    return value if isinstance(value, str) else None


def student_id() -> str:
    """This browser's student id (the cookie's, else a new one for this session)."""
    found = st.session_state.get(_STUDENT_KEY)
    if not is_student_id(found):
        found = _cookie(STUDENT_COOKIE)
        if not is_student_id(found):
            found = new_student_id()
        st.session_state[_STUDENT_KEY] = found
    return found


def current_actor() -> Actor:
    """Who this browser is, for the job service (a teacher once the key was typed here)."""
    sid = student_id()
    if _TOKEN_KEY not in st.session_state:
        st.session_state[_TOKEN_KEY] = _cookie(TEACHER_COOKIE)
    return actor_for(sid, st.session_state[_TOKEN_KEY])


def unlock_teacher(typed: str) -> bool:
    """Make this browser the teacher's if ``typed`` is the server's key; False (and nothing changes) if not."""
    key = teacher_key()
    if key is None or not key_matches(typed):
        return False
    st.session_state[_TOKEN_KEY] = teacher_token(key, student_id())
    return True


def lock_teacher() -> None:
    """Make this browser a student's again."""
    st.session_state[_TOKEN_KEY] = None


def remember_browser() -> None:
    """Write this browser's cookies, at every full page run.

    Not once per session: the first run of a link to ``/train`` switches pages, and the
    rerun that follows replaced the script before the browser had run it about half the
    time, so a reload or a second tab became another student. A script the browser already
    ran is not run again for the same cookies. Only in a class: a single-user lab has nothing
    to tell browsers apart for.
    """
    if not is_class():
        return
    actor = current_actor()
    cookies = {STUDENT_COOKIE: actor.student_id,
               TEACHER_COOKIE: (st.session_state.get(_TOKEN_KEY) if actor.is_teacher else None) or ""}
    # An empty value with max-age 0 removes a cookie (a teacher who locked the browser again).
    lines = "".join(f"document.cookie = {json.dumps(f'{name}={value}; path=/; SameSite=Lax; max-age=' + age)};"
                    for name, value in cookies.items()
                    for age in [str(COOKIE_MAX_AGE_SECONDS) if value else "0"])
    st.html(f"<script>{lines}</script>", unsafe_allow_javascript=True)
