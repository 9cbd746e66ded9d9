"""The Train page's setup in its URL: a link sets the controls, a lesson link locks or hides some.

Order on each run of the Train page (its precedence, strongest last):

1. ``apply_new_link``: a link this session has not seen yet (one opened, or one a lesson
   switched to) sets every control: its values, the defaults for the rest. Once: after
   that the person's own changes stay.
2. A run's settings (``controls.fill_from``): "Use these settings" and ``use_settings=1``
   always fill the sidebar; opening a run's link fills it only when the link carries no
   settings of its own (the URL's settings are the person's latest, the run's are older).
3. ``hold``: the values a lesson locked or hid are put back on every run, so neither a
   preset nor "Use these settings" changes them.
4. A class's caps (``controls.keep_within``) still cut epochs and examples: the job service
   would refuse more.

After the widgets, ``sync`` writes the current setup back into the URL (only what differs
from the defaults, with ``run_id`` kept), so the address bar is always a share link. A
lock is guidance for a lesson, not security: a fresh page without the link is unlocked.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import streamlit as st

from ae_lab_ui import form, share
from ae_lab_ui.form import key

RUN_ID_PARAM = "run_id"
# A link to the Train page with this query parameter set to "1" fills its sidebar with
# the linked run's settings, as "Use these settings" does (the Runs page links so).
USE_SETTINGS_PARAM = "use_settings"
# The Train page's own parameters: neither settings nor unknown keys.
PAGE_PARAMS = (RUN_ID_PARAM, USE_SETTINGS_PARAM)
LOCKED_HELP = "Your teacher set this for the lesson."
PRESENT_KEY = "train_present"
_SEEN_KEY = "train_link_seen"
_HELD_KEY = "train_link_held"
_LOCKED_KEY = "train_link_locked"
_HIDDEN_KEY = "train_link_hidden"
_PROBLEMS_KEY = "train_link_problems"


def _link_params() -> dict[str, str]:
    return {name: text for name, text in st.query_params.to_dict().items() if name not in PAGE_PARAMS}


def apply_new_link(default_dataset: str) -> bool:
    """Set every Train control from the URL's link, if this session has not seen that link yet.

    Call before the widgets are drawn. Bad values and unknown keys are kept for
    ``show_problems``; the rest of the link applies.

    Args:
        default_dataset: the dataset a link without ``dataset`` means.

    Returns:
        True if a new link's settings were applied on this run.
    """
    state = st.session_state
    params = _link_params()
    if not params or params == state.get(_SEEN_KEY):
        return False
    link = share.decode(params)
    values = {"dataset": default_dataset, **form.DEFAULTS, **link.values}
    if link.values:  # a link of flags only (present=1 beside a run_id) leaves the settings as they are
        for name, value in values.items():
            state[key(name)] = value
        state[key("preset")] = form.CUSTOM_PRESET
    state[_LOCKED_KEY], state[_HIDDEN_KEY] = link.locked, link.hidden
    state[_HELD_KEY] = {name: values[name] for name in (*link.locked, *link.hidden)}
    state[PRESENT_KEY] = link.present
    state[_PROBLEMS_KEY] = link.problems
    state[_SEEN_KEY] = params
    return bool(link.values)


def hold() -> None:
    """Put the values a lesson link locked or hid back into their controls (before they are drawn)."""
    for name, value in held_fields().items():
        st.session_state[key(name)] = value


def held_fields() -> dict[str, Any]:
    """The lesson's locked and hidden fields with the link's values."""
    return st.session_state.get(_HELD_KEY, {})


def locked_fields() -> tuple[str, ...]:
    return st.session_state.get(_LOCKED_KEY, ())


def hidden_fields() -> tuple[str, ...]:
    return st.session_state.get(_HIDDEN_KEY, ())


def presenting() -> bool:
    """Whether this session shows the presenter view (a ``present=1`` link or the toggle)."""
    return bool(st.session_state.get(PRESENT_KEY))


def sync(params: dict[str, str]) -> None:
    """Make the URL's link say ``params`` (``run_id`` stays), without a reload; unknown keys go."""
    current = _link_params()
    if current != params:
        for name in current.keys() - params.keys():
            del st.query_params[name]
        for name, text in params.items():
            if current.get(name) != text:
                st.query_params[name] = text
    st.session_state[_SEEN_KEY] = params


def show_problems() -> None:
    """Say, once, what a new link asked for that could not be used (one message for all of it)."""
    problems = st.session_state.pop(_PROBLEMS_KEY, ())
    if problems:
        st.warning("Part of this link could not be used, so those settings stay at their defaults; the rest of "
                   "the link applies.\n\n" + "\n".join(f"- {problem}" for problem in problems),
                   icon=":material/link_off:")


def base_url() -> str:
    """The address of the lab's start page (the Train page), as the browser reached it."""
    url = st.context.url or ""
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        origin = f"{parts.scheme}://{parts.netloc}"
    else:
        host = st.context.headers.get("Host") if st.context.headers else None
        origin = f"http://{host or 'localhost:8501'}"
    prefix = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{origin}/{prefix + '/' if prefix else ''}"


def show_link(params: dict[str, str], *, caption: str, width: int = 240) -> str:
    """The link, ready to copy (``st.code`` has a copy button), and its QR code for a projector.

    Returns:
        The link.
    """
    text = share.link(base_url(), params)
    st.code(text, language=None, wrap_lines=True)
    st.image(share.qr_png(text), caption=caption, width=width)
    return text


def share_tools(dataset: str, values: dict[str, Any], default_dataset: str) -> None:
    """Write the setup into the URL, then draw the Share popover and the presenter toggle (under Train).

    Args:
        dataset, values: the Train form's current setup.
        default_dataset: the dataset a link without ``dataset`` means.
    """
    params = share.encode(dataset, values, default_dataset=default_dataset, locked=locked_fields(),
                          hidden=hidden_fields(), present=presenting())
    sync(params)
    with st.popover("Share this setup", icon=":material/share:", width="stretch"):
        st.markdown("The link opens the Train page with these settings.")
        show_link(params, caption="Scan to open this setup")
    st.toggle("Presenter view", key=PRESENT_KEY, help="Bigger text, charts and digits for a projector; the "
              "advanced settings are folded away.")
    if held_fields():
        st.caption(f":material/lock: Your teacher set {len(held_fields())} settings for this lesson.")
