"""AppTest checks of the Explore page, with the fake job manager and small real saved models."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.models.zoo import Autoencoder, build_autoencoder, save_autoencoder
from ae_core.store.records import RunStatus
from ae_lab_ui import run_models, views
from tests.app_elements import charts
from tests.fake_jobs import FakeJobManager
from tests.fragment_spy import FragmentSpy, fragments  # noqa: F401 - the fixture

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "explore.py")



def finished_run(fake: FakeJobManager, tmp_path: Path, model: ModelConfig, *,
                 status: RunStatus = RunStatus.FINISHED, **config_changes) -> str:
    """A run whose model file is a freshly built (untrained) model: the page only decodes.

    A FINISHED run gets it as its final model; a run still training, as its last epoch checkpoint.
    """
    config = TrainConfig(dataset="mnist_sample", model=model, **config_changes)
    run_id = fake.add_run(config, status=status)
    path = tmp_path / f"{run_id}.keras"
    save_autoencoder(build_autoencoder(model, config.image_shape, seed=0), path)
    (fake.model_files if status is RunStatus.FINISHED else fake.checkpoint_files)[run_id] = path
    return run_id


def open_page(run_id: str | None = None) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    if run_id:
        app.query_params["run_id"] = run_id
    return app.run()


def open_tab(app: AppTest, label: str) -> AppTest:
    """Switch the page's tabs to ``label``, as a click on it does (only the open tab is drawn)."""
    app.session_state["explore_tab"] = label
    return app.run()


def assert_clean(app: AppTest) -> None:
    assert not app.exception, [item.value for item in app.exception]
    assert not app.error, [item.value for item in app.error]


def image_captions(app: AppTest) -> list[str]:
    return [image.proto.imgs[0].caption for image in app.get("image")]


def test_without_runs_the_page_says_what_to_do(fake: FakeJobManager) -> None:
    app = open_page()
    assert not app.exception
    assert "Train a model first" in app.info[0].value


def test_a_2d_vae_shows_the_decoded_plane_prior_samples_and_sliders(fake: FakeJobManager, tmp_path: Path) -> None:
    run_id = finished_run(fake, tmp_path, ModelConfig(arch="vae", latent_dim=2, hidden_sizes=(16,)))
    app = open_page(run_id)
    assert_clean(app)
    assert app.selectbox(key="explore_run").value == run_id
    figure = charts(app)["explore_map"]
    # The decoded grid lies under the scatter, stretched over the plane.
    assert len(figure["layout"]["images"]) == 1 and figure["layout"]["images"][0]["layer"] == "below"
    assert figure["data"][-1]["name"] == "decode here"
    # Clickable, and the mouse wheel over the map scrolls the page rather than zooming.
    chart = next(element.proto for element in app.get("plotly_chart") if element.proto.id.endswith("explore_map"))
    assert list(chart.selection_mode) and json.loads(chart.config)["scrollZoom"] is False
    assert "Nothing picked yet." in [info.value for info in app.info]
    # Only the open tab is drawn: the sliders wait for theirs.
    assert not [slider for slider in app.slider if slider.key.startswith("explore_z")]
    assert not app.get("file_uploader")
    # Two code numbers: two sliders; the prior can be re-drawn.
    open_tab(app, "Sample & sliders")
    assert {slider.key for slider in app.slider} >= {f"explore_z0_{run_id}", f"explore_z1_{run_id}"}
    z0 = app.slider(key=f"explore_z0_{run_id}")
    z0.set_value(z0.max).run()
    assert_clean(app)
    app.button(key="explore_resample").click().run()
    assert app.session_state["explore_sample_seed"] == 1
    assert "12 draws from N(0, I) (seed 1)" in image_captions(app)
    open_tab(app, "Latent map")
    app.slider(key="explore_grid_size").set_value(6).run()
    assert_clean(app)
    # Settings of a tab survive a visit to another one.
    open_tab(open_tab(app, "Sample & sliders"), "Latent map")
    assert app.slider(key="explore_grid_size").value == 6
    z0 = open_tab(app, "Sample & sliders").slider(key=f"explore_z0_{run_id}")
    assert z0.value == z0.max


def test_interpolation_decodes_the_chosen_number_of_steps(fake: FakeJobManager, tmp_path: Path) -> None:
    run_id = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=8))
    app = open_tab(open_page(run_id), "Interpolate")
    assert_clean(app)
    app.number_input(key="explore_from").set_value(5)
    app.number_input(key="explore_to").set_value(9)
    app.slider(key="explore_steps").set_value(12).run()
    assert_clean(app)
    captions = image_captions(app)
    assert "12 decoded steps along the straight line between the two codes" in captions
    # An 8-d code is mapped on its PCA plane; 8 numbers still get one slider each.
    open_tab(app, "Sample & sliders")
    assert len([slider for slider in app.slider if slider.key.startswith("explore_z")]) == 8


def test_the_error_explorer_ranks_and_offers_the_anomaly_demo(fake: FakeJobManager, tmp_path: Path) -> None:
    run_id = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=4))
    app = open_tab(open_page(run_id), "Errors")
    assert_clean(app)
    found = charts(app)
    assert "explore_error_maps" in found and "explore_error_histogram" in found
    assert len(found["explore_error_histogram"]["data"]) == 10  # one histogram per digit
    app.selectbox(key="explore_hold_out").select(3)
    app.button(key="explore_train_held_out").click().run()
    assert_clean(app)
    assert fake.submitted[-1] == fake.runs[run_id].config.replace(exclude_class=3)
    assert fake.submitted_by[-1] == app.session_state["identity_student_id"]  # queued as this browser's


