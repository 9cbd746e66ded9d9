"""Looking inside a trained autoencoder: decode the latent plane, interpolate, sample, rank errors.

These are the Explore page's computations, kept here so they are tested without a
browser. Everything is light inference on a loaded ``Autoencoder`` bundle: models are
called directly (not through ``predict``, whose per-call set-up costs tens of
milliseconds), in chunks, so that a click on the page redraws well within a second.

Images go in and come out as uint8 ``(N, H, W, C)``, like everywhere in the core; codes
are float32 ``(N, latent_dim)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ae_core.models import Autoencoder
from ae_core.checks import check_int
from ae_core.data import to_float, to_uint8
from ae_core.analysis.projection import fit_pca

CHUNK_SIZE = 1024
MIN_INTERPOLATION_STEPS, MAX_INTERPOLATION_STEPS = 2, 64
MAX_GRID_SIZE = 40
MAX_PRIOR_SAMPLES = 256


def _call(model: Any, inputs: np.ndarray) -> np.ndarray:
    """Run ``model`` in inference mode over ``inputs`` in chunks and return numpy float32."""
    outputs = [np.asarray(model(inputs[start:start + CHUNK_SIZE], training=False), dtype=np.float32)
               for start in range(0, len(inputs), CHUNK_SIZE)]
    return np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)


def _images(images: np.ndarray, bundle: Autoencoder) -> np.ndarray:
    """Check that ``images`` are uint8 (N, H, W, C) of the model's shape and scale them to [0, 1]."""
    images = np.asarray(images)
    expected = tuple(bundle.encoder.input_shape[1:])
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(f"images must be a uint8 array shaped (N, {', '.join(map(str, expected))}); "
                         f"got {images.dtype} {images.shape}")
    return to_float(images)


def _codes(codes: np.ndarray, latent_dim: int) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim != 2 or codes.shape[1] != latent_dim or not np.isfinite(codes).all():
        raise ValueError(f"codes must be finite numbers shaped (n, {latent_dim}); got shape {codes.shape}")
    return codes


def encode(bundle: Autoencoder, images: np.ndarray) -> np.ndarray:
    """The codes of uint8 images (the mean code for a VAE).

    Raises:
        ValueError: when the images do not have the model's shape or are not uint8.
    """
    return _call(bundle.encoder, _images(images, bundle)).reshape(len(images), -1)


def decode(bundle: Autoencoder, codes: np.ndarray) -> np.ndarray:
    """Decode codes (n, latent_dim) into uint8 images (n, H, W, C).

    Raises:
        ValueError: when ``codes`` are not finite or not shaped (n, latent_dim).
    """
    return to_uint8(_call(bundle.decoder, _codes(codes, bundle.config.latent_dim)))


def reconstruct(bundle: Autoencoder, images: np.ndarray) -> np.ndarray:
    """Encode then decode uint8 images (without the training noise of a denoising model)."""
    return decode(bundle, encode(bundle, images))


