"""Latent-space analysis: encode/decode, interpolation, the decodable plane, prior samples, error ranking."""

from __future__ import annotations

import numpy as np
import pytest

from ae_core import analysis
from ae_core.data import tile
from ae_core.config import ModelConfig, TrainConfig
from ae_core.data.datasets import load_dataset
from ae_core.models.zoo import build_autoencoder
from ae_core.training import train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist_sample")


@pytest.fixture(scope="module")
def trained(digits):
    """A small dense autoencoder with an 8-d code, trained for a few seconds on real digits."""
    config = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=8), num_epochs=4,
                         batch_size=32, train_limit=1024, seed=1)
    result = train(config)
    assert result.status == "finished"
    return result.model


@pytest.fixture(scope="module")
def vae():
    return build_autoencoder(ModelConfig(arch="vae", latent_dim=2, hidden_sizes=(16,)), (28, 28, 1), seed=2)


def test_encode_and_decode_give_codes_and_uint8_images(trained, digits) -> None:
    codes = analysis.encode(trained, digits.x_test[:5])
    assert codes.shape == (5, 8) and codes.dtype == np.float32
    images = analysis.decode(trained, codes)
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(analysis.reconstruct(trained, digits.x_test[:5]), images)


def test_bad_inputs_are_rejected_with_the_field_named(trained, digits) -> None:
    with pytest.raises(ValueError, match=r"codes must be finite numbers shaped \(n, 8\)"):
        analysis.decode(trained, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="codes must be finite"):
        analysis.decode(trained, np.full((1, 8), np.nan))
    with pytest.raises(ValueError, match=r"images must be a uint8 array shaped \(N, 28, 28, 1\)"):
        analysis.encode(trained, digits.x_test[:2].astype(np.float32))


def test_interpolation_walks_evenly_between_the_two_codes(trained, digits) -> None:
    first, second = digits.x_test[0], digits.x_test[1]
    codes, images = analysis.interpolate(trained, first, second, num_steps=10)
    ends = analysis.encode(trained, digits.x_test[:2])
    np.testing.assert_allclose(codes[0], ends[0], atol=1e-5)
    np.testing.assert_allclose(codes[-1], ends[1], atol=1e-5)
    steps = np.diff(codes, axis=0)
    np.testing.assert_allclose(steps, np.broadcast_to(steps[0], steps.shape), atol=1e-5)
    assert images.shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(images[0], analysis.reconstruct(trained, digits.x_test[:1])[0])
    with pytest.raises(ValueError, match="num_steps must be a whole number from 2 to 64"):
        analysis.interpolate(trained, first, second, num_steps=1)


def test_a_2d_plane_is_the_code_itself() -> None:
    codes = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    plane = analysis.fit_plane(codes)
    assert plane.method == "raw"
    np.testing.assert_array_equal(plane.to_plane(codes), codes)
    np.testing.assert_array_equal(plane.to_codes(codes), codes)


def test_the_pca_plane_inverts_exactly_for_codes_on_a_plane() -> None:
    rng = np.random.default_rng(1)
    # Codes that lie exactly on a 2-D affine plane inside 6-D: PCA recovers the plane,
    # so mapping to the plane and back must return the same codes.
    basis = np.linalg.qr(rng.normal(size=(6, 2)))[0].T
    codes = (rng.normal(size=(200, 2)) * [3.0, 1.0]) @ basis + rng.normal(size=6)
    plane = analysis.fit_plane(codes)
    assert plane.method == "pca"
    points = plane.to_plane(codes)
    np.testing.assert_allclose(plane.to_codes(points), codes, atol=1e-4)
    # And any point of the plane survives the round trip the other way.
    grid = np.array([[-1.0, 2.0], [0.5, -0.3]], dtype=np.float32)
    np.testing.assert_allclose(plane.to_plane(plane.to_codes(grid)), grid, atol=1e-4)


def test_a_1d_code_is_drawn_on_the_x_axis() -> None:
    plane = analysis.fit_plane(np.arange(5, dtype=np.float32)[:, None])
    np.testing.assert_array_equal(plane.to_plane(np.array([[2.0]])), [[2.0, 0.0]])
    np.testing.assert_array_equal(plane.to_codes(np.array([[3.0, 9.0]])), [[3.0]])
    with pytest.raises(ValueError, match="n >= 3"):
        analysis.fit_plane(np.zeros((2, 4)))


