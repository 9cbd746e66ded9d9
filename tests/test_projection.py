"""2-D projections of codes and the alignment between frames."""

from __future__ import annotations

import numpy as np
import pytest

from ae_core.analysis.projection import METHODS, align, available_methods, fit_pca, project


@pytest.fixture()
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated clusters in 8-D, 60 points each."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10.0, size=(3, 8))
    labels = np.repeat(np.arange(3), 60)
    return centres[labels] + rng.normal(size=(180, 8)), labels


def _separated(points: np.ndarray, labels: np.ndarray) -> bool:
    """Every point is nearer its own cluster's centre than any other's."""
    centres = np.stack([points[labels == k].mean(axis=0) for k in range(3)])
    nearest = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    return bool((nearest == labels).mean() > 0.95)


@pytest.mark.parametrize("method", ["pca", "tsne", pytest.param("umap", marks=pytest.mark.slow)])
def test_each_method_gives_2d_points_that_keep_clusters_apart(method: str, blobs) -> None:
    codes, labels = blobs
    points = project(codes, method)
    assert points.shape == (180, 2) and points.dtype == np.float32
    assert _separated(points, labels)


def test_raw_needs_a_2d_latent_and_returns_the_codes() -> None:
    codes = np.arange(20, dtype=np.float32).reshape(10, 2)
    np.testing.assert_array_equal(project(codes, "raw"), codes)
    assert available_methods(2) == METHODS and "raw" not in available_methods(3)
    with pytest.raises(ValueError, match=r"method 'raw' needs latent_dim 2; this run has latent_dim 3"):
        project(np.zeros((10, 3)), "raw")


def test_bad_input_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"method must be one of 'raw', 'pca', 'tsne', 'umap'; got 'mds'"):
        project(np.zeros((10, 3)), "mds")
    with pytest.raises(ValueError, match=r"codes must be an \(n, latent_dim\) array with n >= 3"):
        project(np.zeros(10), "pca")
    with pytest.raises(ValueError, match=r"previous must have the shape of the new frame"):
        align(np.zeros((10, 2)), np.zeros((9, 2)))


def test_a_one_dimensional_latent_is_spread_on_a_line() -> None:
    points = project(np.linspace(0, 1, 5)[:, None], "pca")
    np.testing.assert_allclose(points[:, 1], 0.0)


def test_align_undoes_rotation_reflection_scale_and_shift() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(50, 2))
    angle = 1.1
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    reflected = reference @ rotation @ np.diag([1.0, -1.0])
    moved = 3.0 * reflected + np.array([5.0, -2.0])
    np.testing.assert_allclose(align(moved, reference), reference, atol=1e-9)


def test_successive_pca_frames_do_not_jump(blobs) -> None:
    codes, _ = blobs
    first = project(codes, "pca")
    # A small change of the codes must not flip or rotate the picture, even
    # when PCA alone would pick the opposite sign for an axis.
    flipped = codes * np.array([-1.0] * 8) + 0.01
    unaligned = project(flipped, "pca")
    aligned = project(flipped, "pca", previous=first)
    jump = lambda frame: float(np.abs(frame - first).mean())  # noqa: E731
    assert jump(aligned) < 0.05 < jump(unaligned)


def test_pca_plane_inverts_back_to_codes(blobs) -> None:
    codes, _ = blobs
    pca = fit_pca(codes)
    plane = pca.transform(codes)
    restored = pca.inverse_transform(plane)
    # Two components keep most of the spread of three well-separated clusters.
    assert float(((restored - codes) ** 2).mean()) < float(((codes - codes.mean(axis=0)) ** 2).mean()) * 0.2


@pytest.mark.slow
def test_tsne_and_umap_of_2000_codes_separate_the_classes_on_one_thread() -> None:
    # How long they take is measured by bench/bench_explore.py and bench/bench_browser.py (live
    # t-SNE / UMAP), not here: a timed unit test fails whenever the machine is busy.
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    labels = np.arange(2000) % 10
    codes = rng.normal(scale=4.0, size=(10, 32))[labels] + rng.normal(size=(2000, 32))
    with threadpool_limits(1):
        for method in ("tsne", "umap"):
            points = project(codes, method)
            centres = np.stack([points[labels == k].mean(axis=0) for k in range(10)])
            nearest = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
            assert (nearest == labels).mean() > 0.95, method
