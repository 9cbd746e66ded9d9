"""Teacher page: the Lesson link builder, and in a class the teacher's controls.

The Lesson link builder (``ae_lab_ui.lesson_link``) serves every lab. In a class (the
server was started with ``AE_LAB_TEACHER_KEY``) the teacher types the key once per browser;
that browser may then stop, resume and delete every run, and sets the class's limits: how
many runs one student may have waiting, and the most epochs and training examples a
student's run may ask for. The job service keeps
the limits with the store and enforces them (``ae_core.access``).
"""

from __future__ import annotations

from collections import Counter

import streamlit as st

from ae_core.access import ClassRules, MAX_QUEUED_LIMIT, is_class
from ae_core.config import MAX_EPOCHS
from ae_core.store import RunStatus
from ae_lab_ui import form, lesson_link
from ae_lab_ui.identity import current_actor, lock_teacher, unlock_teacher
from ae_lab_ui.services import attempt, get_manager, keep_error, show_kept_errors

PAGE = "teacher"
KEY_FIELD = "teacher_key"
NO_CAP = 0

manager = get_manager()


def _unlock() -> None:
    if not unlock_teacher(st.session_state.get(KEY_FIELD) or ""):
        keep_error(PAGE, "unlock the teacher's controls", ValueError(
            "That is not the key this server was started with (AE_LAB_TEACHER_KEY)."))
    st.session_state[KEY_FIELD] = ""


def _save() -> None:
    state = st.session_state
    try:
        rules = ClassRules(max_queued_per_student=int(state["teacher_max_queued"]),
                           max_epochs=int(state["teacher_max_epochs"]) or None,
                           max_train_examples=int(state["teacher_max_examples"]) or None)
        manager.set_class_rules(rules, current_actor())
    except Exception as error:  # noqa: BLE001 - shown in plain words by show_kept_errors
        keep_error(PAGE, "save the class's limits", error)
        return
    state["teacher_saved"] = True


def unlock_form() -> None:
    st.markdown("Type the key the server was started with (`AE_LAB_TEACHER_KEY`). This browser then keeps it: "
                "it can stop, resume and delete every student's run, and set the class's limits.")
    with st.form("teacher_unlock", border=True):
        st.text_input("Teacher key", type="password", key=KEY_FIELD)
        st.form_submit_button("Unlock", type="primary", icon=":material/lock_open:", on_click=_unlock)


def limits_form(rules: ClassRules) -> None:
    st.subheader("The class's limits")
    st.caption("They apply to every student's next run; yours are never limited.")
    with st.form("teacher_limits", border=True):
        st.slider("Runs one student may have waiting at once", 1, min(10, MAX_QUEUED_LIMIT),
                  value=min(rules.max_queued_per_student, 10), key="teacher_max_queued")
        st.number_input("Most epochs per run (0: no limit)", 0, MAX_EPOCHS, value=rules.max_epochs or NO_CAP,
                        step=1, key="teacher_max_epochs")
        st.select_slider("Most training examples per run", form.EXAMPLE_LIMIT_CHOICES,
                         value=rules.max_train_examples if rules.max_train_examples in form.EXAMPLE_LIMIT_CHOICES
                         else NO_CAP, key="teacher_max_examples",
                         format_func=lambda n: "no limit" if n == NO_CAP else f"{n:,}")
        st.form_submit_button("Save the limits", type="primary", icon=":material/save:", on_click=_save)
    if st.session_state.pop("teacher_saved", False):
        st.success("Saved. Students' Train pages keep within them from their next press of Train.",
                   icon=":material/check_circle:")


def class_overview() -> None:
    runs = attempt(manager.list_runs, what="list the runs") or []
    students = Counter(record.started_by for record in runs if record.started_by)
    tiles = st.columns(3)
    tiles[0].metric("Students with runs", len(students), border=True)
    tiles[1].metric("Training", sum(r.status is RunStatus.RUNNING for r in runs), border=True)
    tiles[2].metric("Waiting", sum(r.status is RunStatus.QUEUED for r in runs), border=True)


def class_section() -> None:
    """The teacher's key, the class at a glance and its limits."""
    if not current_actor().is_teacher:
        unlock_form()
        return
    st.success("This browser is the teacher's: it can stop, resume and delete every run.", icon=":material/school:")
    st.button("Lock this browser again", key="teacher_lock", icon=":material/lock:", on_click=lock_teacher)
    class_overview()
    rules = attempt(manager.class_rules, what="read the class's limits")
    if rules is not None:
        limits_form(rules)


st.title("Teacher")
show_kept_errors(PAGE)
if is_class():
    class_tab, lesson_tab = st.tabs(["Class", "Lesson link"])
    with class_tab:
        class_section()
    with lesson_tab:
        lesson_link.render()
else:  # a single-user lab has no class to run: only the lesson link
    lesson_link.render()
