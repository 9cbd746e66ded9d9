"""AppTest checks of the Streamlit pages, with an in-memory job manager (no TensorFlow runs)."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ae_core.data import datasets
from ae_core.config import ModelConfig, TrainConfig
from ae_core.errors import DatasetUnavailable, RunNotFound
from ae_core.store.records import RunStatus
from ae_lab_ui import form, services
from tests.app_elements import charts
from tests.fake_jobs import FakeJobManager

APP = str(Path(__file__).resolve().parents[1] / "app.py")




def run_app(query_params: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=30)
    app.query_params.update(query_params or {})
    return app.run()


def assert_clean(app: AppTest) -> None:
    """No exception box: a person never sees a traceback."""
    assert not app.exception, [item.value for item in app.exception]


def count(values: Any) -> int:
    """Points in a trace's x or y, which Plotly may ship as a base64 typed array."""
    if isinstance(values, dict):
        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def training_run(fake: FakeJobManager, config: TrainConfig | None = None, steps: int = 2) -> str:
    run_id = fake.add_run(config or TrainConfig(model=ModelConfig(arch="vae", latent_dim=2)))
    for _ in range(steps):
        fake.advance(run_id)
    return run_id


# --- Train page: controls and presets ---------------------------------------------

def test_train_page_opens_on_the_offline_dataset(fake: FakeJobManager) -> None:
    app = run_app()
    assert_clean(app)
    assert app.title[0].value == "Train an autoencoder"
    assert app.selectbox(key="train_dataset").value == "mnist_sample"
    assert app.select_slider(key="train_latent_dim").value == form.DEFAULTS["latent_dim"]
    assert app.button(key="train_stop").proto.disabled  # nothing to stop yet
    assert fake.called("submit") == []


def test_default_dataset_is_the_first_available(fake: FakeJobManager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "is_available_offline", lambda name: name in {"mnist", "cifar10"})
    app = run_app()
    assert app.selectbox(key="train_dataset").value == "mnist"


def test_widgets_offer_only_valid_values(fake: FakeJobManager) -> None:
    app = run_app()
    assert app.selectbox(key="train_arch").options == [form.ARCH_TITLES[arch] for arch in form.ARCHS]
    assert [int(option) for option in app.select_slider(key="train_latent_dim").options] == list(form.LATENT_CHOICES)
    # A dense model has no hidden layers or conv blocks to set: those are greyed out.
    assert app.slider(key="train_hidden_layers").proto.disabled
    assert app.slider(key="train_conv_blocks").proto.disabled
    assert app.selectbox(key="train_output_activation").proto.disabled  # bce needs sigmoid


@pytest.mark.parametrize(("key", "value", "field"), [("train_num_epochs", 5000, "num_epochs"),
                                                     ("train_num_epochs", 0, "num_epochs"),
                                                     ("train_seed", -1, "seed")])
def test_an_out_of_range_number_is_refused_in_words_not_replaced(fake: FakeJobManager, key: str, value: int,
                                                                 field: str) -> None:
    # A number input with bounds would keep the typed value in the browser, and Train would
    # silently use the previous one; the value reaches the config, which names the field.
    app = run_app()
    app.number_input(key=key).set_value(value)
    app.button(key="train_start").click().run()
    assert fake.submitted == []
    assert len(app.error) == 1 and field in app.error[0].value and str(value) in app.error[0].value


@pytest.mark.parametrize("preset", list(form.PRESETS))
def test_a_preset_sets_the_widgets(fake: FakeJobManager, preset: str) -> None:
    app = run_app()
    app.selectbox(key="train_preset").select(preset).run()
    assert_clean(app)
    expected = form.preset_values(preset)
    assert app.selectbox(key="train_arch").value == expected["arch"]
    assert app.select_slider(key="train_latent_dim").value == expected["latent_dim"]
    assert app.selectbox(key="train_noise").value == expected["noise"]
    assert app.number_input(key="train_num_epochs").value == expected["num_epochs"]
    app.button(key="train_start").click().run()
    assert fake.submitted[-1] == form.build_config("mnist_sample", expected)


