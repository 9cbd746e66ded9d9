"""The time-lapse history of a run: bounded, evenly thinned, atomic, and read back in order."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.service.sinks import StoreSink
from ae_core.store import RunFolder, RunStore
from ae_core.store.history import (HISTORY_LATENT_POINTS, MAX_HISTORY_FRAMES, SnapshotHistory, history_stride,
                                   kept_ordinals)

CONFIG = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=4, hidden_sizes=(8,)),
                     num_epochs=2, batch_size=32, train_limit=128)


def _latent(step: int, count: int = 40, latent_dim: int = 4) -> dict:
    return {"type": "latent", "epoch": step // 10, "step": step, "indices": np.arange(count),
            "codes": np.full((count, latent_dim), step / 7, dtype=np.float32), "labels": np.arange(count) % 10,
            "time": step * 0.1}


def _reconstruction(step: int) -> dict:
    originals = np.arange(16 * 4 * 4, dtype=np.uint8).reshape(16, 4, 4, 1)
    return {"type": "reconstruction", "epoch": 0, "step": step, "indices": np.arange(16), "originals": originals,
            "inputs": None, "reconstructions": originals // (step + 1), "time": 0.0}


@pytest.mark.parametrize("written", [1, 3, 99, 100, 101, 250, 1000, 4097])
def test_thinning_keeps_at_most_the_cap_evenly_spaced_with_the_first_and_the_newest(written: int) -> None:
    kept: list[int] = []
    for newest in range(written):  # as the history does: each write thins what is on disk
        kept = kept_ordinals(kept + [newest], newest)
    assert len(kept) <= MAX_HISTORY_FRAMES
    assert kept[0] == 0 and kept[-1] == written - 1
    gaps = set(np.diff(kept[:-1]).tolist())  # all but the newest sit on one even grid
    assert len(gaps) <= 1
    if written > MAX_HISTORY_FRAMES:
        assert len(kept) >= MAX_HISTORY_FRAMES // 2  # thinning halves, it never empties
        assert gaps == {history_stride(written - 1)}


def test_the_stride_doubles_only_when_the_cap_is_reached() -> None:
    assert [history_stride(n, cap=5) for n in (0, 3, 4, 7, 8, 15, 16)] == [1, 1, 2, 2, 4, 4, 8]
    with pytest.raises(ValueError, match="cap >= 3"):
        history_stride(4, cap=2)


def test_frames_are_small_read_back_in_order_and_partial_files_are_no_frames(tmp_path: Path) -> None:
    history = SnapshotHistory(tmp_path / "latent", cap=6)
    for step in range(0, 100, 10):
        history.append("latent", _latent(step, count=HISTORY_LATENT_POINTS + 50))
    # A save killed midway leaves its temporary file behind: never read as a frame.
    (history.directory / ".000099.npz.x1y2.tmp.npz").write_bytes(b"half a frame")
    frames = history.frames()
    assert [frame["step"] for frame in frames] == [0, 20, 40, 60, 80, 90]  # stride 2 of ordinals 0..9, and the newest
    assert frames[0]["codes"].dtype == np.float16 and frames[0]["codes"].shape == (HISTORY_LATENT_POINTS, 4)
    assert len(frames[0]["labels"]) == len(frames[0]["indices"]) == HISTORY_LATENT_POINTS
    assert "type" not in frames[0] and frames[-1]["time"] == pytest.approx(9.0)


def test_the_leftovers_of_a_killed_frame_save_are_removed_before_a_run_trains_again(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    history = SnapshotHistory(folder.history_dir("latent"))
    history.append("latent", _latent(1))
    leftover = history.directory / ".000001.npz.a1b2.tmp.npz"
    leftover.write_bytes(b"half a frame")
    assert folder.remove_partials() == [leftover] and history.ordinals() == [0]


def test_a_damaged_frame_is_logged_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    history = SnapshotHistory(tmp_path / "latent")
    for step in (1, 2, 3):
        history.append("latent", _latent(step))
    (history.directory / "000001.npz").write_bytes(b"PK\x03\x04 not a zip")
    with caplog.at_level(logging.WARNING):
        assert [frame["step"] for frame in history.frames()] == [1, 3]
    assert "Ignoring damaged snapshot" in caplog.text and "000001.npz" in caplog.text


def test_the_store_keeps_a_history_beside_the_latest_and_a_resume_forgets_the_frames_past_it(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home")
    run_id = store.create_run(CONFIG)
    sink = StoreSink(store)
    for step in (1, 4, 8, 12):
        sink.emit(run_id, _reconstruction(step))
        sink.emit(run_id, _latent(step))
    assert store.read_snapshot(run_id, "latent")["step"] == 12
    frames = store.read_history(run_id, "reconstruction")
    assert [frame["step"] for frame in frames] == [1, 4, 8, 12]
    # The originals are kept once, in the latest snapshot, and handed back with every frame.
    assert not any("originals" in path.name for path in store.folder(run_id).history_dir("reconstruction").iterdir())
    np.testing.assert_array_equal(frames[0]["originals"], _reconstruction(1)["originals"])
    np.testing.assert_array_equal(frames[2]["reconstructions"], _reconstruction(8)["reconstructions"])
    # Resumed from its checkpoint at step 4: the frames after it are trained again, so they go.
    sink.emit(run_id, {"type": "start", "num_epochs": 3, "steps_per_epoch": 4, "initial_epoch": 1, "time": 0.0})
    sink.emit(run_id, _latent(6))
    assert [frame["step"] for frame in store.read_history(run_id, "latent")] == [1, 4, 6]
    assert [frame["step"] for frame in store.read_history(run_id, "reconstruction")] == [1, 4]


def test_a_reconstruction_history_without_its_latest_snapshot_is_empty(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home")
    run_id = store.create_run(CONFIG)
    store.write_snapshot(run_id, "reconstruction", _reconstruction(1))
    store.folder(run_id).snapshot_path("reconstruction").unlink()
    assert store.read_history(run_id, "reconstruction") == []
    assert store.read_history(run_id, "latent") == []
