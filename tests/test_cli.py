"""``python -m ae_core``: JSON output, the datasets listing, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ae_core.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "ae_core", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_train_prints_one_json_object_last_and_saves_a_loadable_model(tmp_path: Path) -> None:
    out = tmp_path / "model-dir"
    proc = run_cli("train", "--dataset", "mnist_sample", "--arch", "dense", "--latent-dim", "8", "--epochs", "2",
                   "--batch-size", "64", "--loss", "bce", "--optimizer", "adam", "--lr", "0.001", "--hidden", "256,128",
                   "--noise", "0.3", "--l1-activity", "1e-5", "--seed", "0", "--train-limit", "512",
                   "--out", str(out), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished"
    assert (summary["dataset"], summary["arch"], summary["latent_dim"], summary["epochs"]) == ("mnist_sample", "dense", 8, 2)
    for key in ("test_loss", "test_mse", "seconds", "samples_per_second"):
        assert isinstance(summary[key], float) and summary[key] > 0
    assert summary["config"]["model"]["noise"] == "gaussian" and summary["config"]["model"]["noise_level"] == 0.3
    assert summary["model_path"] == str(out / "model.keras") and Path(summary["model_path"]).is_file()
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["l1_activity"] == 1e-5
    assert "epoch 2/2" in proc.stderr  # the progress bar

    from ae_core.models.zoo import load_autoencoder

    bundle = load_autoencoder(out / "model.keras")
    assert bundle.encoder.output_shape == (None, 8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--latent-dim", "0"], "latent_dim must be a whole number from 1 to 1024; got 0"),
        (["train", "--arch", "resnet"], "argument --arch: invalid choice: 'resnet'"),
        (["train", "--hidden", "256,abc"], "expected comma-separated whole numbers"),
        (["train", "--lr", "-1"], "learning_rate must be a number in (0, 10]"),
        (["train", "--dataset", "mnist", "--arch", "conv", "--conv-filters", "8,8,8"], "conv_filters must be at most 2"),
        (["fly"], "invalid choice: 'fly'"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_code_2(args: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        code = main(args)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_datasets_lists_offline_availability(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AE_LAB_DATA_DIR", str(tmp_path))
    assert main(["datasets", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    offline = {row["name"]: row["offline"] for row in listing["datasets"]}
    assert offline == {"mnist_sample": True, "mnist": False, "fashion_mnist": False, "cifar10": False}
    assert listing["data_dir"] == str(tmp_path)
    assert main(["datasets"]) == 0
    assert "download needed" in capsys.readouterr().out


@pytest.fixture
def offline(tmp_path: Path, monkeypatch) -> None:
    """No data and no internet: a command that reaches training fails at once, with exit code 1."""
    monkeypatch.setenv("AE_LAB_DATA_DIR", str(tmp_path))
    from ae_core.data import download

    monkeypatch.setattr(download, "reachable", lambda *args, **kwargs: False)


@pytest.mark.usefixtures("offline")
def test_a_missing_dataset_is_a_one_line_message_not_a_traceback(capsys) -> None:
    assert main(["train", "--dataset", "fashion_mnist", "--epochs", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert "mnist_sample" in err and "Traceback" not in err


def _unusable_outs(tmp_path: Path) -> list[tuple[str, str]]:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    return [("/dev/null", "/dev/null, which is not a folder"), (str(a_file), "notes.txt, which is not a folder"),
            (str(a_file / "model"), "notes.txt, which is not a folder")]


@pytest.mark.usefixtures("offline")
def test_an_unusable_out_is_refused_before_training(tmp_path: Path, capsys) -> None:
    # Before, training ran to the end and then died on saving, losing the model. Here the
    # dataset cannot be had, so reaching training would exit 1 instead of 2.
    for out, shown in _unusable_outs(tmp_path):
        assert main(["train", "--dataset", "fashion_mnist", "--epochs", "1", "--out", out]) == 2, out
        err = capsys.readouterr().err
        assert "--out must be a folder that can be created and written; got " in err and shown in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.usefixtures("offline")
def test_an_out_that_cannot_be_written_is_refused_before_training(tmp_path: Path, monkeypatch, capsys) -> None:
    # Root may write anywhere, so the operating system's refusal is simulated.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert main(["train", "--dataset", "fashion_mnist", "--epochs", "1", "--out", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert f"inside {tmp_path}, which cannot be written (Permission denied)" in err
    assert len(err.strip().splitlines()) == 1
