"""AppTest checks of the Classify page: the probes of a finished run, and classifier runs started and watched live."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.models.zoo import build_autoencoder, save_autoencoder
from ae_core.store.records import RunStatus
from ae_lab_ui import figures, views
from tests.fake_jobs import FakeJobManager
from tests.fragment_spy import FragmentSpy, fragments  # noqa: F401 - the fixture

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "classify.py")


@pytest.fixture(scope="module")
def probe_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store home for this module's tests: the pixel probe is fitted once and then read from its cache."""
    return tmp_path_factory.mktemp("classify_home")


@pytest.fixture(autouse=True)
def isolated_home(monkeypatch: pytest.MonkeyPatch, probe_home: Path) -> None:
    monkeypatch.setenv("AE_LAB_HOME", str(probe_home))



def test_without_finished_runs_the_page_says_what_to_do(fake: FakeJobManager) -> None:
    fake.add_run(TrainConfig(), status=RunStatus.RUNNING)
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not app.exception
    assert "Finish a run on the Train page first" in app.info[0].value


@pytest.mark.slow
def test_the_probes_of_a_run_are_tabled_with_a_confusion_matrix(fake: FakeJobManager, tmp_path: Path) -> None:
    config = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=12))
    run_id = fake.add_run(config, status=RunStatus.FINISHED)
    fake.model_files[run_id] = tmp_path / "model.keras"
    save_autoencoder(build_autoencoder(config.model, config.image_shape, seed=0), fake.model_files[run_id])
    app = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not app.exception and not app.error, [item.value for item in app.error]
    table = app.dataframe[0].value
    # Four methods; the two neural classifiers read the pixels too, and are not trained yet.
    assert list(table["numbers per image"]) == ["784", "12", "784", "784"]
    assert list(table["run"]) == ["fitted here", "fitted here", "not trained yet", "not trained yet"]
    # The sample's 1,000 test images, all scored; pixels alone read digits far above chance.
    accuracy = [float(cell.rstrip("%")) / 100 for cell in table["test accuracy"][:2]]
    assert accuracy[0] > 0.8 and 0.0 < accuracy[1] <= 1.0
    assert list(table["test images"][:2]) == ["1,000", "1,000"]
    # What is not known yet is a dash, never a grey "None".
    assert list(table["test accuracy"][2:]) == ["—", "—"] and list(table["seconds"][2:]) == ["—", "—"]
    assert app.selectbox(key="classify_run").options == [views.run_label(fake.runs[run_id])]
    assert group(app, "classify_confusion_of").options == ["raw pixels → logistic regression",
                                                 "autoencoder codes → logistic regression"]
    chart = app.get("plotly_chart")[0].proto
    figure = json.loads(chart.spec)
    assert figure["layout"]["title"]["text"] == "autoencoder codes → logistic regression"
    assert json.loads(chart.config) == figures.PLOT_CONFIG  # the app's one toolbar
    app.segmented_control(key="classify_confusion_of").set_value("pixels").run()
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["title"]["text"] == "raw pixels → logistic regression"
    # Students are not sent to a terminal: the page holds no developer's note.
    assert not any("bench" in item.value for item in app.info)


def group(app: AppTest, key: str):
    """The segmented control with ``key``."""
    return next(element for element in app.get("button_group") if element.key == key)


def finished_autoencoder(fake: FakeJobManager, tmp_path: Path) -> str:
    config = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=6))
    run_id = fake.add_run(config, status=RunStatus.FINISHED)
    fake.model_files[run_id] = tmp_path / "model.keras"
    save_autoencoder(build_autoencoder(config.model, config.image_shape, seed=0), fake.model_files[run_id])
    return run_id


