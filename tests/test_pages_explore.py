"""AppTest checks of the Explore page, with the fake job manager and small real saved models."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.models.zoo import build_autoencoder, save_autoencoder
from ae_core.store.records import RunStatus
from tests.fake_jobs import FakeJobManager

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


def assert_clean(app: AppTest) -> None:
    assert not app.exception, [item.value for item in app.exception]
    assert not app.error, [item.value for item in app.error]


def charts(app: AppTest) -> dict[str, dict]:
    return {element.proto.id.rsplit("-", 1)[-1]: json.loads(element.proto.spec) for element in app.get("plotly_chart")}


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
    # Two code numbers: two sliders; the prior can be re-drawn.
    assert {slider.key for slider in app.slider} >= {f"explore_z0_{run_id}", f"explore_z1_{run_id}"}
    app.slider(key=f"explore_z0_{run_id}").set_value(0.5).run()
    assert_clean(app)
    app.button(key="explore_resample").click().run()
    assert app.session_state["explore_sample_seed"] == 1
    assert "12 draws from N(0, I) (seed 1)" in image_captions(app)
    app.slider(key="explore_grid_size").set_value(6).run()
    assert_clean(app)


def test_interpolation_decodes_the_chosen_number_of_steps(fake: FakeJobManager, tmp_path: Path) -> None:
    run_id = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=8))
    app = open_page(run_id)
    assert_clean(app)
    app.number_input(key="explore_from").set_value(5)
    app.number_input(key="explore_to").set_value(9)
    app.slider(key="explore_steps").set_value(12).run()
    assert_clean(app)
    captions = image_captions(app)
    assert "12 decoded steps along the straight line between the two codes" in captions
    # An 8-d code is mapped on its PCA plane; 8 numbers still get one slider each.
    assert len([slider for slider in app.slider if slider.key.startswith("explore_z")]) == 8


def test_the_error_explorer_ranks_and_offers_the_anomaly_demo(fake: FakeJobManager, tmp_path: Path) -> None:
    run_id = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=4))
    app = open_page(run_id)
    assert_clean(app)
    found = charts(app)
    assert "explore_error_maps" in found and "explore_error_histogram" in found
    assert len(found["explore_error_histogram"]["data"]) == 10  # one histogram per digit
    app.selectbox(key="explore_hold_out").select(3)
    app.button(key="explore_train_held_out").click().run()
    assert_clean(app)
    assert fake.submitted[-1] == fake.runs[run_id].config.replace(exclude_class=3)


def test_a_held_out_run_highlights_its_class(fake: FakeJobManager, tmp_path: Path) -> None:
    run_id = finished_run(fake, tmp_path, ModelConfig(arch="dense", latent_dim=4), exclude_class=7)
    app = open_page(run_id)
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


def test_a_run_without_a_model_yet_is_explained(fake: FakeJobManager) -> None:
    fake.add_run(TrainConfig(), status=RunStatus.RUNNING)
    app = open_page()
    assert not app.exception
    assert "no saved model yet" in app.error[0].value
