"""AppTest checks of share and lesson links on the Train page, and the Teacher page's Lesson link builder."""

from __future__ import annotations

import pytest

from ae_core.access import TEACHER_KEY_ENV
from ae_core.config import ModelConfig, TrainConfig
from ae_core.store.records import RunStatus
from ae_lab_ui import form, link_state
from ae_lab_ui.controls import USE_SETTINGS_PARAM
from tests.fake_jobs import FakeJobManager
from tests.test_app import assert_clean, run_app, texts

LESSON = {"arch": "deep", "latent_dim": "8", "learning_rate": "0.01", "num_epochs": "3"}


def link_of(app) -> dict[str, str]:
    return {name: value for name, value in app.query_params.items() if name != "run_id"}


def test_a_link_sets_the_controls_and_train_starts_what_it_says(fake: FakeJobManager) -> None:
    app = run_app(LESSON)
    assert_clean(app)
    assert app.selectbox(key="train_arch").value == "deep"
    assert app.select_slider(key="train_latent_dim").value == 8
    assert app.number_input(key="train_num_epochs").value == 3
    assert not app.warning  # nothing wrong with it
    app.button(key="train_start").click().run()
    config = fake.submitted[-1]
    assert (config.model.arch, config.model.latent_dim, config.learning_rate, config.num_epochs) == ("deep", 8, 0.01, 3)
    assert link_of(app) == LESSON  # the run's link still carries its setup


def test_changing_a_control_rewrites_the_link_and_the_persons_changes_stay(fake: FakeJobManager) -> None:
    app = run_app(LESSON)
    app.select_slider(key="train_latent_dim").set_value(16).run()
    assert link_of(app) == {**LESSON, "latent_dim": "16"}
    app.select_slider(key="train_latent_dim").set_value(form.DEFAULTS["latent_dim"]).run()
    assert "latent_dim" not in app.query_params  # defaults are left out
    app.run()
    assert app.select_slider(key="train_latent_dim").value == form.DEFAULTS["latent_dim"]  # not set again


def test_a_plain_visit_writes_nothing_into_the_link(fake: FakeJobManager) -> None:
    app = run_app()
    assert link_of(app) == {}


def test_bad_values_and_unknown_keys_are_named_in_one_message_and_the_rest_applies(fake: FakeJobManager) -> None:
    app = run_app({**LESSON, "latent_dim": "7", "dropout": "2", "colour": "red"})
    assert_clean(app)
    assert len(app.warning) == 1
    message = app.warning[0].value
    assert "latent_dim='7' is not offered; allowed values: 1, 2, 3, 4, 8" in message
    assert "dropout='2' is out of range; allowed values: 0 to 0.8" in message
    assert "colour='red' is not a setting of the Train page" in message
    assert app.selectbox(key="train_arch").value == "deep"  # the rest of the link applies
    assert app.select_slider(key="train_latent_dim").value == form.DEFAULTS["latent_dim"]
    assert link_of(app) == {name: text for name, text in LESSON.items() if name != "latent_dim"}  # cleaned
    app.run()
    assert not app.warning  # said once


def test_a_locked_control_shows_the_links_value_disabled_and_holds_it(fake: FakeJobManager) -> None:
    app = run_app({**LESSON, "lock": "latent_dim,arch"})
    latent = app.select_slider(key="train_latent_dim")
    assert latent.value == 8 and latent.disabled
    assert latent.label == ":material/lock: Latent size" and latent.help == link_state.LOCKED_HELP
    assert app.selectbox(key="train_arch").disabled and not app.number_input(key="train_num_epochs").disabled
    # A preset changes what the lesson leaves free, never the locked values.
    app.selectbox(key="train_preset").set_value("Convolutional").run()
    assert app.select_slider(key="train_latent_dim").value == 8 and app.selectbox(key="train_arch").value == "deep"
    assert app.number_input(key="train_num_epochs").value == form.PRESETS["Convolutional"]["num_epochs"]
    assert app.query_params["lock"] == "arch,latent_dim"
    assert "Your teacher set 2 settings for this lesson." in texts(app.caption)