def test_train_submits_the_config_of_the_widgets(fake: FakeJobManager) -> None:
    app = run_app()
    app.selectbox(key="train_preset").select("Deep dense").run()
    app.select_slider(key="train_latent_dim").set_value(16)
    app.selectbox(key="train_loss").select("mse").run()
    app.selectbox(key="train_output_activation").select("linear")
    app.select_slider(key="train_learning_rate").set_value(1e-2)
    app.selectbox(key="train_optimizer").select("sgd")
    app.button(key="train_start").click().run()
    assert_clean(app)
    config = fake.submitted[-1]
    assert (config.model.arch, config.model.latent_dim, config.model.hidden_sizes) == ("deep", 16, (256, 128))
    assert (config.model.loss, config.model.output_activation) == ("mse", "linear")
    assert (config.optimizer, config.learning_rate, config.dataset) == ("sgd", 1e-2, "mnist_sample")
    run_id = app.query_params["run_id"]
    assert run_id in fake.runs
    assert app.subheader[0].value == form.describe(config)
    assert not app.button(key="train_stop").proto.disabled


def test_choosing_bce_again_forces_a_sigmoid_output(fake: FakeJobManager) -> None:
    app = run_app()
    app.selectbox(key="train_loss").select("mse").run()
    app.selectbox(key="train_output_activation").select("linear").run()
    app.selectbox(key="train_loss").select("bce").run()
    assert app.selectbox(key="train_output_activation").value == "sigmoid"


# --- Errors in words, never a traceback -------------------------------------------

@pytest.mark.parametrize(("error", "words"), [
    (ValueError("latent_dim must be a whole number from 1 to 1024; got 0"), "latent_dim must be a whole number"),
    (RunNotFound("no run with id 0123"), "could not be found"),
    (RuntimeError("the pool is on fire"), "Something unexpected went wrong"),
])
def test_a_failing_submit_is_shown_in_words(fake: FakeJobManager, error: Exception, words: str) -> None:
    fake.fail("submit", error)
    app = run_app()
    app.button(key="train_start").click().run()
    assert_clean(app)
    assert "Could not start the run" in texts(app.error)
    assert words in texts(app.error)
    assert "run_id" not in app.query_params


