"""Changes mid-run: the history in config.json, the variables a traced step reads, the trainer
applying and replaying changes, the service path with real workers, the loss figure's markers and
the Train page's control."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_core.access import LAB_OWNER, Actor
from ae_core.changes import MAX_CHANGES, Change, changeable_fields, check_change, schedule, value_at
from ae_core.config import ModelConfig, TrainConfig
from ae_core.service.jobs import JobManager
from ae_core.store.records import RunStatus
from ae_lab_ui import figures
from ae_lab_ui.history import MetricHistory
from tests.collect import run
from tests.fake_jobs import FakeJobManager
from tests.test_app import assert_clean, run_app, texts, training_run
from tests.test_jobs import fake_config, make_any_manager, make_manager, wait_for, wait_status  # noqa: F401 (fixtures)
from tests.test_pages_class import ALICE, BOB, as_browser, classroom  # noqa: F401 (classroom: a fixture)

VAE = ModelConfig(arch="vae", latent_dim=4, hidden_sizes=(32,), noise="masking", noise_level=0.1)


def vae_run(**changes) -> TrainConfig:
    """A tiny denoising VAE run: 256 digits in 8 batches an epoch, so changes land at steps 0, 4, 8..."""
    return TrainConfig(dataset="mnist_sample", model=VAE, num_epochs=2, batch_size=32, train_limit=256, seed=1,
                       **changes)


# -- the history: validation, config.json, schedule -------------------------------------------------
def test_the_history_round_trips_through_config_json_and_old_files_still_load() -> None:
    config = vae_run(changes=(Change(8, 1, "beta", 0.5), Change(4, 0, "learning_rate", 1e-4)))
    text = json.dumps(config.to_dict())
    assert json.loads(text)["changes"][0] == {"step": 8, "epoch": 1, "field": "beta", "value": 0.5}
    assert TrainConfig.from_json(text) == config
    old = {key: value for key, value in vae_run().to_dict().items() if key != "changes"}
    assert TrainConfig.from_dict(old).changes == ()
    with pytest.raises(ValueError, match="changes item must be a mapping with step, epoch, field and value"):
        TrainConfig.from_dict({**old, "changes": [{"step": 1}]})
    with pytest.raises(ValueError, match=r"field must be one of 'learning_rate' for this run; got 'beta'"):
        TrainConfig(changes=(Change(1, 0, "beta", 2.0),))  # a plain autoencoder has no β
    with pytest.raises(ValueError, match=f"changes must be at most {MAX_CHANGES}"):
        vae_run(changes=(Change(1, 0, "beta", 2.0),) * (MAX_CHANGES + 1))


def test_a_change_is_checked_by_the_configs_own_rules() -> None:
    config = vae_run()
    assert changeable_fields(config) == ("learning_rate", "beta", "noise_level")
    assert changeable_fields(TrainConfig()) == ("learning_rate",)
    assert changeable_fields(TrainConfig(task="classify")) == ()
    assert check_change(config, "beta", 2) == 2.0
    with pytest.raises(ValueError, match=r"learning_rate must be a number in \(0, 10\]; got 0"):
        check_change(config, "learning_rate", 0)
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, 1000\]; got -1"):
        check_change(config, "beta", -1)
    with pytest.raises(ValueError, match=r"noise_level must be a number in \[0, 1\); got 1.0"):
        check_change(config, "noise_level", 1.0)  # masking noise drops pixels with a probability
    with pytest.raises(ValueError, match="Only an autoencoder run can be changed"):
        check_change(TrainConfig(task="classify"), "learning_rate", 1e-3)


def test_the_schedule_is_what_the_run_trained_with() -> None:
    # Recorded in this order: a resumed run trained steps 8.. again, and changed beta at 6 then.
    config = vae_run(changes=(Change(4, 0, "learning_rate", 1e-3), Change(8, 1, "beta", 0.5),
                              Change(12, 1, "learning_rate", 1e-4), Change(6, 0, "beta", 2.0)))
    assert schedule(config) == {"learning_rate": [(0, 3e-3), (4, 1e-3), (12, 1e-4)], "beta": [(0, 1.0), (6, 2.0)]}
    assert value_at(config, "beta", 5) == 1.0 and value_at(config, "beta", 100) == 2.0
    assert schedule(vae_run()) == {}


# -- the model: variables a traced step reads ---------------------------------------------------------
def test_the_traced_noise_and_beta_read_their_variables() -> None:
    from ae_core.models import build_autoencoder, live_settings
    from ae_core.models.layers import LevelGaussianNoise, MaskingNoise

    images = tf.ones((4, 8, 8, 1))
    for layer, quiet, loud in ((MaskingNoise(0.0, seed=1), 0.0, 0.9), (LevelGaussianNoise(0.0, seed=1), 0.0, 0.5)):
        noisy = tf.function(lambda x, layer=layer: layer(x, training=True))
        assert np.allclose(noisy(images), images)
        layer.level.variable.assign(loud)  # the same traced function, no retrace
        assert not np.allclose(noisy(images), images)
        assert type(layer).from_config(layer.get_config()).level.value == pytest.approx(loud)
        layer.level.variable.assign(quiet)
    bundle = build_autoencoder(VAE, (28, 28, 1), seed=1)
    model = bundle.autoencoder
    terms = tf.function(lambda x: model._loss_terms(x, training=False))
    data = tf.random.stateless_uniform((4, 28, 28, 1), seed=(1, 2))

    def kl_weight() -> float:
        values = terms(data)  # one draw of the sampling layer
        return float((values["loss"] - values["reconstruction_loss"]) / values["kl_loss"])

    assert kl_weight() == pytest.approx(1.0, rel=1e-3)
    live_settings(bundle)["beta"].assign(0.25)
    assert kl_weight() == pytest.approx(0.25, rel=1e-3) and model.get_config()["beta"] == 0.25
    assert set(live_settings(bundle)) == {"learning_rate", "beta", "noise_level"}


def test_a_model_saved_with_kerass_own_gaussian_noise_still_loads(tmp_path: Path) -> None:
    from ae_core.models import build_autoencoder, live_settings, load_autoencoder, save_autoencoder

    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=4, noise="gaussian", noise_level=0.2), (28, 28, 1))
    inputs = keras.Input((28, 28, 1), name="image")
    old = keras.Model(inputs, bundle.autoencoder.get_layer("decoder")(bundle.autoencoder.get_layer("encoder")(
        keras.layers.GaussianNoise(0.2, seed=0, name="noise")(inputs))), name="dense_autoencoder")
    old.compile(optimizer="adam", loss="mse", metrics=["mse"])
    save_autoencoder(type(bundle)(old, bundle.encoder, bundle.decoder, bundle.config), tmp_path / "old.keras")
    loaded = load_autoencoder(tmp_path / "old.keras")
    assert set(live_settings(loaded)) == {"learning_rate"}  # its noise level cannot change; the rest works


# -- the trainer: at the next batch, recorded once, replayed on resume ---------------------------------------
def changes_at(call: int, *asked: tuple[str, float]) -> Callable[[], list[tuple[str, float]]]:
    """A ``take_changes`` that returns ``asked`` at its ``call``-th poll (1-based) and nothing otherwise."""
    calls = [0]

    def take() -> list[tuple[str, float]]:
        calls[0] += 1
        return list(asked) if calls[0] == call else []
    return take


def test_a_change_reaches_the_variables_at_the_next_batch_is_recorded_once_and_replayed_on_resume(tmp_path) -> None:
    # Keras runs 4 batches per call (STEPS_PER_EXECUTION), so the 3rd poll is before step 8: epoch 2's first.
    asked = (("learning_rate", 1e-4), ("beta", 0.0), ("noise_level", 0.5))
    first, events = run(vae_run(), checkpoint_dir=tmp_path, take_changes=changes_at(3, *asked))
    changes = [event for event in events if event["type"] == "change"]
    assert [(c["step"], c["epoch"], c["field"], c["value"]) for c in changes] == [(8, 1, f, v) for f, v in asked]
    model = first.model.autoencoder
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    assert model.beta == 0.0 and model.get_layer("noise").rate == pytest.approx(0.5)
    epoch_two = [event["metrics"] for event in events if event["type"] == "epoch"][1]
    assert epoch_two["loss"] == pytest.approx(epoch_two["reconstruction_loss"])  # β 0 from epoch 2's first batch
    # Resumed from the epoch-1 checkpoint with that history: the settings are back (β and the noise
    # level are not in the checkpoint), and nothing is recorded twice.
    history = tuple(Change(c["step"], c["epoch"], c["field"], c["value"]) for c in changes)
    (tmp_path / "checkpoint.json").write_text(json.dumps({"epoch": 1}))
    resumed, events = run(vae_run(changes=history), checkpoint_dir=tmp_path, resume=True)
    assert events[0]["initial_epoch"] == 1 and not [e for e in events if e["type"] == "change"]
    model = resumed.model.autoencoder
    assert model.beta == 0.0 and model.get_layer("noise").rate == pytest.approx(0.5)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)


def test_a_resumed_run_replays_later_changes_at_their_steps_and_a_new_change_replaces_them() -> None:
    from ae_core.training.callbacks import RunState
    from ae_core.training.live_changes import LiveChanges

    config = vae_run(changes=(Change(4, 0, "learning_rate", 1e-3), Change(12, 1, "beta", 0.0),
                              Change(14, 1, "noise_level", 0.3)))
    variables = {field: keras.Variable(-1.0) for field in ("learning_rate", "beta", "noise_level")}
    asked: list[tuple[str, float]] = []
    events: list[dict] = []
    state = RunState(8, initial_epoch=1)  # resumed at step 8
    callback = LiveChanges(state, config, variables, lambda: [asked.pop()] if asked else [], events.append)
    callback.on_train_begin()
    values = lambda: {field: round(float(variable), 6) for field, variable in variables.items()}  # noqa: E731
    assert values() == {"learning_rate": 1e-3, "beta": 1.0, "noise_level": 0.1}  # as at step 8
    state.step = 12
    callback.on_train_batch_begin(4)
    assert values()["beta"] == 0.0 and values()["noise_level"] == 0.1  # step 12's change, not yet step 14's
    asked.append(("noise_level", 0.6))  # a new change at step 12: step 14's replay no longer applies
    callback.on_train_batch_begin(4)
    state.step = 16
    callback.on_train_batch_begin(0)
    assert values()["noise_level"] == 0.6
    assert [(e["step"], e["field"], e["value"]) for e in events] == [(12, "noise_level", 0.6)]


# -- the service: page -> JobManager -> supervisor -> worker -> store, with real worker processes ------------
def test_a_change_travels_to_the_worker_and_into_config_json(make_any_manager: Callable[..., JobManager]) -> None:
    manager = make_any_manager(max_concurrent=1, warm_workers=1)
    run_id = manager.submit(fake_config(steps=400, epochs=2).replace(model=VAE))  # about 16 s if left alone
    wait_for(lambda: manager.metrics_since(run_id), "the first loss points")
    manager.change(run_id, "learning_rate", 3e-4)
    manager.change(run_id, "beta", 4.0)
    changes = wait_for(lambda: len(manager.get_run(run_id).config.changes) == 2
                       and manager.get_run(run_id).config.changes, "both changes in config.json")
    assert [(c.field, c.value) for c in changes] == [("learning_rate", 3e-4), ("beta", 4.0)]
    assert all(0 < c.step < 800 for c in changes)
    on_disk = json.loads(manager.config_path(run_id).read_text())["changes"]
    assert [(c["field"], c["value"]) for c in on_disk] == [("learning_rate", 3e-4), ("beta", 4.0)]
    with pytest.raises(ValueError, match=r"noise_level must be a number in \[0, 1\); got 2.0"):
        manager.change(run_id, "noise_level", 2.0)
    manager.cancel(run_id)
    wait_status(manager, run_id, RunStatus.CANCELLED)
    with pytest.raises(ValueError, match=f"Only a run that is training can be changed; run {run_id[:8]} is cancelled"):
        manager.change(run_id, "learning_rate", 1e-3)
    assert len(manager.get_run(run_id).config.changes) == 2  # each recorded once


def test_a_paused_or_someone_elses_run_is_refused_in_plain_words(classroom: FakeJobManager) -> None:
    from ae_core.access import Actor

    run_id = classroom.add_run(vae_run(), started_by=ALICE)
    with pytest.raises(PermissionError, match="You can only change your own runs"):
        classroom.change(run_id, "beta", 2.0, Actor(BOB, is_teacher=False))
    classroom.set_status(run_id, RunStatus.QUEUED)  # started before: paused
    with pytest.raises(ValueError, match=f"Run {run_id[:8]} is paused so that a waiting run could start"):
        classroom.change(run_id, "beta", 2.0, Actor(ALICE, is_teacher=False))


# -- the loss figure and the Train page ---------------------------------------------------------------
def test_the_loss_figure_marks_each_change_with_its_new_value() -> None:
    from ae_core.store.records import MetricRow

    history = MetricHistory("r" * 32)
    history.add([MetricRow(step, "batch", "loss", 0.5 / step, 0, step, step * 0.1) for step in range(1, 21)])
    changes = (Change(8, 0, "learning_rate", 1e-4), Change(8, 0, "beta", 0.5), Change(16, 1, "noise_level", 0.2))
    layout = figures.loss_figure(history, 10, changes=changes)["layout"]
    assert [(shape["x0"], shape["line"]["dash"]) for shape in layout["shapes"]] == [(0.8, "dash"), (1.6, "dash")]
    assert [a["text"] for a in layout["annotations"]] == ["→ learning rate 0.0001, β 0.5", "→ noise level 0.2"]
    assert figures.loss_figure(history, 10)["layout"]["shapes"] == []


def test_the_train_page_changes_a_running_run_and_shows_the_line(fake: FakeJobManager) -> None:
    run_id = training_run(fake, vae_run())
    app = run_app({"run_id": run_id})
    assert_clean(app)
    assert app.selectbox(key="train_change_field").options == ["learning rate", "β", "noise level"]
    app.select_slider(key="train_change_value_learning_rate").set_value(1e-4)
    app.button(key="train_change_apply").click().run()
    assert_clean(app)
    assert fake.called("change")[-1] == (run_id, "learning_rate", 1e-4)
    # The fake records it at once (the worker does at its next batch): the page is redrawn with the new value.
    assert app.select_slider(key="train_change_value_learning_rate").label == "New learning rate (now 0.0001)"
    app.selectbox(key="train_change_field").set_value("beta").run()
    app.number_input(key="train_change_value_beta").set_value(-2.0)
    app.button(key="train_change_apply").click().run()
    assert "beta must be a number in [0, 1000]; got -2.0" in texts(app.error)
    chart = app.get("plotly_chart")[0].proto.spec
    assert "learning rate 0.0001" in chart
    fake.set_status(run_id, RunStatus.FINISHED)
    app.run()
    assert "train_change_field" not in [s.key for s in app.selectbox]  # the control goes with the run


def places(app) -> dict[str, tuple[int, ...]]:
    """Where the change control and the live view's findings sit in the Train page's main area (paths of child indices)."""
    found: dict[str, tuple[int, ...]] = {}

    def walk(node, path: tuple[int, ...]) -> None:
        for index, child in getattr(node, "children", {}).items():
            here = (*path, index)
            if getattr(child, "label", None) == "Change while training":
                found["control"] = here
            if str(getattr(getattr(child, "proto", None), "id", "")).endswith("-train_diagnostics"):
                found["findings"] = here
            walk(child, here)

    walk(app.main, ())
    return found


def test_the_control_and_the_live_view_keep_their_places_from_one_page_run_to_the_next(
        fake: FakeJobManager, monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamlit mounts an element afresh when its place changes, and a fresh expander starts closed: the phone's
    one-off script after Train moved the control down on that page run only, so the redraw when the polling slowed
    down closed the control in the person's hands (in a browser test, half the time)."""
    submit = fake.submit

    def submit_and_start(config: TrainConfig, actor: Actor = LAB_OWNER) -> str:  # claimed before the page reads it
        run_id = submit(config, actor)
        fake.set_status(run_id, RunStatus.RUNNING)
        return run_id

    monkeypatch.setattr(fake, "submit", submit_and_start)
    app = run_app()
    app.button(key="train_start").click().run()
    assert_clean(app)
    after_train = places(app)
    assert set(after_train) == {"control", "findings"}, after_train
    assert places(app.run()) == after_train  # the next page run (the polling slows down)
    fake.set_status(fake.list_runs()[0].run_id, RunStatus.FINISHED)
    assert places(app.run()) == {"findings": after_train["findings"]}  # the control goes; the live view stays put


def test_in_the_presenter_view_the_control_comes_under_the_live_view(fake: FakeJobManager) -> None:
    """At a projector's 1280x720 the control above the live view pushed the loss curve below the fold while the run
    trained (tests/e2e/test_browser_share.py measures it)."""
    run_id = training_run(fake, vae_run())
    plain, presenting = places(run_app({"run_id": run_id})), places(run_app({"run_id": run_id, "present": "1"}))
    assert plain["control"] < plain["findings"] and presenting["findings"] < presenting["control"], (plain, presenting)


def test_no_control_for_a_run_of_another_student(classroom: FakeJobManager) -> None:
    run_id = training_run(classroom, vae_run())
    classroom.set_status(run_id, RunStatus.RUNNING, started_by=ALICE)
    assert "train_change_field" in [s.key for s in as_browser(ALICE, query_params={"run_id": run_id}).selectbox]
    assert "train_change_field" not in [s.key for s in as_browser(BOB, query_params={"run_id": run_id}).selectbox]
