"""The time-lapse: frames projected and aligned, the animated figure, the GIF, the background projections."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ae_core.analysis.projection import project_frames
from ae_lab_ui.timelapse_figure import timelapse_figure, timelapse_frames
from ae_lab_ui.timelapse_gif import GIF_HEIGHT, GIF_WIDTH, timelapse_gif
from ae_lab_ui.timelapse_jobs import TimelapseProjections

CLASSES = [str(digit) for digit in range(10)]


def _frames(count: int = 5, points: int = 30, latent_dim: int = 4) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(0)
    labels = np.arange(points) % 3
    centres = rng.normal(size=(3, latent_dim)) * 5
    latent, reconstruction = [], []
    originals = rng.integers(0, 256, size=(16, 6, 6, 1), dtype=np.uint8)
    for index in range(count):
        codes = centres[labels] + rng.normal(size=(points, latent_dim)) / (index + 1)
        latent.append({"epoch": index, "step": 10 * index, "codes": codes.astype(np.float16), "labels": labels,
                       "indices": np.arange(points)})
        reconstruction.append({"epoch": index, "step": 10 * index, "originals": originals, "inputs": None,
                               "reconstructions": (originals // (index + 1)).astype(np.uint8)})
    return latent, reconstruction


def test_frames_that_differ_only_by_a_rotation_are_aligned_onto_each_other() -> None:
    codes = np.random.default_rng(1).normal(size=(40, 2))
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])  # 90 degrees: PCA of each frame alone would flip and turn
    points = project_frames([codes, codes @ turn, -codes], "pca")
    assert points.shape == (3, 40, 2) and points.dtype == np.float32
    np.testing.assert_allclose(points[1], points[0], atol=1e-4)
    np.testing.assert_allclose(points[2], points[0], atol=1e-4)


def test_aligned_frames_keep_one_size_even_when_they_barely_resemble_each_other() -> None:
    rng = np.random.default_rng(2)
    points = project_frames([rng.normal(size=(50, 3)) for _ in range(20)], "pca")
    spreads = [np.sqrt(((frame - frame.mean(0)) ** 2).sum(1).mean()) for frame in points]
    np.testing.assert_allclose(spreads, spreads[0], rtol=1e-4)  # Procrustes alone shrank them to a dot


def test_project_frames_refuses_frames_of_different_images() -> None:
    with pytest.raises(ValueError, match="same number of codes; got \\[5, 6\\]"):
        project_frames([np.zeros((5, 2)), np.zeros((6, 2))], "pca")
    with pytest.raises(ValueError, match="at least one frame"):
        project_frames([], "pca")


def test_frames_pair_each_map_with_the_reconstructions_of_its_step_or_the_last_before() -> None:
    latent, reconstruction = _frames(4)
    timelapse = timelapse_frames(latent, reconstruction[:1] + reconstruction[2:])  # step 10 has no grid
    assert timelapse.steps == (0, 10, 20, 30) and len(timelapse) == 4
    np.testing.assert_array_equal(timelapse.grids[1], timelapse.grids[0])
    assert not np.array_equal(timelapse.grids[2], timelapse.grids[0])
    assert timelapse.captions[3].startswith("epoch 3 · step 30 · MSE ")
    with pytest.raises(ValueError, match="at least one frame"):
        timelapse_frames([], reconstruction)


def test_the_figure_has_one_animation_frame_per_snapshot_a_slider_and_a_play_button() -> None:
    latent, reconstruction = _frames(5)
    timelapse = timelapse_frames(latent, reconstruction)
    points = project_frames(timelapse.codes, "pca")
    spec = timelapse_figure(timelapse, points, CLASSES, run_id="r1", method_title="PCA")
    assert len(spec["frames"]) == 5 and len(spec["layout"]["sliders"][0]["steps"]) == 5
    assert spec["layout"]["sliders"][0]["active"] == 4  # it opens on the end of the run
    assert spec["layout"]["updatemenus"][0]["buttons"][0]["label"] == "▶ Play"
    # Three classes and the grid; each frame moves the points and swaps the picture.
    assert [trace["type"] for trace in spec["data"]] == ["scatter"] * 3 + ["image"]
    first, last = spec["frames"][0]["data"], spec["frames"][4]["data"]
    np.testing.assert_allclose(first[0]["x"], points[0, timelapse.labels == 0, 0])
    assert first[3]["source"].startswith("data:image/png;base64,") and first[3]["source"] != last[3]["source"]
    # Fixed axes hold every frame (an animation does not rescale them).
    low, high = spec["layout"]["xaxis"]["range"]
    assert low <= points[..., 0].min() and points[..., 0].max() <= high
    with pytest.raises(ValueError, match=r"points must be shaped \(5, 30, 2\)"):
        timelapse_figure(timelapse, points[:4], CLASSES, run_id="r1", method_title="PCA")


def test_the_gif_has_one_frame_per_snapshot_at_its_size_and_shows_the_map() -> None:
    latent, reconstruction = _frames(6)
    timelapse = timelapse_frames(latent, reconstruction)
    points = project_frames(timelapse.codes, "pca")
    gif = Image.open(io.BytesIO(timelapse_gif(timelapse, points, method_title="PCA", class_names=CLASSES)))
    assert gif.format == "GIF" and gif.n_frames == 6 and gif.size == (GIF_WIDTH, GIF_HEIGHT)
    gif.seek(5)
    picture = np.asarray(gif.convert("RGB"))
    left, right = picture[:, : GIF_WIDTH // 2], picture[:, GIF_WIDTH // 2:]
    assert (left != 255).any(axis=2).sum() > 30 * 4  # thirty coloured dots on the map
    assert (right != 255).any(axis=2).sum() > 1000  # and the reconstruction grid beside it
    with pytest.raises(ValueError, match="points must be shaped"):
        timelapse_gif(timelapse, points[:2], method_title="PCA")


def test_a_slow_projection_runs_once_in_the_background_and_is_cached_on_disk(tmp_path: Path) -> None:
    latent, _ = _frames(3)
    codes = [frame["codes"] for frame in latent]
    release = threading.Event()
    calls = []

    def slow_project(frames, method, *, on_frame):  # noqa: ANN001 - project_frames's signature
        calls.append(method)
        release.wait(5)
        on_frame(len(frames))
        return project_frames(frames, "pca")

    (tmp_path / "run" / "history").mkdir(parents=True)
    cache = tmp_path / "run" / "history" / "projection-tsne.npz"
    projections = TimelapseProjections(slow_project)
    job = projections.request(cache, "tsne", [0, 10, 20], codes)
    assert job.points is None and job.total == 3
    assert projections.request(cache, "tsne", [0, 10, 20], codes) is job  # a second session waits for it
    release.set()
    assert job.finished.wait(5) and job.error is None and job.points.shape == (3, 30, 2)
    assert calls == ["tsne"] and cache.is_file()
    # A server started afresh reads it from the run folder, without computing again.
    again = TimelapseProjections(slow_project).request(cache, "tsne", [0, 10, 20], codes)
    np.testing.assert_array_equal(again.points, job.points)
    assert calls == ["tsne"]
    # Frames that changed (a resumed run) are projected afresh.
    assert TimelapseProjections(slow_project).request(cache, "tsne", [0, 10, 30], codes).finished.wait(5)
    assert calls == ["tsne", "tsne"]


def test_a_failed_projection_says_why(tmp_path: Path) -> None:
    def broken(frames, method, *, on_frame):  # noqa: ANN001
        raise RuntimeError("no numba today")

    job = TimelapseProjections(broken).request(tmp_path / "projection-umap.npz", "umap", [0], [np.zeros((5, 2))])
    assert job.finished.wait(5) and job.points is None and job.error == "RuntimeError: no numba today"