def test_the_form_submits_both_classifiers_through_the_job_service(fake: FakeJobManager, tmp_path: Path,
                                                                   fragments: FragmentSpy) -> None:
    source = finished_autoencoder(fake, tmp_path)
    app = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not app.exception and not app.error
    assert "No classifier has been trained" in app.info[0].value
    assert fragments.intervals("live_classifiers") == [None]  # nothing trains: no polling
    fragments.clear()
    app.number_input(key="classify_epochs").set_value(3)
    app.selectbox(key="classify_batch_size").set_value(128)
    app.selectbox(key="classify_train_limit").set_value(2000)
    app.multiselect(key="classify_augment").set_value(["crop", "rotate"])
    app.button(key="classify_start").click().run()
    assert not app.exception and not app.error
    cnn = fake.submitted[-1]
    assert (cnn.task, cnn.classifier, cnn.num_epochs, cnn.batch_size, cnn.train_limit, cnn.augment, cnn.dataset) \
        == ("classify", "cnn", 3, 128, 2000, ("crop", "rotate"), "mnist_sample")
    assert cnn.source_run_id is None
    # The new run is watched live: queued for now, and polled from the page run the button made.
    assert "Waiting for a free worker" in " ".join(item.value for item in app.info)
    assert fragments.intervals("live_classifiers") == [1.0]
    group(app, "classify_kind").set_value("encoder_head").run()
    app.selectbox(key="classify_train_limit").set_value(0)
    app.button(key="classify_start").click().run()
    head = fake.submitted[-1]
    assert (head.classifier, head.source_run_id, head.train_limit) == ("encoder_head", source, None)
    assert fake.submitted_by == [app.session_state["identity_student_id"]] * 2  # queued as this browser's
    assert group(app, "classify_kind").value == "encoder_head"
    watched = [item.value for item in app.markdown if item.value.startswith("**")]
    assert watched == ["**reference CNN** · MNIST sample · classify · CNN · augmented: crop, rotate",
                       f"**encoder + dense head, fine-tuned** · MNIST sample · classify · encoder + dense head · "
                       f"from run {source[:8]} · augmented: crop, rotate"]


def test_a_training_classifier_is_live_and_a_finished_one_joins_the_table(fake: FakeJobManager,
                                                                          tmp_path: Path) -> None:
    source = finished_autoencoder(fake, tmp_path)
    cnn = fake.add_run(TrainConfig(task="classify", num_epochs=4))
    fake.advance(cnn)
    fake.advance(cnn)
    (tmp_path / "other").mkdir()
    other = finished_autoencoder(fake, tmp_path / "other")
    fake.add_run(TrainConfig(task="classify", classifier="encoder_head", source_run_id=other))  # another run's head
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["classify_run"] = source
    app.run()
    assert not app.exception and not app.error
    charts = {element.proto.id.rsplit("-", 1)[-1]: json.loads(element.proto.spec)
              for element in app.get("plotly_chart")}
    accuracy = charts["classify_cnn_accuracy_chart"]
    assert accuracy["data"][0]["y"] == pytest.approx([0.75, 1.0 - 0.5 / 3])
    assert "classify_encoder_head_accuracy_chart" not in charts  # that head belongs to another autoencoder
    fake.finish_classifier(cnn, accuracy=0.97)
    app.run()
    assert not app.exception and not app.error
    table = app.dataframe[0].value
    assert table["test accuracy"][3] == "97.0%" and table["run"][3] == "finished"
    assert table["training images"][3] == "5,000" and table["test images"][3] == "1,000"
    assert "reference CNN" in group(app, "classify_confusion_of").options
    group(app, "classify_confusion_of").set_value("cnn").run()
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["title"]["text"] == "reference CNN"
    z = figure["data"][0]["z"]  # Plotly ships the counts as a base64 typed array
    counts = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]) if isinstance(z, dict) else np.asarray(z)
    assert counts.sum() == 1000 and counts.size == 100


def test_a_refused_classifier_is_explained_in_words(fake: FakeJobManager, tmp_path: Path) -> None:
    finished_autoencoder(fake, tmp_path)
    fake.fail("submit", ValueError("batch_size must be a whole number from 1 to 8192; got 0"))
    app = AppTest.from_file(PAGE, default_timeout=120).run()
    app.button(key="classify_start").click().run()
    assert not app.exception
    assert "batch_size must be a whole number" in " ".join(item.value for item in app.error)
    assert fake.called("submit") and not fake.submitted


def test_the_probes_are_read_from_the_disk_cache_after_a_restart(fake: FakeJobManager, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from ae_core.analysis import probe

    finished_autoencoder(fake, tmp_path)
    app = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not app.exception and not app.error
    first = app.dataframe[0].value
    kept = sorted(path.name.split("-")[0] for path in probe.cache_folder().glob("*.json"))
    assert kept.count("pixels") == 1 and kept.count("codes") >= 1

    def refit(*args, **kwargs):
        raise AssertionError("a kept probe was fitted again")

    # A new server process has empty memory caches; the results on disk are all it needs.
    monkeypatch.setattr(probe, "fit_probes", refit)
    app = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not app.exception and not app.error
    assert app.dataframe[0].value.equals(first)
