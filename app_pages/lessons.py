"""Lessons page: guided experiments where a student predicts first, then trains, then sees the answer.

Each lesson is a TOML file (``ae_lab_ui.lesson_files``); each step asks a question, takes
the student's committed prediction (Train stays disabled until then), trains the step's
prepared runs in the job service and shows them live, and, once they have enough to show,
reveals the measured result beside the prediction with a short explanation
(``ae_lab_ui.lesson_views``). Progress lives in the URL (``lesson_progress``), so a reload
or a shared link comes back to the same step, prediction and runs.
"""

from __future__ import annotations

import streamlit as st

from ae_core.errors import RunNotFound
from ae_core.store import RunRecord, RunStatus
from ae_lab_ui import lesson_progress, lesson_views
from ae_lab_ui.identity import current_actor
from ae_lab_ui.lesson_progress import Progress
from ae_lab_ui.services import attempt, get_manager, keep_error, show_error, show_kept_errors

PAGE = "lessons"
LIVE_SECONDS = 1.0
CHOICE_KEY, SLIDER_KEY = "lessons_choice", "lessons_slider"

manager = get_manager()


def go_to(params: dict[str, str]) -> None:
    """Replace the page's query parameters (a button callback: the page then redraws from them)."""
    st.query_params.from_dict(params)
    for widget in (CHOICE_KEY, SLIDER_KEY):
        st.session_state.pop(widget, None)


def commit(progress: Progress) -> None:
    value = st.session_state.get(CHOICE_KEY if progress.step.choices is not None else SLIDER_KEY)
    if value is not None:
        go_to({**progress.params(), "predict": lesson_progress.check_prediction(progress.step, str(value))})


def train(progress: Progress) -> None:
    """Submit the step's prepared runs and put their ids in the URL."""
    run_ids: list[str] = []
    try:
        for config in progress.step.configs:
            run_ids.append(manager.submit(config, current_actor()))
    except Exception as error:  # noqa: BLE001 - shown in plain words by show_kept_errors
        keep_error(PAGE, "start the step's runs", error)
        for run_id in run_ids:  # half a step is no step: a class's queue limit may refuse the last run
            attempt(lambda run_id=run_id: manager.cancel(run_id, current_actor()), what="stop a run of the step")
        return
    go_to({**progress.params(), "runs": lesson_progress.RUN_SEPARATOR.join(run_ids)})


def shown_prediction(progress: Progress, prediction: str) -> str:
    step = progress.step
    return step.choices[prediction] if step.choices is not None else f"{prediction}{step.slider.unit}"


def catalogue_page(lessons: dict, problems: list[str]) -> None:
    st.title("Lessons")
    st.markdown("Each lesson asks you a question about autoencoders. **Predict first**, then train the prepared "
                "experiment and see whether you were right. A step takes about a minute.")
    for problem in problems:
        st.error(problem, icon=":material/error:")
    columns = st.columns(3)
    for number, lesson in enumerate(lessons.values()):
        with columns[number % 3].container(border=True, key=f"lessons_card_{lesson.lesson_id}"):
            st.markdown(f"#### {lesson.title}")
            st.caption(f"{lesson.summary} · {len(lesson.steps)} step{'s' * (len(lesson.steps) > 1)}")
            st.button("Start", key=f"lessons_start_{lesson.lesson_id}", icon=":material/play_arrow:",
                      on_click=go_to, args=({"lesson": lesson.lesson_id, "step": "1"},))


def prediction_form(progress: Progress) -> None:
    """The prediction widget and its Commit button; once committed, the prediction in one line and Train."""
    step, committed = progress.step, progress.prediction
    if committed is not None:
        st.markdown(f"**Your prediction:** {shown_prediction(progress, committed)}")
        if not progress.run_ids:
            st.button("Train", key="lessons_train", type="primary", icon=":material/model_training:", on_click=train,
                      args=(progress,), help="Train the step's prepared runs; the answer comes when they are done.")
        return
    if step.choices is not None:
        st.radio("Your prediction", list(step.choices), format_func=step.choices.get, key=CHOICE_KEY, index=None)
        chosen = st.session_state.get(CHOICE_KEY)
    else:
        slider = step.slider
        # Whole numbers stay whole ("70", not "70.00") when the slider's range and step are.
        number = int if all(float(value).is_integer() for value in (slider.low, slider.high, slider.step)) else float
        middle = slider.low + round((slider.high - slider.low) / 2 / slider.step) * slider.step
        chosen = st.slider(f"Your prediction ({slider.unit})" if slider.unit else "Your prediction",
                           number(slider.low), number(slider.high), number(middle), number(slider.step), key=SLIDER_KEY)
    with st.container(horizontal=True):
        st.button("Commit my prediction", key="lessons_commit", icon=":material/lock:", on_click=commit,
                  args=(progress,), disabled=chosen is None)
        st.button("Train", key="lessons_train", type="primary", icon=":material/model_training:", disabled=True,
                  help="Commit your prediction first.")