def test_an_unexpected_error_is_logged_once_with_its_traceback(fake: FakeJobManager,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    fake.fail("submit", RuntimeError("the pool is on fire"))
    app = run_app()
    with caplog.at_level(logging.ERROR, logger="ae_lab_ui"):
        app.button(key="train_start").click().run()
        assert "details are in the server's log" in texts(app.error)
        app.run()  # shown once: a later rerun neither shows nor logs it again
    assert not app.error
    logged = [record for record in caplog.records if record.name == "ae_lab_ui"]
    assert [record.getMessage() for record in logged] == ["could not start the run"]
    assert logged[0].exc_info and "the pool is on fire" in str(logged[0].exc_info[1])


def test_an_expected_error_is_not_logged(fake: FakeJobManager, caplog: pytest.LogCaptureFixture) -> None:
    fake.fail("submit", ValueError("latent_dim must be a whole number from 1 to 1024; got 0"))
    app = run_app()
    with caplog.at_level(logging.ERROR, logger="ae_lab_ui"):
        app.button(key="train_start").click().run()
    assert "latent_dim must be a whole number" in texts(app.error)
    assert not [record for record in caplog.records if record.name == "ae_lab_ui"]


def test_an_unavailable_dataset_says_how_to_get_it_and_offers_the_sample(fake: FakeJobManager) -> None:
    app = run_app()
    app.selectbox(key="train_dataset").select("cifar10").run()
    assert_clean(app)
    warning = texts(app.warning)
    assert "not on this machine" in warning and "cifar-10-batches-py" in warning and "AE_LAB_DATA_DIR" in warning
    app.button(key="train_dataset_offline_sidebar").click().run()
    assert app.selectbox(key="train_dataset").value == "mnist_sample"
    assert not app.warning


def test_dataset_unavailable_at_submit_offers_the_sample(fake: FakeJobManager) -> None:
    fake.fail("submit", DatasetUnavailable("MNIST is not on this machine; choose 'mnist_sample'"))
    app = run_app()
    app.selectbox(key="train_dataset").select("mnist").run()
    app.button(key="train_start").click().run()
    assert_clean(app)
    assert "MNIST is not on this machine" in texts(app.error)
    app.button(key="train_dataset_offline_error_start the run").click().run()
    assert app.selectbox(key="train_dataset").value == "mnist_sample"


def test_a_manager_that_cannot_start_is_explained(fake: FakeJobManager, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(services, "get_manager", broken)
    app = run_app()
    assert_clean(app)
    assert "training service could not start" in texts(app.error)
    assert "no space left on device" in texts(app.error)


# --- Re-attaching through the URL, and the live view -------------------------------

def test_the_url_run_id_reattaches_and_draws_the_run(fake: FakeJobManager) -> None:
    run_id = training_run(fake)
    app = run_app({"run_id": run_id})
    assert_clean(app)
    assert app.subheader[0].value == "MNIST sample · Variational (VAE) · latent 2"
    drawn = charts(app)
    loss = {trace["name"]: count(trace["x"]) for trace in drawn["train_loss_chart"]["data"]}
    assert loss == {"batch loss": 10, "train loss (epoch)": 2, "validation loss": 2}
    assert drawn["train_loss_chart"]["layout"]["uirevision"] == f"loss-{run_id}"
    latent = drawn["train_latent_chart"]
    assert sum(count(trace["x"]) for trace in latent["data"]) == 200
    assert {trace["name"] for trace in latent["data"]} == set(datasets.DATASETS["mnist_sample"].class_names)
    assert "image #" in latent["data"][0]["hovertemplate"]
    (caption,) = app.get("image")[0].captions
    assert re.fullmatch(r"Rows: original · reconstruction — epoch 2, step 10 · MSE 0\.\d{4}", caption)
    assert [metric.value for metric in app.metric][:2] == ["Training", "2 / 10"]
    assert app.get("button_group")[0].options == ["Raw (2-D latent)", "PCA", "t-SNE", "UMAP"]


def test_the_live_view_reads_only_new_metric_rows(fake: FakeJobManager) -> None:
    run_id = training_run(fake, steps=1)
    app = run_app({"run_id": run_id})
    fake.advance(run_id, batches=3, end_epoch=False)
    app.run()
    assert_clean(app)
    reads = [after for read_id, after in fake.called("metrics_since") if read_id == run_id]
    assert reads == [0, 9]  # 5 batch + 4 epoch rows were seen on the first read
    loss = {trace["name"]: count(trace["x"]) for trace in charts(app)["train_loss_chart"]["data"]}
    assert loss["batch loss"] == 8


def test_a_bad_or_unknown_run_id_in_the_url_is_explained(fake: FakeJobManager) -> None:
    app = run_app({"run_id": "../../etc/passwd"})
    assert_clean(app)
    assert "cannot exist" in texts(app.error)
    app = run_app({"run_id": "0" * 32})
    assert_clean(app)
    assert "no longer exists" in texts(app.warning)
    assert "run_id" not in app.query_params


def test_a_failed_run_shows_its_reason(fake: FakeJobManager) -> None:
    run_id = training_run(fake, steps=1)
    fake.set_status(run_id, RunStatus.FAILED, message="The loss became NaN at epoch 2; try a smaller learning rate.")
    app = run_app({"run_id": run_id})
    assert_clean(app)
    assert "The loss became NaN at epoch 2" in texts(app.error)
    assert app.button(key="train_stop").proto.disabled


def test_a_run_failed_for_missing_data_offers_the_sample(fake: FakeJobManager) -> None:
    run_id = fake.add_run(TrainConfig(dataset="fashion_mnist"), status=RunStatus.FAILED,
                          message="Fashion-MNIST is not on this machine and was not downloaded.")
    app = run_app({"run_id": run_id})
    assert_clean(app)
    assert "Fashion-MNIST is not on this machine" in texts(app.error)
    assert "fashion-mnist/" in texts(app.info)
    app.button(key="train_dataset_offline_failed").click().run()
    assert app.selectbox(key="train_dataset").value == "mnist_sample"


def test_stop_cancels_the_attached_run(fake: FakeJobManager) -> None:
    run_id = training_run(fake, steps=1)
    app = run_app({"run_id": run_id})
    app.button(key="train_stop").click().run()
    assert_clean(app)
    assert fake.called("cancel") == [(run_id,)]
    assert fake.runs[run_id].status is RunStatus.CANCELLED
    assert "stopped before the end" in texts(app.info)


def test_the_latent_method_picker_projects_with_pca(fake: FakeJobManager) -> None:
    run_id = training_run(fake, TrainConfig(model=ModelConfig(latent_dim=8)))
    app = run_app({"run_id": run_id})
    picker = app.get("button_group")[0]
    assert picker.options == ["PCA", "t-SNE", "UMAP"]
    assert charts(app)["train_latent_chart"]["layout"]["title"]["text"] == "Latent space · PCA"


def test_denoising_runs_show_the_noisy_inputs(fake: FakeJobManager) -> None:
    config = TrainConfig(model=ModelConfig(arch="deep", noise="gaussian", noise_level=0.4))
    run_id = training_run(fake, config, steps=1)
    app = run_app({"run_id": run_id})
    assert "noisy input" in app.get("image")[0].captions[0]


# --- Runs page ------------------------------------------------------------------

def runs_page(query_params: dict[str, str] | None = None) -> AppTest:
    app = run_app(query_params)
    app.switch_page("app_pages/runs.py").run()
    assert_clean(app)
    return app


def test_the_runs_table_lists_every_run(fake: FakeJobManager) -> None:
    finished = training_run(fake, TrainConfig(model=ModelConfig(latent_dim=64)))
    fake.set_status(finished, RunStatus.FINISHED, result={"test_mse": 0.0048, "test_psnr": 23.2})
    training_run(fake, TrainConfig(dataset="mnist", model=ModelConfig(arch="conv")))
    app = runs_page()
    table = app.dataframe[0].value
    assert list(table.columns) == ["Status", "Dataset", "Architecture", "Latent size", "Test MSE", "PSNR (dB)",
                                   "Test accuracy", "Duration", "When"]
    assert table["Status"].tolist() == ["Training", "Finished"]  # newest first
    assert table["Architecture"].tolist() == ["Convolutional", "Dense (shallow)"]
    assert table["Test MSE"].tolist()[1] == pytest.approx(0.0048)
    assert [metric.value for metric in app.metric][:4] == ["2", "1", "0", "1"]


def test_classifier_runs_are_tabled_with_their_accuracy_and_drawn_without_a_latent_map(fake: FakeJobManager) -> None:
    autoencoder = training_run(fake, TrainConfig(model=ModelConfig(latent_dim=16)))
    fake.set_status(autoencoder, RunStatus.FINISHED, result={"test_mse": 0.01, "test_psnr": 20.0})
    cnn = training_run(fake, TrainConfig(task="classify", augment=("flip",), num_epochs=2))
    fake.finish_classifier(cnn, accuracy=0.93)
    head = training_run(fake, TrainConfig(task="classify", classifier="encoder_head", source_run_id=autoencoder))
    app = runs_page({"run_id": cnn})
    table = app.dataframe[0].value
    assert table["Architecture"].tolist() == ["classify · encoder + dense head", "classify · CNN", "Dense (shallow)"]
    assert table["Test accuracy"].tolist()[1] == pytest.approx(0.93)
    assert table["Latent size"].isna().tolist() == [True, True, False]
    assert app.subheader[0].value == "MNIST sample · classify · CNN · augmented: flip"
    tiles = {metric.label: metric.value for metric in app.metric}
    assert tiles["Test accuracy"] == "93.0%"
    drawn = charts(app)
    assert {"runs_loss_chart", "runs_accuracy_chart", "runs_confusion_chart"} <= set(drawn)
    assert "runs_latent_chart" not in drawn and not app.get("image")
    assert drawn["runs_accuracy_chart"]["data"][1]["name"] == "validation accuracy"
    # The Train page's live view of a classifier that is still training: curves, no pictures.
    app = run_app({"run_id": head})
    assert_clean(app)
    assert app.subheader[0].value == f"MNIST sample · classify · encoder + dense head · from run {autoencoder[:8]}"
    assert {"train_loss_chart", "train_accuracy_chart"} <= set(charts(app))
    assert "train_latent_chart" not in charts(app)


def test_the_runs_page_is_empty_at_first(fake: FakeJobManager) -> None:
    app = runs_page()
    assert "No runs yet" in texts(app.info)


def test_opening_a_run_shows_its_curves_pictures_and_files(fake: FakeJobManager, tmp_path: Path) -> None:
    older = training_run(fake)
    fake.set_status(older, RunStatus.FINISHED, result={"test_mse": 0.01, "test_psnr": 20.0})
    model = tmp_path / "model.keras"
    model.write_bytes(b"keras zip")
    fake.model_files[older] = model
    training_run(fake)
    app = runs_page({"run_id": older})
    assert app.selectbox(key="runs_selected").value == older
    assert set(charts(app)) == {"runs_loss_chart", "runs_latent_chart", "runs_timelapse_chart"}
    assert len(app.get("image")) == 1
    downloads = {button.proto.label: button.proto for button in app.get("download_button")}
    assert set(downloads) == {"Model (.keras)", "config.json", "Run as .zip", "Keras script (.py)",
                              "Download as GIF"}
    assert not downloads["Model (.keras)"].disabled
    assert [metric.value for metric in app.metric][4:7] == ["Finished", "2 / 10", "0.1000"]


def test_the_runs_page_opens_the_run_this_session_watches(fake: FakeJobManager) -> None:
    watched = training_run(fake)
    training_run(fake)  # newer, so it would be opened by default
    app = run_app({"run_id": watched})
    del app.query_params["run_id"]
    app.switch_page("app_pages/runs.py").run()
    assert_clean(app)
    assert app.selectbox(key="runs_selected").value == watched


def test_a_run_without_a_model_cannot_be_downloaded_yet(fake: FakeJobManager) -> None:
    training_run(fake)
    app = runs_page()
    downloads = {button.proto.label: button.proto for button in app.get("download_button")}
    assert downloads["Model (.keras)"].disabled
    assert not downloads["config.json"].disabled


def test_cancel_from_the_runs_page(fake: FakeJobManager) -> None:
    run_id = training_run(fake)
    app = runs_page()
    app.button(key="runs_cancel").click().run()
    assert_clean(app)
    assert fake.runs[run_id].status is RunStatus.CANCELLED


def test_delete_asks_first(fake: FakeJobManager) -> None:
    keep, doomed = training_run(fake), training_run(fake)
    app = runs_page({"run_id": doomed})
    app.button(key="runs_delete").click().run()
    assert doomed in fake.runs and fake.called("delete") == []
    assert "cannot be undone" in texts(app.warning)
    app.button(key="runs_delete_keep").click().run()
    assert not app.warning and doomed in fake.runs
    app.button(key="runs_delete").click().run()
    app.button(key="runs_delete_confirm").click().run()
    assert_clean(app)
    assert fake.called("delete") == [(doomed,)] and doomed not in fake.runs
    assert app.selectbox(key="runs_selected").value == keep


def test_resume_an_interrupted_run(fake: FakeJobManager) -> None:
    run_id = training_run(fake)
    fake.set_status(run_id, RunStatus.INTERRUPTED, message="The worker stopped (killed).")
    app = runs_page()
    assert "The worker stopped (killed)." in texts(app.warning)
    app.button(key="runs_resume").click().run()
    assert_clean(app)
    assert fake.called("resume") == [(run_id,)]
    assert fake.runs[run_id].status is RunStatus.RUNNING


def test_a_refused_resume_is_explained(fake: FakeJobManager) -> None:
    run_id = training_run(fake)
    fake.set_status(run_id, RunStatus.CANCELLED)
    fake.fail("resume", ValueError("run has no checkpoint to resume from"))
    app = runs_page()
    app.button(key="runs_resume").click().run()
    assert_clean(app)
    assert "Could not resume the run" in texts(app.error) and "no checkpoint" in texts(app.error)


def test_a_failing_list_is_explained(fake: FakeJobManager) -> None:
    fake.fail("list_runs", RuntimeError("database is locked"))
    app = runs_page()
    assert "Could not list the runs" in texts(app.error)