def test_a_held_out_run_highlights_its_class(fake: FakeJobManager, tmp_path: Path) -> None:
    run_id = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=4), exclude_class=7)
    app = open_tab(open_page(run_id), "Errors")
    assert_clean(app)
    names = [trace["name"] for trace in charts(app)["explore_error_histogram"]["data"]]
    assert "7 (never trained on)" in names
    assert not [button for button in app.button if button.key == "explore_train_held_out"]


def test_a_run_still_training_opens_its_last_checkpoint(fake: FakeJobManager, tmp_path: Path) -> None:
    run_id = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=4), status=RunStatus.RUNNING)
    app = open_page(run_id)
    assert_clean(app)
    assert "still training" in " ".join(caption.value for caption in app.caption)
    assert "explore_map" in charts(app)
    assert fake.called("latest_model_path") == [(run_id,)]


def test_a_run_without_a_model_yet_is_explained_calmly_and_opened_when_it_has_one(
        fake: FakeJobManager, tmp_path: Path, fragments: FragmentSpy) -> None:
    run_id = fake.add_run(TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=4)),
                          status=RunStatus.RUNNING)
    app = open_page()
    assert_clean(app)
    assert "no saved model yet" in app.info[0].value
    # The page watches for the first checkpoint (and the run's state), polling every two seconds.
    assert fragments.intervals("check") == [run_models.WATCH_SECONDS] * 2
    path = tmp_path / "checkpoint.keras"
    save_autoencoder(build_autoencoder(ModelConfig(arch="dense", latent_dim=4), (28, 28, 1), seed=0), path)
    fake.checkpoint_files[run_id] = path
    app.run()  # what the watcher's redraw does
    assert_clean(app)
    assert "explore_map" in charts(app)


def test_a_stopped_run_is_listed_only_when_it_saved_a_model(fake: FakeJobManager, tmp_path: Path) -> None:
    kept = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=4), status=RunStatus.CANCELLED)
    fake.add_run(TrainConfig(dataset="mnist_sample"), status=RunStatus.CANCELLED)  # stopped before its first epoch
    fake.add_run(TrainConfig(dataset="mnist_sample"), status=RunStatus.INTERRUPTED)
    app = open_page()
    assert_clean(app)
    assert app.selectbox(key="explore_run").options == [views.run_label(fake.runs[kept])]
    fake.checkpoint_files.pop(kept)
    app = open_page()
    assert_clean(app)
    assert "Train a model first" in app.info[0].value


def test_a_link_to_a_missing_run_says_so_and_opens_the_newest(fake: FakeJobManager, tmp_path: Path) -> None:
    older = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=4))
    newer = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=3))
    app = open_page("0123456789abcdef0123456789abcdef")
    assert_clean(app)
    assert [item.value for item in app.warning] == [
        "The run in this link (0123456789ab) is not here or has no model to explore; showing the newest run that "
        "has one instead."]
    assert app.selectbox(key="explore_run").value == newer
    # Two runs of one dataset tell apart by time and id in the picker.
    assert app.selectbox(key="explore_run").options == [views.run_label(fake.runs[run_id]) for run_id in (newer, older)]
    app = open_page(older)
    assert not app.warning and app.selectbox(key="explore_run").value == older


def test_the_picker_polls_while_a_run_trains_and_takes_it_in_when_it_ends(
        fake: FakeJobManager, tmp_path: Path, fragments: FragmentSpy) -> None:
    done = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=4))
    training = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=2), status=RunStatus.RUNNING)
    app = open_page(done)
    assert_clean(app)
    assert fragments.intervals("check") == [run_models.WATCH_SECONDS]
    assert run_models.states(fake, [training]) == ((RunStatus.RUNNING, False),)
    fake.set_status(training, RunStatus.FINISHED)
    # What the watcher reads now differs from what the page drew, so it redraws the page.
    assert run_models.states(fake, [training]) == ((RunStatus.FINISHED, False),)
    fragments.clear()
    app.run()
    assert_clean(app)
    assert views.run_label(fake.runs[training]) in app.selectbox(key="explore_run").options
    assert "Finished" in views.run_label(fake.runs[training])
    assert fragments.intervals("check") == []  # nothing is active: no polling


def test_the_uploader_and_the_page_give_the_same_limit(fake: FakeJobManager, tmp_path: Path) -> None:
    from ae_core.data import MAX_UPLOAD_BYTES

    finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=4))
    app = open_tab(open_page(), "Your image")
    assert_clean(app)
    uploader = app.get("file_uploader")[0].proto
    assert uploader.max_upload_size_mb * 1024 * 1024 == MAX_UPLOAD_BYTES
    assert f"at most {uploader.max_upload_size_mb} MB" in " ".join(item.value for item in app.markdown)


def test_sessions_exploring_many_runs_share_a_bounded_set_of_loaded_models(fake: FakeJobManager,
                                                                           tmp_path: Path) -> None:
    # Once, each session loaded its own models and the server grew by hundreds of MB per page.
    run_models._load.clear()
    run_models._map_data.clear()
    runs = [finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=2, hidden_sizes=()), seed=seed)
            for seed in range(run_models.MAX_LOADED_MODELS + 3)]
    for run_id in runs:  # one student's browser each
        assert_clean(open_page(run_id))
    assert_clean(open_page(runs[0]))  # the same run in another session: no second copy
    gc.collect()
    loaded = [thing for thing in gc.get_objects() if isinstance(thing, Autoencoder)]
    assert 0 < len(loaded) <= run_models.MAX_LOADED_MODELS
