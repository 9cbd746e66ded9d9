"""AppTest checks of the Classify page: the pixel and code probes of a finished run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ae_core import datasets
from ae_core.config import ModelConfig, TrainConfig
from ae_core.models import build_autoencoder, save_autoencoder
from ae_core.runs import RunStatus
from ae_lab_ui import services
from tests.fake_jobs import FakeJobManager

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "classify.py")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeJobManager:
    manager = FakeJobManager(home=tmp_path)
    services.inject_manager(manager)
    monkeypatch.setattr(datasets, "is_available_offline", lambda name: name == "mnist_sample")
    yield manager
    services.inject_manager(None)


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
    assert list(table["numbers per image"]) == [784, 12]
    # The sample's 1,000 test images, all scored; pixels alone read digits far above chance.
    assert table["test accuracy"][0] > 0.8 and 0.0 < table["test accuracy"][1] <= 1.0
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["title"]["text"] == "autoencoder codes → logistic regression"
    app.segmented_control(key="classify_confusion_of").set_value("pixels_logistic").run()
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["title"]["text"] == "raw pixels → logistic regression"
    assert "bench/bench_classify.py --dataset mnist" in app.info[-1].value
