"""Lessons as data: one small TOML file per lesson, read and validated into ``Lesson`` objects.

The built-in lessons are the ``*.toml`` files of the repository's ``lessons/`` folder; a
teacher adds one by dropping a file there, or into the folder named by ``AE_LAB_LESSONS_DIR``.
A step's prepared runs are written as the Train form's field names and values
(``form.DEFAULTS``), plus ``dataset`` and ``exclude_class``, and each one is built with
``form.build_config`` here, so a setup the core refuses is caught when the lessons load.
A broken file raises ``LessonError`` naming the file and the field (and what is
allowed); ``load_lessons`` collects those messages and loads the other files. The
format is described in the README ("Teaching with Autoencoder Lab") and shown by the
built-in files. This module imports no streamlit.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ae_core.config import TrainConfig
from ae_core.data import DATASETS
from ae_lab_ui import form
from ae_lab_ui.lesson_measures import REVEAL_KINDS, RevealKind

BUILT_IN_DIR = Path(__file__).resolve().parents[1] / "lessons"
LESSONS_DIR_ENV = "AE_LAB_LESSONS_DIR"
LESSON_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MAX_STEPS = 10
MAX_SHOWN = 80  # characters of a refused value quoted in a message
MAX_RUNS = 4
READY_FINISHED = "finished"
# Run settings a step may set beyond the Train form's fields.
EXTRA_SETUP_FIELDS = ("dataset", "exclude_class")
_LESSON_FIELDS = ("title", "summary", "order", "dataset", "steps")
_STEP_FIELDS = ("question", "reveal", "choices", "slider", "ready", "explain", "setup", "runs")
_SLIDER_FIELDS = ("min", "max", "step", "tolerance", "unit")


class LessonError(ValueError):
    """A lesson file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Slider:
    """A numeric prediction: its range, step, and how far off still counts as right."""

    low: float
    high: float
    step: float
    tolerance: float
    unit: str = ""


@dataclass(frozen=True)
class Step:
    """One question: the prediction asked for, the runs to train, and how the answer is revealed.

    ``ready_epochs`` None means the runs must finish before the reveal; a number, that each
    run has trained that many epochs. ``explain`` holds one text for every outcome under
    the key ``""``, or one per measured answer of a choice kind.
    """

    question: str
    reveal: str
    configs: tuple[TrainConfig, ...]
    choices: Mapping[str, str] | None
    slider: Slider | None
    ready_epochs: int | None
    explain: Mapping[str, str]

    def explanation(self, answer: str | None) -> str:
        """The explanation for the measured ``answer`` (a choice id; None for a slider)."""
        return self.explain.get(answer or "", self.explain.get("", ""))

    def is_ready(self, finished: bool, epochs_done: int) -> bool:
        """Whether a run of this step (``finished`` or not, with ``epochs_done``) has enough to reveal."""
        return finished or (self.ready_epochs is not None and epochs_done >= self.ready_epochs)

    def is_right(self, prediction: str, measured: str | float) -> bool:
        """Whether the committed ``prediction`` (as the URL holds it) matches what was measured."""
        if self.slider is None:
            return prediction == measured
        return abs(float(prediction) - float(measured)) <= self.slider.tolerance


@dataclass(frozen=True)
class Lesson:
    """A lesson file, read and checked: its id is the file's name without ``.toml``."""

    lesson_id: str
    title: str
    summary: str
    order: int
    steps: tuple[Step, ...]
    path: Path


def _fail(where: str, field: str, allowed: str, value: Any = None, *, show_value: bool = True) -> NoReturn:
    shown = repr(value)
    # A whole table or list of steps would bury the message: show its start.
    got = f"; got {shown if len(shown) <= MAX_SHOWN else shown[:MAX_SHOWN] + '…'}" if show_value else ""
    raise LessonError(f"Lesson file {where}: {field} must be {allowed}{got}")


def _text(where: str, table: Mapping[str, Any], field: str, name: str | None = None) -> str:
    value = table.get(field)
    if not isinstance(value, str) or not value.strip():
        _fail(where, name or field, "a non-empty text", value, show_value=field in table)
    return value.strip()


