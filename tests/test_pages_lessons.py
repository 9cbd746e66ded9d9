"""AppTest checks of the Lessons page with the fake job manager: predict, train, watch, reveal, and the URL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ae_core.store.records import RunStatus
from ae_lab_ui import lesson_files
from tests.app_elements import charts
from tests.fake_jobs import FakeJobManager

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "lessons.py")
COMPRESSION = {"lesson": "compression", "step": "1"}


def open_page(params: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=30)
    app.query_params.update(params or {})
    return app.run()


def button(app: AppTest, key: str):
    return next(element for element in app.button if element.key == key)


def texts(app: AppTest) -> str:
    return " ".join(element.value for kind in ("markdown", "success", "warning", "error", "info", "caption")
                    for element in getattr(app, kind))


def finish(fake: FakeJobManager, errors: dict[int, float]) -> None:
    """Train every submitted run a little and finish it with the test MSE of its latent size."""
    for run_id, record in list(fake.runs.items()):
        fake.advance(run_id)
        fake.set_status(run_id, RunStatus.FINISHED,
                        result={"test_mse": errors[record.config.model.latent_dim], "test_psnr": 20.0})


def test_the_catalogue_lists_every_lesson_and_starts_one(fake: FakeJobManager) -> None:
    app = open_page()
    assert not app.exception
    assert app.title[0].value == "Lessons"
    assert sorted(key for key in (element.key for element in app.button) if key.startswith("lessons_start_")) == sorted(
        f"lessons_start_{lesson_id}" for lesson_id in ("compression", "what-the-code-learns", "denoising",
                                                        "generating", "anomalies", "classify-with-codes"))
    button(app, "lessons_start_compression").click().run()
    assert app.title[0].value == "Compression"
    assert app.query_params["lesson"] == ["compression"] or app.query_params["lesson"] == "compression"


def test_train_waits_for_a_prediction_and_submits_the_steps_runs(fake: FakeJobManager) -> None:
    app = open_page(COMPRESSION)
    assert button(app, "lessons_train").disabled and button(app, "lessons_commit").disabled
    app.radio(key="lessons_choice").set_value("early").run()
    assert button(app, "lessons_train").disabled  # chosen is not committed
    button(app, "lessons_commit").click().run()
    assert app.query_params["predict"] in ("early", ["early"])
    assert not app.radio  # a committed prediction cannot be changed: it is shown in words
    assert "Your prediction:** From 2 to 8 numbers" in texts(app)
    assert fake.submitted == [] and not button(app, "lessons_train").disabled
    button(app, "lessons_train").click().run()
    assert not app.exception
    assert [config.model.latent_dim for config in fake.submitted] == [2, 8, 32]
    assert all(config.dataset == "mnist_sample" for config in fake.submitted)
    runs = app.query_params["runs"]
    assert (runs if isinstance(runs, str) else runs[0]).split("-") == list(fake.runs)
    assert "lessons_train" not in [element.key for element in app.button]  # one press: the runs are started
    assert "The answer" not in texts(app)
    assert "Training the step's runs" in texts(app)


def test_the_reveal_shows_once_the_runs_finished_and_survives_a_reload(fake: FakeJobManager) -> None:
    ids = [fake.submit(config) for config in lesson_files.load_lesson(
        lesson_files.BUILT_IN_DIR / "compression.toml").steps[0].configs]
    params = {**COMPRESSION, "predict": "late", "runs": "-".join(ids)}
    app = open_page(params)
    assert "The answer" not in texts(app)
    finish(fake, {2: 0.060, 8: 0.030, 32: 0.020})
    app = open_page(params)  # a reload, from the URL alone
    assert not app.exception and not app.error, [item.value for item in app.error]
    shown = texts(app)
    assert ("Test MSE 0.0600 at latent 2, 0.0300 at latent 8, 0.0200 at latent 32: from 2 to 8 it fell 0.0300, "
            "0.0050 per added number; from 8 to 32 it fell 0.0100, 0.0004 per added number.") in shown
    assert [(metric.label, metric.value) for metric in app.metric] == [
        ("You predicted", "From 8 to 32 numbers"), ("Measured", "From 2 to 8 numbers")]
    assert "Not this time" in shown and "next 6 numbers" in shown  # the explanation of "early"
    assert "Your prediction:** From 8 to 32 numbers" in shown
    button(app, "lessons_back").click().run()  # the last step of the lesson
    assert app.title[0].value == "Lessons"


def test_a_measured_answer_that_matches_says_right(fake: FakeJobManager) -> None:
    ids = [fake.submit(config) for config in lesson_files.load_lesson(
        lesson_files.BUILT_IN_DIR / "compression.toml").steps[0].configs]
    finish(fake, {2: 0.060, 8: 0.058, 32: 0.020})
    app = open_page({**COMPRESSION, "predict": "late", "runs": "-".join(ids)})
    assert "You were right" in texts(app) and "the later numbers bought more" in texts(app)


def test_a_deleted_run_is_said_plainly_with_a_way_to_train_again(fake: FakeJobManager) -> None:
    ids = [fake.submit(config) for config in lesson_files.load_lesson(
        lesson_files.BUILT_IN_DIR / "compression.toml").steps[0].configs]
    fake.delete(ids[1])
    app = open_page({**COMPRESSION, "predict": "early", "runs": "-".join(ids)})
    assert not app.exception
    assert "no longer exists" in app.warning[0].value
    button(app, "lessons_again").click().run()
    assert "runs" not in app.query_params and not button(app, "lessons_train").disabled
    assert app.query_params["predict"] in ("early", ["early"])  # the prediction is kept


@pytest.mark.parametrize(("params", "message"), [
    ({"lesson": "nope"}, "There is no lesson 'nope' here"),
    ({**COMPRESSION, "predict": "soon"}, "predict must be one of 'early', 'late'; got 'soon'"),
    ({**COMPRESSION, "predict": "early", "runs": "../x-y-z"}, "not run ids"),
])
def test_a_bad_link_gets_one_clear_message(fake: FakeJobManager, params: dict[str, str], message: str) -> None:
    app = open_page(params)
    assert not app.exception
    assert message in texts(app)
    assert fake.called("get_run") == []  # nothing from a bad link is looked up


def test_a_broken_lesson_file_is_named_and_the_others_load(fake: FakeJobManager, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.toml").write_text('title = "Mine"\nsummary = "x"\n[[steps]]\nquestion = "?"\n'
                                        'reveal = "latent_swep"\n', encoding="utf-8")
    monkeypatch.setenv(lesson_files.LESSONS_DIR_ENV, str(tmp_path))
    app = open_page()
    assert not app.exception
    assert len(app.error) == 1
    assert "mine.toml: steps[1].reveal must be one of 'latent_sweep'" in app.error[0].value
    assert "lessons_start_compression" in [element.key for element in app.button]


def test_two_maps_are_revealed_side_by_side_with_the_circle_measured(fake: FakeJobManager) -> None:
    step = lesson_files.load_lesson(lesson_files.BUILT_IN_DIR / "what-the-code-learns.toml").steps[0]
    ids = [fake.submit(config) for config in step.configs]
    for run_id in ids:
        fake.advance(run_id)
        fake.set_status(run_id, RunStatus.FINISHED)
    app = open_page({"lesson": "what-the-code-learns", "step": "1", "predict": "variational", "runs": "-".join(ids)})
    assert not app.exception and not app.error, [item.value for item in app.error]
    maps = charts(app)
    assert sorted(maps) == ["lessons_reveal_map_plain", "lessons_reveal_map_variational"]
    assert maps["lessons_reveal_map_plain"]["layout"]["shapes"][0]["x1"] == 3.0
    assert "Codes within 3 of the centre (0, 0), of the 200 drawn on each map: plain" in texts(app)


def test_a_refused_run_stops_the_steps_other_runs_and_says_why(fake: FakeJobManager) -> None:
    from ae_core.errors import QueueFull

    app = open_page({**COMPRESSION, "predict": "early"})
    submit = fake.submit

    def submit_two(config, actor):  # a class's queue limit of 2 refuses the step's third run
        if len(fake.submitted) == 2:
            raise QueueFull(2)
        return submit(config, actor)

    fake.submit = submit_two
    button(app, "lessons_train").click().run()
    assert not app.exception
    assert "Could not start the step's runs" in app.error[0].value
    assert [record.status for record in fake.runs.values()] == [RunStatus.CANCELLED, RunStatus.CANCELLED]
    assert "runs" not in app.query_params


def test_a_slider_step_reveals_the_measured_number(fake: FakeJobManager) -> None:
    step = lesson_files.load_lesson(lesson_files.BUILT_IN_DIR / "denoising.toml").steps[0]
    run_id = fake.submit(step.configs[0])
    fake.advance(run_id)
    fake.set_status(run_id, RunStatus.FINISHED)
    app = open_page({"lesson": "denoising", "step": "1", "predict": "60", "runs": run_id})
    assert not app.exception and not app.error, [item.value for item in app.error]
    assert "Your prediction:** 60%" in texts(app)
    predicted, measured = app.metric
    assert predicted.value == "60%" and measured.value.endswith("%")
    assert "On these 16 test digits the reconstructions removed" in texts(app)
    button(app, "lessons_next").click().run()  # step 2 starts afresh: no prediction, no runs
    assert dict(app.query_params.items()) in ({"lesson": "denoising", "step": "2"},
                                              {"lesson": ["denoising"], "step": ["2"]})
    assert "half of each digit's pixels are switched off" in texts(app)
    assert app.slider(key="lessons_slider").value == 50 and not app.metric


@pytest.mark.slow
def test_the_anomaly_reveal_counts_the_held_out_class_among_the_worst(fake: FakeJobManager, tmp_path: Path) -> None:
    from ae_core.models.zoo import build_autoencoder, save_autoencoder

    config = lesson_files.load_lesson(lesson_files.BUILT_IN_DIR / "anomalies.toml").steps[0].configs[0]
    run_id = fake.submit(config)
    fake.set_status(run_id, RunStatus.FINISHED)
    # An untrained model is enough to check the reveal's plumbing: the real model file, test split and ranking.
    fake.model_files[run_id] = tmp_path / "model.keras"
    save_autoencoder(build_autoencoder(config.model, config.image_shape, seed=0), fake.model_files[run_id])
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.query_params.update({"lesson": "anomalies", "step": "1", "predict": "6", "runs": run_id})
    app.run()
    assert not app.exception and not app.error, [item.value for item in app.error]
    found = re.search(r"(\d+) of the 12 worst are 2s; by mean error the held-out class ranks (\d+) of 10", texts(app))
    assert found, texts(app)
    assert app.metric[1].value == found.group(1)  # the measured number is the count in the sentence
    assert "Classes, worst first: " in texts(app)
    assert list(charts(app)) == ["lessons_reveal_by_class"]