def test_use_these_settings_does_not_change_a_locked_value(fake: FakeJobManager) -> None:
    run_id = fake.add_run(TrainConfig(model=ModelConfig(arch="conv", latent_dim=2), num_epochs=9),
                          status=RunStatus.FINISHED)
    app = run_app({**LESSON, "lock": "latent_dim", "run_id": run_id})
    assert app.selectbox(key="train_arch").value == "deep"  # the link's settings beat the run's own
    app.button(key="train_use_settings").click().run()
    assert app.selectbox(key="train_arch").value == "conv" and app.number_input(key="train_num_epochs").value == 9
    assert app.select_slider(key="train_latent_dim").value == 8  # locked


def test_a_runs_link_without_settings_fills_the_sidebar_and_use_settings_beats_a_links(fake: FakeJobManager) -> None:
    run_id = fake.add_run(TrainConfig(model=ModelConfig(arch="conv", latent_dim=2)), status=RunStatus.FINISHED)
    assert run_app({"run_id": run_id, "present": "1"}).selectbox(key="train_arch").value == "conv"
    app = run_app({**LESSON, "run_id": run_id, USE_SETTINGS_PARAM: "1"})
    assert app.selectbox(key="train_arch").value == "conv"
    assert link_of(app)["arch"] == "conv"  # and the link now says so


def test_a_hidden_control_is_not_drawn_but_its_value_applies(fake: FakeJobManager) -> None:
    app = run_app({**LESSON, "hide": "arch,dataset"})
    assert_clean(app)
    keys = {widget.key for widget in app.sidebar.selectbox}
    assert "train_arch" not in keys and "train_dataset" not in keys and "train_preset" in keys
    app.selectbox(key="train_preset").set_value("Convolutional").run()
    app.button(key="train_start").click().run()
    assert fake.submitted[-1].model.arch == "deep"


def test_present_turns_the_presenter_view_on_and_folds_the_advanced_settings(fake: FakeJobManager) -> None:
    app = run_app({"present": "1"})
    assert app.toggle(key=link_state.PRESENT_KEY).value
    assert not app.sidebar.expander and not app.sidebar.slider  # Layers, Training, Regularisation: folded away
    assert app.query_params["present"] == "1"
    app.toggle(key=link_state.PRESENT_KEY).set_value(False).run()
    assert len(app.sidebar.expander) == 3 and "present" not in app.query_params


def test_the_share_popover_shows_the_link_and_its_qr_code(fake: FakeJobManager) -> None:
    app = run_app({"latent_dim": "8"})
    assert app.code[0].value == "http://localhost:8501/?latent_dim=8"
    images = [element.proto for element in app.sidebar if element.type == "image"]
    assert [image.imgs[0].caption for image in images] == ["Scan to open this setup"]


@pytest.fixture
def single_user_lab(monkeypatch: pytest.MonkeyPatch, fake: FakeJobManager) -> FakeJobManager:
    monkeypatch.delenv(TEACHER_KEY_ENV, raising=False)
    return fake


def test_the_lesson_link_builder_locks_what_students_may_not_change(single_user_lab: FakeJobManager) -> None:
    app = run_app({"latent_dim": "8", "arch": "deep"})
    app.switch_page("app_pages/teacher.py").run()
    assert_clean(app)
    assert not app.text_input  # a single-user lab has no teacher key to type
    link = app.code[0].value
    locked = link.split("lock=")[1].split("&")[0].split(",")
    assert link.startswith("http://localhost:8501/?arch=deep&latent_dim=8&lock=dataset,grayscale,arch,hidden_layers")
    assert "latent_dim" not in locked and "num_epochs" not in locked  # free by default
    app.checkbox(key="teacher_lesson_free_arch").check().run()
    app.checkbox(key="teacher_lesson_free_latent_dim").uncheck().run()
    app.radio(key="teacher_lesson_others").set_value("Hidden").run()
    app.toggle(key="teacher_lesson_present").set_value(True).run()
    link = app.code[0].value
    assert "lock=" not in link and link.endswith("&present=1")
    hidden = link.split("hide=")[1].split("&")[0].split(",")
    assert "latent_dim" in hidden and "arch" not in hidden and "num_epochs" not in hidden
    # The builder's link, opened, is that lesson.
    student = run_app(dict(part.split("=") for part in link.split("?")[1].split("&")))
    assert_clean(student)
    assert "train_latent_dim" not in {widget.key for widget in student.sidebar.select_slider}
    assert student.selectbox(key="train_arch").value == "deep" and not student.selectbox(key="train_arch").disabled
    student.button(key="train_start").click().run()
    assert single_user_lab.submitted[-1].model.latent_dim == 8
