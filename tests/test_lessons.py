"""Unit tests of the lessons as data: the loader, the URL progress, and the reveal arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ae_lab_ui import lesson_files, lesson_measures, lesson_progress
from ae_lab_ui.lesson_files import LessonError, load_lesson, load_lessons

GOOD = """title = "Tiny"
summary = "A lesson for the tests."
[[steps]]
question = "Where does the error go?"
reveal = "latent_sweep"
choices = { early = "Early", late = "Late" }
setup = { arch = "dense", num_epochs = 2 }
runs = [{ latent_dim = 2 }, { latent_dim = 8 }, { latent_dim = 32 }]
explain = "Because."
"""
RUN_A, RUN_B, RUN_C = "a" * 32, "b" * 32, "c" * 32


def write(folder: Path, text: str, name: str = "tiny.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_built_in_lesson_loads_with_its_runs_built() -> None:
    lessons, problems = load_lessons(lesson_files.lesson_paths([lesson_files.BUILT_IN_DIR]))
    assert problems == []
    assert list(lessons) == ["compression", "what-the-code-learns", "denoising", "generating", "anomalies",
                             "classify-with-codes"]
    # Every reveal kind is taught by some lesson, and every prepared run is small (the offline sample, few epochs).
    assert {step.reveal for lesson in lessons.values() for step in lesson.steps} == set(lesson_measures.REVEAL_KINDS)
    configs = [config for lesson in lessons.values() for step in lesson.steps for config in step.configs]
    assert all(config.dataset == "mnist_sample" and config.num_epochs <= 5 for config in configs)
    assert lessons["anomalies"].steps[0].configs[0].exclude_class == 2
    assert [config.model.latent_dim for config in lessons["compression"].steps[0].configs] == [2, 8, 32]


def test_a_good_file_loads_and_judges_predictions(tmp_path: Path) -> None:
    lesson = load_lesson(write(tmp_path, GOOD))
    step = lesson.steps[0]
    assert (lesson.lesson_id, lesson.title, step.ready_epochs) == ("tiny", "Tiny", None)
    assert step.is_right("early", "early") and not step.is_right("late", "early")
    assert step.explanation("late") == "Because."
    assert not step.is_ready(False, 2) and step.is_ready(True, 0)


@pytest.mark.parametrize(("change", "message"), [
    (lambda text: text.replace('title = "Tiny"', 'title = "Tiny'), r"tiny\.toml: it is not valid TOML"),
    (lambda text: text.replace('title = "Tiny"\n', ""), r"tiny\.toml: title must be a non-empty text"),
    (lambda text: text.replace('question = "Where does the error go?"\n', ""),
     r"tiny\.toml: steps\[1\]\.question must be a non-empty text"),
    (lambda text: text.replace('"latent_sweep"', '"sweep"'),
     r"tiny\.toml: steps\[1\]\.reveal must be one of 'latent_sweep', 'two_maps', .*; got 'sweep'"),
    (lambda text: text.replace("latent_dim = 32", "latent_dim = 5000"),
     r"tiny\.toml: steps\[1\]\.runs\[3\]: the run is refused: latent_dim must be"),
    (lambda text: text.replace('arch = "dense"', 'arch = "dense", latnt_dim = 3'),
     r"tiny\.toml: steps\[1\]\.runs\[1\]\.latnt_dim is not a known field; allowed: .*latent_dim"),
    (lambda text: text.replace("late = \"Late\"", "later = \"Late\""),
     r"tiny\.toml: steps\[1\]\.choices must be a table with one text for each answer of reveal 'latent_sweep': "
     r"'early', 'late'"),
    (lambda text: text.replace(", { latent_dim = 32 }", ""),
     r"tiny\.toml: steps\[1\]\.runs must be at least 3 runs with different latent_dim values"),
    (lambda text: text.replace('explain = "Because."', "ready = 1\nexplain = \"Because.\""),
     r"tiny\.toml: steps\[1\]\.ready must be 'finished' for reveal 'latent_sweep'"),
    (lambda text: text.replace('reveal = "latent_sweep"', 'reveal = "denoise"'),
     r"tiny\.toml: steps\[1\]\.choices must be left out: reveal 'denoise' measures a number"),
    (lambda text: text + "colour = 'red'\n", r"tiny\.toml: steps\[1\]\.colour is not a known field"),
])
def test_each_broken_file_names_its_file_and_field(tmp_path: Path, change, message: str) -> None:
    with pytest.raises(LessonError, match=message):
        load_lesson(write(tmp_path, change(GOOD)))


def test_a_broken_file_is_reported_and_the_others_still_load(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace('"latent_sweep"', '"nope"'), "broken.toml")
    write(tmp_path, GOOD)
    write(tmp_path, GOOD, "Bad Name.toml")
    lessons, problems = load_lessons(lesson_files.lesson_paths([tmp_path]))
    assert list(lessons) == ["tiny"]
    assert len(problems) == 2
    assert any("broken.toml: steps[1].reveal must be one of" in problem for problem in problems)
    assert any("Bad Name.toml: the file name must be lowercase letters" in problem for problem in problems)


def test_a_teachers_folder_adds_lessons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lesson_files.LESSONS_DIR_ENV, str(tmp_path))
    write(tmp_path, GOOD)
    write(tmp_path, GOOD, "compression.toml")  # a built-in's id: refused, the built-in kept
    lessons, problems = load_lessons(lesson_files.lesson_paths(lesson_files.lesson_folders()))
    assert "tiny" in lessons and lessons["compression"].path.parent == lesson_files.BUILT_IN_DIR
    assert len(problems) == 1 and "compression.toml: the file name must differ" in problems[0]


def test_progress_is_read_from_the_url_and_bad_parts_are_dropped(tmp_path: Path) -> None:
    lessons = {"tiny": load_lesson(write(tmp_path, GOOD))}
    assert lesson_progress.read({}, lessons) is None
    with pytest.raises(KeyError):
        lesson_progress.read({"lesson": "gone"}, lessons)
    full = {"lesson": "tiny", "step": "1", "predict": "late", "runs": f"{RUN_A}-{RUN_B}-{RUN_C}"}
    progress = lesson_progress.read(full, lessons)
    assert (progress.prediction, progress.run_ids, progress.problems) == ("late", (RUN_A, RUN_B, RUN_C), ())
    assert progress.params() == full and progress.is_last
    assert lesson_progress.read({**full, "step": "7"}, lessons).params() == {"lesson": "tiny", "step": "1"}
    wrong = lesson_progress.read({**full, "predict": "soon"}, lessons)
    assert wrong.prediction is None and "predict must be one of 'early', 'late'; got 'soon'" in wrong.problems[0]
    forged = lesson_progress.read({**full, "runs": f"{RUN_A}-../../etc-{RUN_C}"}, lessons)
    assert forged.run_ids == () and forged.prediction == "late" and "not run ids" in forged.problems[0]
    assert lesson_progress.read({**full, "runs": RUN_A}, lessons).run_ids == ()


def test_a_slider_prediction_is_a_number_in_range(tmp_path: Path) -> None:
    text = GOOD.replace('reveal = "latent_sweep"\nchoices = { early = "Early", late = "Late" }',
                        'reveal = "denoise"\nslider = { min = 0, max = 100, step = 5, tolerance = 10 }')
    text = text.replace('setup = { arch = "dense", num_epochs = 2 }', 'setup = { noise = "gaussian" }')
    text = text.replace("runs = [{ latent_dim = 2 }, { latent_dim = 8 }, { latent_dim = 32 }]\n", "")
    step = load_lesson(write(tmp_path, text)).steps[0]
    assert lesson_progress.check_prediction(step, "45.0") == "45"
    for bad in ("101", "nan", "lots"):
        with pytest.raises(ValueError, match="predict must be a number from 0 to 100"):
            lesson_progress.check_prediction(step, bad)
    assert step.is_right("45", 54.0) and not step.is_right("45", 56.0)


def test_the_reveal_arithmetic() -> None:
    assert lesson_measures.sweep_answer([32, 2, 8], [0.01, 0.06, 0.03]) == "early"
    # 0.02 lost per 6 added numbers beats 0.02 per 24 numbers: the curve bends early.
    assert lesson_measures.sweep_answer([2, 8, 32], [0.06, 0.04, 0.02]) == "early"
    assert lesson_measures.sweep_answer([2, 8, 32], [0.06, 0.058, 0.01]) == "late"
    rng = np.random.default_rng(0)
    near = rng.normal(size=(1000, 2))
    assert lesson_measures.share_near_centre(near) > 0.95 > 0.05 > lesson_measures.share_near_centre(near + 10)
    assert lesson_measures.more_central(0.2, 0.9) == "variational"
    assert lesson_measures.more_central(0.9, 0.2) == "plain"
    clean = np.full((4, 28, 28, 1), 200, np.uint8)
    noisy = np.zeros_like(clean)
    assert lesson_measures.noise_removed(clean, noisy, clean) == pytest.approx(100.0)
    assert lesson_measures.noise_removed(clean, noisy, np.full_like(clean, 100)) == pytest.approx(75.0)
    with pytest.raises(ValueError, match="inputs must be noisy"):
        lesson_measures.noise_removed(clean, clean, clean)
    references = np.stack([clean[0], noisy[0]])
    assert lesson_measures.nearest_distance(clean, references) == pytest.approx(0.0, abs=1e-6)
    assert lesson_measures.nearest_distance(np.full_like(clean, 100), references) > 0.1
    assert lesson_measures.held_out_among_worst([2, 3, 2, 2], 2) == 3
    assert lesson_measures.probe_winner(0.9, 0.85) == "pixels" and lesson_measures.probe_winner(0.9, 0.91) == "codes"


def test_a_long_refused_value_is_quoted_short(tmp_path: Path) -> None:
    steps = GOOD[GOOD.index("[[steps]]"):]
    with pytest.raises(LessonError, match=r"steps must be 1 to 10 \[\[steps\]\] tables; got \[\{.{60,80}…$") as caught:
        load_lesson(write(tmp_path, GOOD + steps * 10))
    assert len(str(caught.value)) < 200