def ready(progress: Progress, records: list[RunRecord]) -> bool:
    return all(progress.step.is_ready(record.status is RunStatus.FINISHED, int((record.progress or {}).get("epoch", 0)))
               for record in records)


def live_runs(progress: Progress) -> None:
    """The step's runs while they train; once they have enough to show, the whole page redraws with the reveal."""
    records = attempt(lambda: [manager.get_run(run_id) for run_id in progress.run_ids], what="read the runs")
    if records is None:
        return
    for column, record in zip(st.columns(len(records)), records, strict=True):
        with column:
            lesson_views.render_run_tile(manager, record, key_prefix=f"lessons_run_{record.run_id[:8]}")
    if ready(progress, records) or any(not record.status.is_active for record in records):
        st.rerun(scope="app")


def reveal(progress: Progress, records: list[RunRecord]) -> None:
    """The measured answer beside the prediction, the explanation, then the figures it was measured from."""
    step = progress.step
    with st.container(key="lessons_reveal", border=True):
        verdict = st.container()  # filled once the figures below have measured the answer
        try:
            outcome = lesson_views.REVEALS[step.reveal](manager, records, "lessons_reveal")
        except Exception as error:  # noqa: BLE001 - in plain words, with a way to go on
            with verdict:
                show_error(error, what="measure the result")
            return
    measured = shown_prediction(progress, outcome.measured) if step.choices is not None \
        else f"{outcome.measured:g}{step.slider.unit}"
    with verdict:
        left, middle, right = st.columns([2, 2, 3], vertical_alignment="center")
        left.metric("You predicted", shown_prediction(progress, progress.prediction), border=True)
        middle.metric("Measured", measured, border=True)
        if step.is_right(progress.prediction, outcome.measured):
            right.success("You were right.", icon=":material/check_circle:")
        else:
            tolerance = f" (within {step.slider.tolerance:g}{step.slider.unit} of the measured value is right)" \
                if step.slider else ""
            right.warning(f"Not this time{tolerance}.", icon=":material/lightbulb:")
        st.markdown(f"{outcome.sentence} {step.explanation(outcome.measured if step.choices else None)}")
    if progress.is_last:
        st.success(f"That was the last step of **{progress.lesson.title}**.", icon=":material/school:")
        st.button("Back to the lessons", key="lessons_back", icon=":material/list:", on_click=go_to, args=({},))
    else:
        st.button("Next step", key="lessons_next", type="primary", icon=":material/arrow_forward:", on_click=go_to,
                  args=({"lesson": progress.lesson.lesson_id, "step": str(progress.step_number + 1)},))


def step_runs(progress: Progress) -> list[RunRecord] | None:
    """The step's run records; a deleted or failed run is said in words, with a way to train again."""
    again = {key: value for key, value in progress.params().items() if key != "runs"}
    try:
        records = [manager.get_run(run_id) for run_id in progress.run_ids]
    except RunNotFound:
        st.warning("A run of this step no longer exists (it may have been deleted). Train the step again.",
                   icon=":material/link_off:")
        st.button("Train again", key="lessons_again", icon=":material/refresh:", on_click=go_to, args=(again,))
        return None
    except Exception as error:  # noqa: BLE001
        show_error(error, what="read the step's runs")
        return None
    ended = [record for record in records if record.status in (RunStatus.FAILED, RunStatus.CANCELLED,
                                                                 RunStatus.INTERRUPTED)]
    if ended and not ready(progress, records):
        reason = ended[0].message or f"it was {ended[0].status.value}"
        st.warning(f"A run of this step did not finish: {reason}. Train the step again.", icon=":material/warning:")
        st.button("Train again", key="lessons_again", icon=":material/refresh:", on_click=go_to, args=(again,))
        return None
    return records


lessons, problems = lesson_views.catalogue()
try:
    progress = lesson_progress.read(st.query_params.to_dict(), lessons)
except KeyError as missing:
    st.warning(f"There is no lesson {missing.args[0]!r} here; pick one below.", icon=":material/link_off:")
    progress = None
if progress is None:
    catalogue_page(lessons, problems)
    st.stop()

if progress.params() != st.query_params.to_dict():  # a part of the link was dropped: the URL says what is kept
    st.query_params.from_dict(progress.params())
st.title(progress.lesson.title)
st.progress(progress.step_number / len(progress.lesson.steps),
            text=f"Step {progress.step_number} of {len(progress.lesson.steps)}")
for problem in progress.problems:
    st.warning(problem, icon=":material/link_off:")
show_kept_errors(PAGE)
st.markdown(f"#### {progress.step.question}")
prediction_form(progress)
if progress.run_ids:
    records = step_runs(progress)
    if records is not None and ready(progress, records):
        reveal(progress, records)
    elif records is not None:
        st.caption("Training the step's runs; the answer appears here when they have enough to show.")
        st.fragment(live_runs, run_every=LIVE_SECONDS)(progress)
