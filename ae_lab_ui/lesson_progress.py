"""Where a student is in a lesson, read from and written to the URL, so a reload keeps it.

``/lessons?lesson=compression&step=1&predict=early&runs=<id>-<id>-<id>`` is step 1 of the
lesson ``compression`` (1-based, as a person counts), with the prediction ``early``
committed and the step's runs started. Everything in a URL is checked before use; a part
that does not fit is dropped with a message, keeping the parts before it. This module
imports no streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ae_core.store import validate_run_id
from ae_lab_ui.lesson_files import Lesson, Step

# Between run ids in ``runs``: a character URLs leave as it is (a comma would show as %2C).
RUN_SEPARATOR = "-"


@dataclass(frozen=True)
class Progress:
    """A step of a lesson, the committed prediction (as text) and the step's run ids, with what was dropped."""

    lesson: Lesson
    step_number: int = 1
    prediction: str | None = None
    run_ids: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def step(self) -> Step:
        return self.lesson.steps[self.step_number - 1]

    @property
    def is_last(self) -> bool:
        return self.step_number == len(self.lesson.steps)

    def params(self) -> dict[str, str]:
        """The query parameters that bring a browser back here."""
        values = {"lesson": self.lesson.lesson_id, "step": str(self.step_number)}
        if self.prediction is not None:
            values["predict"] = self.prediction
        if self.run_ids:
            values["runs"] = RUN_SEPARATOR.join(self.run_ids)
        return values


def check_prediction(step: Step, text: str) -> str:
    """The prediction ``text`` as the URL keeps it: a choice id, or a slider's number written plainly.

    Raises:
        ValueError: naming ``predict`` and the allowed values.
    """
    if step.choices is not None:
        if text not in step.choices:
            raise ValueError(f"predict must be one of {', '.join(map(repr, step.choices))}; got {text!r}")
        return text
    slider = step.slider
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not slider.low <= value <= slider.high:  # NaN fails too
        raise ValueError(f"predict must be a number from {slider.low:g} to {slider.high:g}; got {text!r}")
    return f"{value:g}"


def read(params: Mapping[str, str], lessons: Mapping[str, Lesson]) -> Progress | None:
    """The progress a URL's query parameters describe (None when they name no lesson we have).

    Raises:
        KeyError: when ``lesson`` names a lesson that does not exist (the message names it).
    """
    lesson_id = params.get("lesson")
    if not lesson_id:
        return None
    if lesson_id not in lessons:
        raise KeyError(lesson_id)
    lesson = lessons[lesson_id]
    text = params.get("step", "1")
    if not text.isdigit() or not 1 <= int(text) <= len(lesson.steps):
        return Progress(lesson, problems=(f"step must be a number from 1 to {len(lesson.steps)}; got {text!r}. "
                                          "The lesson starts at step 1.",))
    progress = Progress(lesson, int(text))
    if "predict" not in params:
        return progress
    try:
        prediction = check_prediction(progress.step, params["predict"])
    except ValueError as error:
        return Progress(lesson, progress.step_number, problems=(f"{error}. Make your prediction again.",))
    progress = Progress(lesson, progress.step_number, prediction)
    run_ids = tuple(part for part in params.get("runs", "").split(RUN_SEPARATOR) if part)
    if not run_ids:
        return progress
    try:
        run_ids = tuple(validate_run_id(run_id) for run_id in run_ids)
    except ValueError:
        return Progress(lesson, progress.step_number, prediction,
                        problems=("The link's runs are not run ids, so none is shown. Press Train to start "
                                  "the step's runs.",))
    if len(run_ids) != len(progress.step.configs):
        return Progress(lesson, progress.step_number, prediction,
                        problems=(f"This step trains {len(progress.step.configs)} run(s) and the link names "
                                  f"{len(run_ids)}, so none is shown. Press Train to start them.",))
    return Progress(lesson, progress.step_number, prediction, run_ids)