def test_decode_plane_decodes_each_grid_point(trained, digits) -> None:
    codes = analysis.encode(trained, digits.x_test[:300])
    plane = analysis.fit_plane(codes)
    bounds = analysis.plane_bounds(plane.to_plane(codes))
    xs, ys, images = analysis.decode_plane(trained, plane, bounds, grid_size=5)
    assert images.shape == (5, 5, 28, 28, 1) and xs[0] < xs[-1] and ys[0] < ys[-1]
    corner = analysis.decode(trained, plane.to_codes(np.array([[xs[-1], ys[0]]])))
    np.testing.assert_array_equal(images[0, -1], corner[0])
    picture = tile(images, gap=1)
    assert picture.shape == (5 * 29 - 1, 5 * 29 - 1)
    np.testing.assert_array_equal(picture[:28, -28:], images[0, -1, :, :, 0])
    with pytest.raises(ValueError, match="grid_size must be a whole number from 2 to 40"):
        analysis.decode_plane(trained, plane, bounds, grid_size=1)
    with pytest.raises(ValueError, match="bounds must be"):
        analysis.decode_plane(trained, plane, (1.0, 0.0, 0.0, 1.0))


def test_plane_bounds_ignore_outliers() -> None:
    points = np.random.default_rng(3).uniform(-1, 1, size=(1000, 2))
    points[0] = [1000.0, -1000.0]
    x_min, x_max, y_min, y_max = analysis.plane_bounds(points)
    assert -1.2 < x_min < -0.9 and 0.9 < x_max < 1.2 and -1.2 < y_min < -0.9 and 0.9 < y_max < 1.2


def test_prior_samples_need_a_vae_and_repeat_with_a_seed(vae, trained) -> None:
    codes, images = analysis.sample_prior(vae, 6, seed=4)
    assert codes.shape == (6, 2) and images.shape == (6, 28, 28, 1)
    np.testing.assert_array_equal(analysis.sample_prior(vae, 6, seed=4)[1], images)
    assert not np.array_equal(analysis.sample_prior(vae, 6, seed=5)[0], codes)
    with pytest.raises(ValueError, match="arch must be 'vae' or 'conv_vae'"):
        analysis.sample_prior(trained, 4)
    with pytest.raises(ValueError, match="count must be a whole number from 1 to 256"):
        analysis.sample_prior(vae, 0)


def test_code_ranges_widen_a_dimension_that_never_moves() -> None:
    codes = np.column_stack([np.linspace(0, 10, 101), np.zeros(101)]).astype(np.float32)
    ranges = analysis.code_ranges(codes)
    np.testing.assert_allclose(ranges[0], [0.1, 9.9], atol=1e-4)
    np.testing.assert_allclose(ranges[1], [-1.0, 1.0])


def test_error_ranking_puts_the_odd_image_first(trained, digits) -> None:
    images = np.array(digits.x_test[:40])
    # A chequerboard looks like no digit, so the digit model reconstructs it worst.
    images[17] = (np.indices((28, 28)).sum(axis=0) % 2 * 255).astype(np.uint8)[..., None]
    ranking = analysis.rank_errors(trained, images, count=5)
    assert ranking.worst[0] == 17 and len(ranking.worst) == 5
    assert np.all(np.diff(ranking.errors[ranking.worst]) <= 0)
    # The per-image error is the mean of its per-pixel map, which is the squared error.
    reconstructions = analysis.reconstruct(trained, images).astype(np.float64) / 255.0
    expected = ((reconstructions - images / 255.0) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(ranking.errors, expected, atol=2e-3)
    assert ranking.error_maps.shape == (5, 28, 28)
    np.testing.assert_allclose(ranking.error_maps.mean(axis=(1, 2)), ranking.errors[ranking.worst], rtol=1e-5)
    np.testing.assert_array_equal(ranking.originals[0], images[17])
    with pytest.raises(ValueError, match="count must be a whole number of at least 1"):
        analysis.rank_errors(trained, images, count=0)


def test_errors_by_class_split_by_label() -> None:
    groups = analysis.errors_by_class(np.array([0.1, 0.2, 0.3, 0.4]), np.array([1, 0, 1, 2]), 4)
    np.testing.assert_array_equal(groups[1], [0.1, 0.3])
    assert len(groups[3]) == 0 and list(groups) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="labels must be from 0 to 3"):
        analysis.errors_by_class(np.array([0.1]), np.array([7]), 4)
    with pytest.raises(ValueError, match="errors and labels must be 1-D and of one length"):
        analysis.errors_by_class(np.array([0.1, 0.2]), np.array([0]), 4)
