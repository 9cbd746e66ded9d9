"""The Runs page's "Take it with you" area, with the fake job manager."""

from __future__ import annotations

from pathlib import Path

import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.store.records import RunStatus
from ae_lab_ui import run_export
from tests.fake_jobs import FakeJobManager
from tests.test_app import runs_page, training_run


def area(app) -> tuple[dict, list[str], str]:
    downloads = {button.proto.label: button.proto for button in app.get("download_button")}
    codes = [code.value for code in app.code]
    captions = "\n".join(caption.value for caption in app.caption)
    return downloads, codes, captions


def test_a_run_offers_its_zip_script_and_tensorboard_command_built_only_on_demand(
        fake: FakeJobManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    monkeypatch.setattr(run_export, "run_zip", lambda contents: built.append("zip") or b"")
    monkeypatch.setattr(run_export, "training_script", lambda *args: built.append("script") or "")
    run_id = training_run(fake, TrainConfig(model=ModelConfig(arch="conv_vae", latent_dim=2, beta=4.0)))
    app = runs_page({"run_id": run_id})
    downloads, codes, captions = area(app)
    assert not downloads["Run as .zip"].disabled and not downloads["Keras script (.py)"].disabled
    assert app.expander[0].label.startswith("Take it with you")
    assert codes[0] == f"tensorboard --logdir {tmp_path}"
    assert f"{run_id[:8]}…/tensorboard/mnist_sample-conv_vae-latent2-beta4" in captions
    assert "pip install tensorboard" in captions
    assert built == []  # nothing is built until someone clicks


def test_a_classifier_run_has_a_zip_but_no_script(fake: FakeJobManager) -> None:
    run_id = training_run(fake, TrainConfig(task="classify"))
    fake.finish_classifier(run_id, accuracy=0.9)
    downloads, _, _ = area(runs_page({"run_id": run_id}))
    assert not downloads["Run as .zip"].disabled
    assert downloads["Keras script (.py)"].disabled
    assert "autoencoder runs" in downloads["Keras script (.py)"].help


def test_a_store_without_the_runs_folder_still_offers_the_downloads(fake: FakeJobManager) -> None:
    run_id = training_run(fake)
    fake.set_status(run_id, RunStatus.FINISHED)
    fake.home = None  # the fake's config_path then raises RunNotFound
    app = runs_page({"run_id": run_id})
    downloads, codes, _ = area(app)
    assert {"Run as .zip", "Keras script (.py)"} <= set(downloads)
    assert not any(code.startswith("tensorboard") for code in codes)
    assert "find the run's folder" in "\n".join(error.value for error in app.error)
