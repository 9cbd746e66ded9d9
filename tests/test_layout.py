"""The run folder's layout and the run-status rule: each written once, in ae_core.store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ae_core.config import TrainConfig
from ae_core.store import (CANCELLED_MESSAGE, INTERRUPTED_MESSAGE, Checkpoint, RunFolder, RunStatus, RunStore,
                           stopped_status)


def test_a_run_folder_names_every_file_of_a_run(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    assert folder.config_path == tmp_path / "run" / "config.json"
    assert folder.model_path == tmp_path / "run" / "model.keras"
    assert folder.snapshot_path("latent") == tmp_path / "run" / "latent.npz"
    assert folder.snapshot_path("reconstruction") == tmp_path / "run" / "reconstruction.npz"
    assert folder.checkpoint.model_path == tmp_path / "run" / "checkpoint" / "checkpoint.keras"
    assert folder.checkpoint.state_path == tmp_path / "run" / "checkpoint" / "checkpoint.json"
    with pytest.raises(ValueError, match=r"kind must be one of 'reconstruction', 'latent'; got 'codes'"):
        folder.snapshot_path("codes")


def test_the_store_hands_out_folders_and_writes_the_config_where_the_layout_says(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run_id = store.create_run(TrainConfig())
    folder = store.folder(run_id)
    assert folder.path == tmp_path / "runs" / run_id
    assert TrainConfig.from_dict(json.loads(folder.config_path.read_text())) == TrainConfig()
    with pytest.raises(ValueError, match="run_id must be 32 lowercase hex digits"):
        store.folder(run_id + "\n")


def test_a_checkpoint_exists_only_once_its_state_vouches_for_the_model(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "checkpoint")
    assert checkpoint.epoch() is None
    checkpoint.save(lambda path: path.write_bytes(b"model of epoch 3"), 3)
    assert checkpoint.epoch() == 3 and checkpoint.model_path.read_bytes() == b"model of epoch 3"
    assert sorted(p.name for p in checkpoint.directory.iterdir()) == ["checkpoint.json", "checkpoint.keras"]

    def crash(path: Path) -> None:
        path.write_bytes(b"half a model")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(crash, 4)
    # The good checkpoint is untouched: a crash mid-save never leaves a broken one.
    assert checkpoint.epoch() == 3 and checkpoint.model_path.read_bytes() == b"model of epoch 3"


@pytest.mark.parametrize("cancel_requested, worker_exit, status, message", [
    (True, None, RunStatus.CANCELLED, CANCELLED_MESSAGE),
    (True, "killed by SIGKILL", RunStatus.CANCELLED, "Cancelled by request (the worker was stopped by force)."),
    (False, None, RunStatus.INTERRUPTED, INTERRUPTED_MESSAGE),
    (False, "exit code 1", RunStatus.INTERRUPTED, "stopped unexpectedly (exit code 1)"),
])
def test_a_stop_that_was_asked_for_is_cancelled_any_other_is_interrupted(
        cancel_requested: bool, worker_exit: str | None, status: RunStatus, message: str) -> None:
    got_status, got_message = stopped_status(cancel_requested, worker_exit=worker_exit)
    assert got_status is status and message in got_message
    assert got_status.is_resumable and not got_status.is_active


def test_only_stopped_runs_are_resumable() -> None:
    assert [status for status in RunStatus if status.is_resumable] == [RunStatus.CANCELLED, RunStatus.INTERRUPTED]


def test_leftovers_of_a_save_killed_midway_are_removed_by_the_next_save(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "checkpoint")
    checkpoint.save(lambda path: path.write_bytes(b"model of epoch 1"), 1)
    # A kill during the next save leaves Checkpoint.save's partial file, and save_autoencoder's own
    # temporary file beside it (".<stem>.partial.keras").
    leftovers = ["partial-checkpoint.keras", ".partial-checkpoint.partial.keras", "partial-checkpoint.json"]
    for name in leftovers:
        (checkpoint.directory / name).write_bytes(b"half a model")
    assert checkpoint.epoch() == 1  # reading never touches them: a save may be writing them right now
    checkpoint.save(lambda path: path.write_bytes(b"model of epoch 2"), 2)
    assert sorted(p.name for p in checkpoint.directory.iterdir()) == ["checkpoint.json", "checkpoint.keras"]
    assert checkpoint.epoch() == 2


def test_a_run_folder_removes_every_leftover_partial_file(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.checkpoint.save(lambda path: path.write_bytes(b"model"), 1)
    folder.config_path.write_text("{}")
    leftovers = [folder.path / "partial-model.keras", folder.path / ".partial-model.partial.keras",
                 folder.path / ".model.partial.keras", folder.path / ".latent.npz.x1y2.tmp.npz",
                 folder.path / ".config.json.abc.tmp",
                 folder.checkpoint.directory / ".partial-checkpoint.partial.keras"]
    for path in leftovers:
        path.write_bytes(b"half")
    assert sorted(p.name for p in folder.remove_partials()) == sorted(p.name for p in leftovers)
    assert sorted(p.name for p in folder.path.iterdir()) == ["checkpoint", "config.json"]
    assert folder.checkpoint.epoch() == 1
    assert RunFolder(tmp_path / "missing").remove_partials() == []


@pytest.mark.parametrize("state", ['{"epoch": "three"}', "{", "[]", '{"epoch": -1}', '{"epoch": 1e400}', ""])
def test_a_damaged_checkpoint_state_reads_as_no_checkpoint(tmp_path: Path, state: str) -> None:
    checkpoint = Checkpoint(tmp_path / "checkpoint")
    checkpoint.save(lambda path: path.write_bytes(b"model"), 1)
    checkpoint.state_path.write_text(state)
    assert checkpoint.epoch() is None
