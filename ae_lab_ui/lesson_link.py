"""The Teacher page's Lesson link builder: the Train sidebar's setup, with only the chosen controls free.

The teacher sets a run up on the Train page, ticks here what students may change, and
projects the link's QR code; every other control opens locked (shown, greyed out) or
hidden. The link is the same share link the Train page writes (``ae_lab_ui.share``).
"""

from __future__ import annotations

import streamlit as st

from ae_lab_ui import controls, form, link_state, share

# What a lesson leaves free until the teacher ticks otherwise: the knob most lessons turn.
DEFAULT_FREE = ("latent_dim", "num_epochs")
LOCKED, HIDDEN = "Locked: shown, greyed out", "Hidden"
_COLUMNS = 3


def lesson_params() -> dict[str, str]:
    """The lesson link's parameters from the Train sidebar's setup and this page's choices."""
    free = {name for name in share.FIELDS if st.session_state.get(f"teacher_lesson_free_{name}")}
    rest = [name for name in share.FIELDS if name not in free]
    hide = st.session_state.get("teacher_lesson_others") == HIDDEN
    return share.encode(controls.dataset(), controls.values(), default_dataset=controls.default_dataset(),
                        locked=() if hide else rest, hidden=rest if hide else (),
                        present=bool(st.session_state.get("teacher_lesson_present")))


def render() -> None:
    """The builder: the setup in words, the checkboxes, and the link with its QR code."""
    controls.init_state()  # the Train page's defaults, if this session has not been there yet
    st.subheader("Lesson link")
    try:
        setup = form.describe(form.build_config(controls.dataset(), controls.values()))
    except ValueError as error:
        st.error(f"The Train page's settings cannot be trained as they are: {error}", icon=":material/error:")
        return
    st.markdown(f"The setup is the Train page's sidebar: **{setup}**. Set it up there first; students who open "
                "the link get it, and may change only what you tick below.")
    st.radio("The other controls are", (LOCKED, HIDDEN), key="teacher_lesson_others", horizontal=True)
    st.toggle("Open in presenter view", key="teacher_lesson_present",
              help="Bigger text, charts and digits, for the projector.")
    st.markdown("**Students may change:**")
    columns = st.columns(_COLUMNS)
    for index, name in enumerate(share.FIELDS):
        columns[index % _COLUMNS].checkbox(form.FIELD_LABELS[name], value=name in DEFAULT_FREE,
                                           key=f"teacher_lesson_free_{name}")
    # Big: the teacher projects this page, and a lesson link's lock list makes a dense code.
    link_state.show_link(lesson_params(), caption="Students scan this to open the lesson", width=420)
