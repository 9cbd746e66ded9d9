"""The helpers behind the Explore, Compare and Classify pages: the server's warm-up, run lists, tables, words."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.store.records import RunStatus
from ae_lab_ui import compare, run_models, views, warmup
from ae_lab_ui.services import friendly_message
from tests.fake_jobs import FakeJobManager


def test_a_refused_value_is_said_in_its_own_words() -> None:
    # An upload is not a setting: the message is the refusal's own sentence, nothing put before it.
    message = friendly_message(ValueError("file must be a PNG or JPEG image; this file is neither"))
    assert message == "file must be a PNG or JPEG image; this file is neither"


def test_stopped_runs_without_a_model_are_not_offered_for_exploring(fake: FakeJobManager) -> None:
    finished = fake.add_run(TrainConfig(), status=RunStatus.FINISHED)
    training = fake.add_run(TrainConfig(), status=RunStatus.RUNNING)
    saved = fake.add_run(TrainConfig(), status=RunStatus.INTERRUPTED)
    fake.add_run(TrainConfig(), status=RunStatus.CANCELLED)
    fake.add_run(TrainConfig(), status=RunStatus.QUEUED)
    fake.add_run(TrainConfig(task="classify"), status=RunStatus.FINISHED)
    offered = run_models.explorable(fake.list_runs(), lambda run_id: run_id == saved)
    assert [record.run_id for record in offered] == [saved, training, finished]


def test_the_watched_state_is_the_status_and_whether_it_is_stopping(fake: FakeJobManager) -> None:
    run_id = fake.add_run(TrainConfig(), status=RunStatus.RUNNING)
    assert run_models.states(fake, [run_id]) == ((RunStatus.RUNNING, False),)
    fake.set_status(run_id, RunStatus.RUNNING, cancel_requested=True)
    assert run_models.states(fake, [run_id]) == ((RunStatus.RUNNING, True),)
    fake.delete(run_id)
    assert run_models.states(fake, [run_id]) == (None,)


def test_the_sweep_table_says_what_is_not_known_yet_with_a_dash(fake: FakeJobManager) -> None:
    base = TrainConfig(dataset="mnist_sample", num_epochs=3)
    done = fake.add_run(compare.sweep_configs(base, (2,))[0], status=RunStatus.FINISHED, result={"test_mse": 0.0123})
    queued = fake.add_run(compare.sweep_configs(base, (8,))[0], status=RunStatus.QUEUED, progress={})
    members = compare.sweep_members(fake.list_runs(), base)
    assert [members[2].run_id, members[8].run_id] == [done, queued]
    assert compare.sweep_table(members, views.status_word) == [
        {"latent size": 2, "status": "Finished", "epochs": "0 / 3", "test MSE": "0.01230"},
        {"latent size": 8, "status": "Queued", "epochs": "—", "test MSE": "—"}]


def test_the_warm_up_never_raises_and_logs_each_failure(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    def broken() -> None:
        raise RuntimeError("no disk")

    ran = []
    monkeypatch.setattr(warmup, "import_keras", broken)
    monkeypatch.setattr(warmup, "compile_projections", lambda: ran.append("projections"))
    monkeypatch.setattr(warmup, "fit_pixel_probes", broken)
    monkeypatch.setattr(warmup, "prepare_recent_runs", lambda: ran.append("runs"))
    with caplog.at_level(logging.INFO, logger="ae_lab_ui"):
        warmup.warm_up()
    assert ran == ["projections", "runs"]  # a failing step does not stop the next
    assert caplog.text.count("failed") == 2 and "no disk" in caplog.text


@pytest.mark.slow
def test_the_warm_up_fits_the_probes_and_loads_the_newest_runs(fake: FakeJobManager, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    from ae_core.analysis import probe
    from ae_core.models.zoo import build_autoencoder, save_autoencoder

    monkeypatch.setenv("AE_LAB_HOME", str(tmp_path / "home"))
    config = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=5))
    run_id = fake.add_run(config, status=RunStatus.FINISHED)
    fake.model_files[run_id] = tmp_path / "model.keras"
    save_autoencoder(build_autoencoder(config.model, config.image_shape, seed=0), fake.model_files[run_id])
    with caplog.at_level(logging.INFO, logger="ae_lab_ui"):
        warmup.warm_up()
    assert "failed" not in caplog.text and "not prepared" not in caplog.text
    for step in ("import_keras", "compile_projections", "prepare_recent_runs", "fit_pixel_probes"):
        assert f"warm-up: {step} took" in caplog.text
    kept = sorted(path.name.split("-")[0] for path in probe.cache_folder().glob("*.json"))
    assert kept == ["codes", "pixels"]  # the finished run's dataset, mnist_sample, alone
    # The pages now find the run's model and map in memory: nothing is computed again.
    monkeypatch.setattr(probe, "fit_probes", lambda *args, **kwargs: pytest.fail("fitted again"))
    path = fake.model_files[run_id]
    assert run_models.map_data(path, config) is run_models.map_data(path, config)
    assert probe.code_probe("mnist_sample", False, path).num_features == 5
