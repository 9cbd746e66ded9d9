"""The Train page's "Change while training" control: a run's learning rate, β or noise level, mid-run.

Shown only while the run trains, to its owner or the teacher, with the settings that apply to
it (``ae_core.changes.changeable_fields``). The job service checks every change again
(``JobManager.change``) and the worker applies it at the next batch; the loss curve then shows
it as a dashed line (``figures.loss_figure``).
"""

from __future__ import annotations

import streamlit as st

from ae_core.changes import FIELD_WORDS, changeable_fields, value_at
from ae_core.store import RunRecord, RunStatus
from ae_lab_ui import form
from ae_lab_ui.identity import current_actor
from ae_lab_ui.services import JobService, show_error

# ``control_state`` at the page's last full run: the live view redraws the page when it changes
# (the run started, paused or ended, or a change was recorded), so the control follows the run.
STATE_KEY = "train_change_state"
STEPS = {"beta": 0.1, "noise_level": 0.05}
# Once the person has touched the control it stays open, even where Streamlit draws the expander
# anew (the control went away and came back) and would start it closed. A plain redraw of the
# page (the run's polling slows down, a change is recorded) keeps it as the person left it.
OPEN_KEY = "train_change_open"


def _keep_open() -> None:
    st.session_state[OPEN_KEY] = True


def offered(record: RunRecord) -> bool:
    """True when this person may change ``record`` now: it trains, is not stopping, has settings to change, and is
    theirs (or they teach)."""
    return (record.status is RunStatus.RUNNING and not record.is_stopping and bool(changeable_fields(record.config))
            and current_actor().may_act_on(record.started_by))


def control_state(record: RunRecord) -> tuple[bool, int]:
    """What the control shows depends on: whether it is ``offered``, and how many changes the run recorded."""
    return offered(record), len(record.config.changes)


def track(record: RunRecord) -> None:
    """Keep ``control_state(record)`` for this page run: the live view redraws the page when it changes.

    ``render`` does it too; a page that draws the control after the live view calls this before it.
    """
    st.session_state[STATE_KEY] = control_state(record)


def render(manager: JobService, record: RunRecord) -> None:
    """The control (nothing when ``offered`` is False), and what came of the change asked for."""
    track(record)
    # One slot on every page run, empty while the control is not offered: the live view below
    # keeps its place when the control comes or goes, instead of being mounted afresh (its
    # charts redrawn, its old warnings standing beside the new ones for a moment).
    slot = st.empty()
    if not st.session_state[STATE_KEY][0]:
        return
    with slot.container():
        _control(manager, record)


def _control(manager: JobService, record: RunRecord) -> None:
    config = record.config
    step = int((record.progress or {}).get("step", 0))
    with st.expander("Change while training", icon=":material/tune:", expanded=st.session_state.get(OPEN_KEY, False)), \
            st.container(key="train_change"):
        st.caption("A new value takes effect at the next batch, and the loss curve marks where.")
        field_column, value_column, button_column = st.columns([2, 3, 1], vertical_alignment="bottom")
        field = field_column.selectbox("Setting", changeable_fields(config), format_func=lambda f: FIELD_WORDS[f],
                                       key="train_change_field", on_change=_keep_open)
        current = value_at(config, field, step)
        if field == "learning_rate":
            choices = sorted({*form.LEARNING_RATE_CHOICES, current})
            value = value_column.select_slider(f"New {FIELD_WORDS[field]} (now {current:g})", choices, value=current,
                                               key=f"train_change_value_{field}", on_change=_keep_open)
        else:
            value = value_column.number_input(f"New {FIELD_WORDS[field]} (now {current:g})", value=current,
                                              step=STEPS[field], format="%g", key=f"train_change_value_{field}",
                                              on_change=_keep_open)
        if button_column.button("Apply", key="train_change_apply", icon=":material/check:"):
            try:
                manager.change(record.run_id, field, float(value), current_actor())
            except Exception as error:  # noqa: BLE001 - shown in plain words (a ValueError names the allowed range)
                show_error(error, what="change the run")
            else:
                st.success(f"The {FIELD_WORDS[field]} becomes {float(value):g} at the next batch.",
                           icon=":material/check_circle:")
                # Until the worker has applied it and the store recorded it: then the page is redrawn
                # (``STATE_KEY``), the label says what it is now, and the loss curve marks it.
