"""A run's zip (a pure function of its contents), its pictures, and the ``export`` command."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ae_core import cli
from ae_core.config import ModelConfig, TrainConfig
from ae_core.export.bundle import RunContents, metrics_csv, run_zip
from ae_core.export.pictures import latent_map_picture, reconstruction_picture, sprite_picture
from ae_core.export.script import training_script
from ae_core.store import RunStore
from ae_core.store.records import MetricRow

RUN_ID = "0123456789abcdef" * 2
ROWS = [MetricRow(1, "batch", "loss", 0.5, 0, 1, 0.25), MetricRow(2, "epoch", "val_loss", 0.125, 1, 4, 1.5)]


def snapshots(channels: int = 1) -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 28, 28, channels), dtype=np.uint8)
    reconstruction = {"originals": images, "inputs": None, "reconstructions": 255 - images}
    latent = {"codes": rng.normal(size=(50, 3)).astype(np.float32), "labels": np.arange(50) % 10,
              "indices": np.arange(50)}
    return reconstruction, latent


def test_a_finished_autoencoder_run_zips_its_files_script_metrics_and_pictures() -> None:
    config = TrainConfig(model=ModelConfig(arch="conv"))
    reconstruction, latent = snapshots()
    data = run_zip(RunContents(RUN_ID, config, '{"x": 1}', ROWS, model=b"keras bytes", reconstruction=reconstruction,
                               latent=latent, description="MNIST sample · Conv"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names == [f"run-01234567/{name}" for name in ("config.json", "model.keras", "train_01234567.py",
                                                             "metrics.csv", "reconstruction.png", "latent_map.png")]
        read = lambda name: archive.read(f"run-01234567/{name}")  # noqa: E731
        assert read("config.json") == b'{"x": 1}' and read("model.keras") == b"keras bytes"
        assert read("train_01234567.py").decode() == training_script(config, RUN_ID, "MNIST sample · Conv")
        assert list(csv.reader(io.StringIO(read("metrics.csv").decode()))) == [
            ["kind", "key", "value", "epoch", "step", "time"], ["batch", "loss", "0.5", "0", "1", "0.25"],
            ["epoch", "val_loss", "0.125", "1", "4", "1.5"]]
        grid = Image.open(io.BytesIO(read("reconstruction.png")))
        assert grid.size == (2 * (16 * 30 - 2), 2 * (2 * 30 - 2)) and grid.mode == "L"
        assert Image.open(io.BytesIO(read("latent_map.png"))).mode == "RGB"


def test_a_classifier_or_unfinished_run_zips_only_what_it_has() -> None:
    data = run_zip(RunContents(RUN_ID, TrainConfig(task="classify"), "{}", []))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["run-01234567/config.json", "run-01234567/metrics.csv"]
    assert metrics_csv([]) == "kind,key,value,epoch,step,time\n"


def test_pictures_show_classes_apart_and_sprites_fit_the_projector() -> None:
    codes = np.array([[0.0, 0.0], [1.0, 1.0]])
    picture = latent_map_picture(codes, np.array([0, 1]), size=40)
    assert {tuple(colour) for colour in picture.reshape(-1, 3)} == {(255, 255, 255), (31, 119, 180), (255, 127, 14)}
    assert reconstruction_picture(snapshots(3)[0], scale=1).shape == (58, 478, 3)
    assert sprite_picture(np.zeros((5, 28, 28, 1), np.uint8)).shape == (84, 84)
    with pytest.raises(ValueError, match="must fit a sprite of 8192 pixels"):
        sprite_picture(np.zeros((10_000, 1, 100, 1), np.uint8))


def test_the_export_command_writes_a_runs_script_or_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AE_LAB_HOME", str(tmp_path / "home"))
    config = TrainConfig(model=ModelConfig(arch="vae", beta=2.0))
    run_id = RunStore().create_run(config, owner="me")
    assert cli.main(["export", run_id, "--script", "--out", str(tmp_path / "vae.py")]) == 0
    assert (tmp_path / "vae.py").read_text() == training_script(config, run_id)
    assert "python " + str(tmp_path / "vae.py") in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", run_id, "--zip"]) == 0
    with zipfile.ZipFile(tmp_path / f"run-{run_id[:8]}.zip") as archive:
        assert json.loads(archive.read(f"run-{run_id[:8]}/config.json"))["model"]["beta"] == 2.0
    assert cli.main(["export", "f" * 32, "--script"]) == cli.EXIT_UNAVAILABLE
    assert "No run with id" in capsys.readouterr().err
    assert cli.main(["export", "../x", "--script"]) == cli.EXIT_USAGE
    classify = RunStore().create_run(TrainConfig(task="classify"), owner="me")
    assert cli.main(["export", classify, "--script"]) == cli.EXIT_USAGE
    assert "task must be 'reconstruct'" in capsys.readouterr().err
