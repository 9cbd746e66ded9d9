"""AppTest checks of the Train page's first minute: the run stays attached, its settings fill the sidebar,
and Stop shows at once that the run is stopping."""

from __future__ import annotations

from dataclasses import replace

from ae_core.config import ModelConfig, TrainConfig
from ae_core.store.records import RunRecord, RunStatus
from ae_lab_ui import form
from ae_lab_ui.controls import USE_SETTINGS_PARAM
from tests.fake_jobs import FakeJobManager
from tests.test_app import assert_clean, run_app, texts, training_run

# Everything a Deep dense run can set differs from the defaults here.
OTHER_SETTINGS = TrainConfig(
    model=ModelConfig(arch="deep", latent_dim=8, hidden_sizes=(128, 64), activation="elu", loss="mse",
                      output_activation="linear", dropout=0.2, noise="masking", noise_level=0.5),
    num_epochs=7, batch_size=64, optimizer="rmsprop", learning_rate=1e-2, seed=5, train_limit=2000,
    validation_fraction=0.2)


def test_the_defaults_are_the_cores_own_defaults() -> None:
    # One fact in one place: the sidebar starts from TrainConfig()'s values.
    assert form.values_from_config(TrainConfig()) == form.DEFAULTS
    assert (form.DEFAULTS["batch_size"], form.DEFAULTS["learning_rate"]) == (32, 3e-3)


def test_values_from_config_round_trip_through_build_config() -> None:
    assert form.build_config("mnist_sample", form.values_from_config(OTHER_SETTINGS)) == OTHER_SETTINGS
    for name in form.PRESETS:
        config = form.build_config("mnist_sample", form.preset_values(name))
        assert form.build_config("mnist_sample", form.values_from_config(config)) == config, name


def test_every_preset_differs_from_the_defaults_and_from_each_other() -> None:
    configs = [form.build_config("mnist_sample", form.DEFAULTS)]
    configs += [form.build_config("mnist_sample", form.preset_values(name)) for name in form.PRESETS]
    assert len(set(configs)) == len(configs)


def test_a_run_link_fills_the_sidebar_with_that_runs_settings(fake: FakeJobManager) -> None:
    run_id = fake.add_run(OTHER_SETTINGS, status=RunStatus.FINISHED)
    app = run_app({"run_id": run_id})
    assert_clean(app)
    assert app.selectbox(key="train_arch").value == "deep"
    assert app.number_input(key="train_num_epochs").value == 7
    app.button(key="train_start").click().run()
    assert fake.submitted[-1] == OTHER_SETTINGS  # pressing Train starts what was shown


def test_the_persons_own_changes_stay_after_the_fill(fake: FakeJobManager) -> None:
    run_id = fake.add_run(OTHER_SETTINGS, status=RunStatus.FINISHED)
    app = run_app({"run_id": run_id})
    app.select_slider(key="train_latent_dim").set_value(16).run()
    app.run()
    assert app.select_slider(key="train_latent_dim").value == 16
    app.button(key="train_start").click().run()
    assert fake.submitted[-1] == OTHER_SETTINGS.replace(model=replace(OTHER_SETTINGS.model, latent_dim=16))
    # "Use these settings" puts the run's own settings back.
    app.query_params["run_id"] = run_id
    app.run()
    app.button(key="train_use_settings").click().run()
    assert app.select_slider(key="train_latent_dim").value == 8


def test_coming_back_to_train_shows_the_run_this_session_watched(fake: FakeJobManager) -> None:
    run_id = training_run(fake)
    app = run_app({"run_id": run_id})
    app.switch_page("app_pages/runs.py").run()
    assert_clean(app)
    app.query_params.clear()  # the top navigation drops the query string
    app.switch_page("app_pages/train.py").run()
    assert_clean(app)
    assert app.query_params["run_id"] == run_id
    assert app.subheader[0].value == form.describe(fake.runs[run_id].config)
    assert not app.button(key="train_stop").proto.disabled


def test_a_deleted_watched_run_is_forgotten(fake: FakeJobManager) -> None:
    run_id = training_run(fake)
    app = run_app({"run_id": run_id})
    fake.delete(run_id)
    app.query_params.clear()
    app.run()
    assert "no longer exists" in texts(app.warning)
    app.run()
    assert not app.warning and app.title[0].value == "Train an autoencoder"


def test_use_these_settings_on_the_runs_page_opens_train_with_them(fake: FakeJobManager) -> None:
    run_id = fake.add_run(OTHER_SETTINGS, status=RunStatus.FINISHED)
    app = run_app()
    app.switch_page("app_pages/runs.py").run()
    assert_clean(app)
    (link,) = [link for link in app.get("page_link") if link.proto.label == "Use these settings"]
    assert link.proto.query_string == f"run_id={run_id}&{USE_SETTINGS_PARAM}=1"
    # Following the link: the Train page with the run and the request in its query string.
    app.query_params.update({"run_id": run_id, USE_SETTINGS_PARAM: "1"})
    app.switch_page("app_pages/train.py").run()
    assert_clean(app)
    assert USE_SETTINGS_PARAM not in app.query_params
    assert app.query_params["run_id"] == run_id
    assert app.selectbox(key="train_arch").value == "deep"
    assert app.select_slider(key="train_batch_size").value == 64


def test_stop_shows_stopping_at_once_and_stopped_when_the_service_confirms(fake: FakeJobManager) -> None:
    fake.cancel_stops_at_once = False
    run_id = training_run(fake, steps=1)
    app = run_app({"run_id": run_id})
    app.button(key="train_stop").click().run()
    assert_clean(app)
    stop = app.button(key="train_stop")
    assert stop.label == "Stopping…" and stop.proto.disabled
    assert app.metric[0].value == "Stopping…"
    fake.set_status(run_id, RunStatus.CANCELLED)
    app.run()
    assert app.metric[0].value == "Stopped" and app.button(key="train_stop").label == "Stop"
    assert "stopped before the end" in texts(app.info)


def test_the_welcome_screen_has_its_own_train_button(fake: FakeJobManager) -> None:
    # On a phone the sidebar starts closed: the main area can start the run too.
    app = run_app()
    assert "Ready to train:" in texts(app.markdown)
    app.button(key="train_start_main").click().run()
    assert fake.submitted[-1] == form.build_config("mnist_sample", form.DEFAULTS)
    assert app.query_params["run_id"] in fake.runs


def _phone_scripts(app) -> int:
    """The page's scripts that close a phone's sidebar (``views.close_sidebar_on_a_phone``)."""
    return sum("stSidebarCollapseButton" in element.proto.body for element in app.get("html"))


def test_train_closes_a_phones_sidebar_even_when_the_run_starting_redraws_the_page(fake: FakeJobManager) -> None:
    # The run starts training between the page's read of it and the live view's: the live view cuts
    # that page run short to redraw the page (the change control is offered now), and the redrawn page
    # must still hold the phone's script, or a phone's sidebar stays over the run.
    reads = []

    def read_then_start(run_id: str) -> RunRecord:
        record = FakeJobManager.get_run(fake, run_id)
        reads.append(record.status)
        if record.status is RunStatus.QUEUED:
            fake.set_status(run_id, RunStatus.RUNNING, started_at=record.created_at)
        return record

    app = run_app()
    assert _phone_scripts(app) == 0
    fake.get_run = read_then_start
    app.button(key="train_start").click().run()
    assert_clean(app)
    assert reads[:2] == [RunStatus.QUEUED, RunStatus.RUNNING]  # the page was redrawn
    assert _phone_scripts(app) == 1
    app.run()
    assert _phone_scripts(app) == 0  # once the page has been drawn whole, not again