def interpolate(bundle: Autoencoder, first: np.ndarray, second: np.ndarray,
                num_steps: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Walk in a straight line from one image's code to another's and decode each step.

    Args:
        bundle: a trained autoencoder.
        first, second: uint8 images shaped (H, W, C).
        num_steps: decoded steps, both ends included (2 to 64).

    Returns:
        ``(codes, images)``: float32 (num_steps, latent_dim) and uint8 (num_steps, H, W, C).

    Raises:
        ValueError: for a bad ``num_steps`` or images of the wrong shape.
    """
    check_int("num_steps", num_steps, MIN_INTERPOLATION_STEPS, MAX_INTERPOLATION_STEPS)
    ends = encode(bundle, np.stack([np.asarray(first), np.asarray(second)]))
    weights = np.linspace(0.0, 1.0, num_steps, dtype=np.float32)[:, None]
    codes = (1.0 - weights) * ends[0] + weights * ends[1]
    return codes, decode(bundle, codes)


@dataclass(frozen=True)
class LatentPlane:
    """A 2-D view of the latent space that can be mapped both ways.

    For a 2-D code the plane is the code itself. For a 1-D code it is the code on the x
    axis. For larger codes it is the plane of the first two principal components of some
    codes; ``to_codes`` is PCA's ``inverse_transform``, so a point of the plane decodes to
    the code at that spot of the plane (the mean code in every other direction).
    """

    latent_dim: int
    pca: Any = None  # sklearn.decomposition.PCA when latent_dim > 2

    @property
    def method(self) -> str:
        """The projection method of ``ae_core.analysis.projection`` that draws the same plane."""
        return "raw" if self.latent_dim <= 2 else "pca"

    def to_plane(self, codes: np.ndarray) -> np.ndarray:
        """Codes (n, latent_dim) to float32 points (n, 2)."""
        codes = _codes(codes, self.latent_dim)
        if self.latent_dim == 1:
            return np.column_stack([codes[:, 0], np.zeros(len(codes), np.float32)])
        if self.pca is None:
            return codes
        return self.pca.transform(codes.astype(np.float64)).astype(np.float32)

    def to_codes(self, points: np.ndarray) -> np.ndarray:
        """Points (n, 2) of the plane back to float32 codes (n, latent_dim)."""
        points = _codes(points, 2)
        if self.latent_dim == 1:
            return points[:, :1]
        if self.pca is None:
            return points
        return self.pca.inverse_transform(points.astype(np.float64)).astype(np.float32)


def fit_plane(codes: np.ndarray) -> LatentPlane:
    """The plane to draw ``codes`` on (see ``LatentPlane``).

    Raises:
        ValueError: when ``codes`` is not an (n, latent_dim) array with n >= 3.
    """
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim != 2 or len(codes) < 3 or not np.isfinite(codes).all():
        raise ValueError(f"codes must be finite numbers shaped (n, latent_dim) with n >= 3; got shape {codes.shape}")
    latent_dim = codes.shape[1]
    return LatentPlane(latent_dim, fit_pca(codes) if latent_dim > 2 else None)


def plane_bounds(points: np.ndarray, *, margin: float = 0.05) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) around the 1st-99th percentile of ``points``, widened by ``margin``.

    Percentiles rather than the extremes keep a few outliers from shrinking the grid of
    decoded images into a corner.
    """
    points = np.asarray(points, dtype=np.float64)
    low, high = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
    span = np.maximum(high - low, 1e-3)
    low, high = low - margin * span, high + margin * span
    return float(low[0]), float(high[0]), float(low[1]), float(high[1])


def decode_plane(bundle: Autoencoder, plane: LatentPlane, bounds: tuple[float, float, float, float],
                 grid_size: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode a ``grid_size`` x ``grid_size`` grid of points spread evenly over ``bounds``.

    Returns:
        ``(xs, ys, images)``: the grid's x and y values (each ``grid_size``, ascending) and
        uint8 images shaped (grid_size, grid_size, H, W, C), row ``r`` at ``ys[r]``.

    Raises:
        ValueError: for a grid size outside 2..40 or empty bounds.
    """
    check_int("grid_size", grid_size, 2, MAX_GRID_SIZE)
    x_min, x_max, y_min, y_max = bounds
    if not (x_min < x_max and y_min < y_max):
        raise ValueError(f"bounds must be (x_min, x_max, y_min, y_max) with min < max; got {bounds!r}")
    xs = np.linspace(x_min, x_max, grid_size, dtype=np.float32)
    ys = np.linspace(y_min, y_max, grid_size, dtype=np.float32)
    grid_x, grid_y = np.meshgrid(xs, ys)
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    images = decode(bundle, plane.to_codes(points))
    return xs, ys, images.reshape(grid_size, grid_size, *images.shape[1:])


def sample_prior(bundle: Autoencoder, count: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw codes from a VAE's prior, the standard normal, and decode them.

    Returns:
        ``(codes, images)``: float32 (count, latent_dim) and uint8 (count, H, W, C).

    Raises:
        ValueError: for a model that is not variational (its codes have no prior), or a
            count outside 1..256.
    """
    if not bundle.config.is_variational:
        raise ValueError(f"arch must be 'vae' or 'conv_vae' to sample from the prior; got {bundle.config.arch!r}")
    check_int("count", count, 1, MAX_PRIOR_SAMPLES)
    codes = np.random.default_rng(seed).standard_normal((count, bundle.config.latent_dim)).astype(np.float32)
    return codes, decode(bundle, codes)


def code_ranges(codes: np.ndarray) -> np.ndarray:
    """Slider ranges per code dimension: (latent_dim, 2) of the 1st and 99th percentiles.

    A dimension that never varies gets +-1 around its value, so its slider still moves.
    """
    codes = _codes(codes, np.asarray(codes).shape[-1])
    low, high = np.percentile(codes, 1, axis=0), np.percentile(codes, 99, axis=0)
    flat = high - low < 1e-6
    low, high = np.where(flat, low - 1.0, low), np.where(flat, high + 1.0, high)
    return np.column_stack([low, high]).astype(np.float32)


def pixel_errors(bundle: Autoencoder, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reconstruct images and measure how wrong each pixel is.

    Returns:
        ``(reconstructions, error_maps)``: uint8 (N, H, W, C) and float32 (N, H, W) squared
        errors in [0, 1], averaged over colour channels.
    """
    originals = _images(images, bundle)
    reconstructions = _call(bundle.decoder, _call(bundle.encoder, originals))
    error_maps = np.mean((np.clip(reconstructions, 0.0, 1.0) - originals) ** 2, axis=-1)
    return to_uint8(reconstructions), error_maps.astype(np.float32)


@dataclass(frozen=True)
class ErrorRanking:
    """Every image's reconstruction MSE, and the worst ones with their pictures.

    ``errors`` has one MSE per input image; ``worst`` holds the indices of the
    ``count`` largest, worst first, with their ``originals``, ``reconstructions`` and
    per-pixel ``error_maps`` in the same order.
    """

    errors: np.ndarray
    worst: np.ndarray
    originals: np.ndarray
    reconstructions: np.ndarray
    error_maps: np.ndarray


def rank_errors(bundle: Autoencoder, images: np.ndarray, count: int = 16) -> ErrorRanking:
    """Reconstruct ``images`` and rank them by mean squared error, worst first.

    Raises:
        ValueError: for images of the wrong shape or a count below 1.
    """
    check_int("count", count, 1)
    reconstructions, error_maps = pixel_errors(bundle, images)
    errors = error_maps.reshape(len(error_maps), -1).mean(axis=1)
    # A stable sort on the negated errors keeps ties in index order, so the ranking is repeatable.
    worst = np.argsort(-errors, kind="stable")[:count]
    return ErrorRanking(errors, worst, np.asarray(images)[worst], reconstructions[worst], error_maps[worst])


def errors_by_class(errors: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[int, np.ndarray]:
    """Split per-image errors by class label, for a histogram per class.

    Raises:
        ValueError: when the errors and labels differ in length or a label is out of range.
    """
    errors, labels = np.asarray(errors), np.asarray(labels)
    if errors.shape != labels.shape or errors.ndim != 1:
        raise ValueError(f"errors and labels must be 1-D and of one length; got {errors.shape} and {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be from 0 to {num_classes - 1}; got values from {labels.min()} to {labels.max()}")
    return {label: errors[labels == label] for label in range(num_classes)}