def _unknown(where: str, table: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    allowed = tuple(allowed)
    for field in table:
        if field not in allowed:
            raise LessonError(f"Lesson file {where}: {prefix}{field} is not a known field; allowed: "
                              + ", ".join(allowed))


def _config(where: str, name: str, dataset: str, values: Mapping[str, Any]) -> TrainConfig:
    allowed = tuple(form.DEFAULTS) + EXTRA_SETUP_FIELDS
    _unknown(where, values, allowed, prefix=f"{name}.")
    values = dict(values)
    dataset = values.pop("dataset", dataset)
    exclude_class = values.pop("exclude_class", None)
    if dataset not in DATASETS:
        _fail(where, f"{name}.dataset", "one of " + ", ".join(map(repr, DATASETS)), dataset)
    try:
        return form.build_config(dataset, values).replace(exclude_class=exclude_class)
    except (ValueError, TypeError) as error:
        raise LessonError(f"Lesson file {where}: {name}: the run is refused: {error}") from None


def _slider(where: str, name: str, table: Any) -> Slider:
    if not isinstance(table, dict):
        _fail(where, name, "a table with min, max, step and tolerance (numbers) and an optional unit", table)
    _unknown(where, table, _SLIDER_FIELDS, prefix=f"{name}.")
    numbers = {}
    for field in _SLIDER_FIELDS[:4]:
        value = table.get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(where, f"{name}.{field}", "a number", value)
        numbers[field] = float(value)
    if not numbers["min"] < numbers["max"] or numbers["step"] <= 0 or numbers["tolerance"] < 0:
        _fail(where, name, "min < max, step > 0 and tolerance >= 0", table)
    unit = table.get("unit", "")
    if not isinstance(unit, str):
        _fail(where, f"{name}.unit", "a text", unit)
    return Slider(numbers["min"], numbers["max"], numbers["step"], numbers["tolerance"], unit)


def _prediction(where: str, name: str, step: Mapping[str, Any], kind: RevealKind
                ) -> tuple[dict[str, str] | None, Slider | None]:
    if kind.is_numeric:
        if "choices" in step:
            _fail(where, f"{name}.choices", f"left out: reveal {kind.name!r} measures a number, so the step "
                  "asks for a slider", show_value=False)
        return None, _slider(where, f"{name}.slider", step.get("slider"))
    choices = step.get("choices")
    answers = ", ".join(map(repr, kind.answers))
    if not isinstance(choices, dict) or set(choices) != set(kind.answers):
        _fail(where, f"{name}.choices", f"a table with one text for each answer of reveal {kind.name!r}: {answers}",
              choices)
    if "slider" in step:
        _fail(where, f"{name}.slider", f"left out: reveal {kind.name!r} asks for a choice", show_value=False)
    return {answer: _text(where, choices, answer, f"{name}.choices.{answer}") for answer in kind.answers}, None


def _explain(where: str, name: str, value: Any, kind: RevealKind) -> dict[str, str]:
    if isinstance(value, str) and value.strip():
        return {"": value.strip()}
    if kind.answers and isinstance(value, dict) and set(value) == set(kind.answers):
        return {answer: _text(where, value, answer, f"{name}.explain.{answer}") for answer in kind.answers}
    per_answer = f", or a table with one text per answer ({', '.join(map(repr, kind.answers))})" if kind.answers else ""
    _fail(where, f"{name}.explain", f"a non-empty text{per_answer}", value)


def _step(where: str, index: int, step: Any, dataset: str) -> Step:
    name = f"steps[{index}]"
    if not isinstance(step, dict):
        _fail(where, name, "a table ([[steps]])", step)
    _unknown(where, step, _STEP_FIELDS, prefix=f"{name}.")
    question = _text(where, step, "question", f"{name}.question")
    reveal = step.get("reveal")
    if reveal not in REVEAL_KINDS:
        _fail(where, f"{name}.reveal", "one of " + ", ".join(map(repr, REVEAL_KINDS)), reveal)
    kind = REVEAL_KINDS[reveal]
    choices, slider = _prediction(where, name, step, kind)
    setup = step.get("setup", {})
    runs = step.get("runs", [{}])
    if not isinstance(setup, dict):
        _fail(where, f"{name}.setup", "a table of Train form fields", setup)
    if not isinstance(runs, list) or not 1 <= len(runs) <= MAX_RUNS or not all(isinstance(r, dict) for r in runs):
        _fail(where, f"{name}.runs", f"a list of 1 to {MAX_RUNS} tables of Train form fields", runs)
    configs = tuple(_config(where, f"{name}.runs[{number}]", dataset, {**setup, **run})
                    for number, run in enumerate(runs, start=1))
    problem = kind.check_runs(configs)
    if problem:
        _fail(where, f"{name}.runs", f"{problem} for reveal {reveal!r}", show_value=False)
    ready = step.get("ready", READY_FINISHED)
    most = min(config.num_epochs for config in configs)
    if ready != READY_FINISHED and (isinstance(ready, bool) or not isinstance(ready, int) or not 1 <= ready <= most):
        _fail(where, f"{name}.ready", f"{READY_FINISHED!r} or a number of epochs from 1 to {most}", ready)
    if ready != READY_FINISHED and kind.needs_finished:
        _fail(where, f"{name}.ready", f"{READY_FINISHED!r} for reveal {reveal!r} (it reads the final test results)",
              ready)
    return Step(question, reveal, configs, choices, slider, None if ready == READY_FINISHED else ready,
                _explain(where, name, step.get("explain"), kind))


def load_lesson(path: Path) -> Lesson:
    """Read and check one lesson file.

    Raises:
        LessonError: naming the file and the field, for anything that is not a usable lesson.
    """
    where = f"{path.parent.name}/{path.name}"
    lesson_id = path.stem
    if not LESSON_ID.fullmatch(lesson_id):
        _fail(where, "the file name", "lowercase letters, digits, '-' and '_' (at most 40), ending in .toml",
              path.name)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise LessonError(f"Lesson file {where}: it is not valid TOML ({error})") from None
    except OSError as error:
        raise LessonError(f"Lesson file {where}: it cannot be read ({error.strerror})") from None
    _unknown(where, data, _LESSON_FIELDS)
    title, summary = _text(where, data, "title"), _text(where, data, "summary")
    order = data.get("order", 100)
    if isinstance(order, bool) or not isinstance(order, int):
        _fail(where, "order", "a whole number (lessons are listed by it)", order)
    dataset = data.get("dataset", "mnist_sample")
    if dataset not in DATASETS:
        _fail(where, "dataset", "one of " + ", ".join(map(repr, DATASETS)), dataset)
    steps = data.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        _fail(where, "steps", f"1 to {MAX_STEPS} [[steps]] tables", steps, show_value="steps" in data)
    return Lesson(lesson_id, title, summary, order,
                  tuple(_step(where, index, step, dataset) for index, step in enumerate(steps, start=1)), path)


def lesson_folders() -> list[Path]:
    """The built-in folder, and the teacher's folder named by ``AE_LAB_LESSONS_DIR`` if set."""
    extra = os.environ.get(LESSONS_DIR_ENV, "").strip()
    return [BUILT_IN_DIR] + ([Path(extra).expanduser()] if extra else [])


def lesson_paths(folders: Iterable[Path]) -> list[Path]:
    """Every ``*.toml`` file of ``folders``, in name order per folder (a missing folder has none)."""
    return [path for folder in folders if folder.is_dir() for path in sorted(folder.glob("*.toml"))]


def load_lessons(paths: Iterable[Path]) -> tuple[dict[str, Lesson], list[str]]:
    """Load every lesson file of ``paths``; a broken one is skipped and its message kept.

    Returns:
        ``(lessons, problems)``: lessons by id, in their ``order`` (then title), and one
        message per file that could not be used.
    """
    lessons: dict[str, Lesson] = {}
    problems: list[str] = []
    for path in paths:
        try:
            lesson = load_lesson(path)
        except LessonError as error:
            problems.append(str(error))
            continue
        if lesson.lesson_id in lessons:
            problems.append(f"Lesson file {path.parent.name}/{path.name}: the file name must differ from every "
                            f"other lesson's; {lessons[lesson.lesson_id].path} already uses "
                            f"{lesson.lesson_id!r}")
            continue
        lessons[lesson.lesson_id] = lesson
    ordered = sorted(lessons.values(), key=lambda lesson: (lesson.order, lesson.title))
    return {lesson.lesson_id: lesson for lesson in ordered}, problems
