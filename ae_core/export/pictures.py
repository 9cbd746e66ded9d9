"""The pictures a run takes with it: its reconstruction grid, its latent map and a projector sprite, as PNG.

NumPy and Pillow only (no TensorFlow, no plotting library): the web server builds the zip's
PNGs with them, and the worker the TensorBoard images and the Embedding Projector's sprite.
"""

from __future__ import annotations

import io
import math
from typing import Any, Mapping

import numpy as np

from ae_core.data.images import tile

# Ten colours that tell classes apart (Tableau 10, which Plotly and Matplotlib use too).
CLASS_COLOURS = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)],
                         dtype=np.uint8)
LATENT_MAP_SIZE = 480
SPRITE_MAX_SIDE = 8192  # the Embedding Projector's limit on a sprite's width and height


def png_bytes(picture: np.ndarray) -> bytes:
    """Encode a uint8 picture, (H, W) grey or (H, W, 3) colour, as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def reconstruction_picture(snapshot: Mapping[str, Any], *, scale: int = 2) -> np.ndarray:
    """A reconstruction snapshot as one picture: originals above (noisy inputs above) reconstructions.

    Args:
        snapshot: a ``reconstruction`` event or snapshot, with uint8 ``originals`` and
            ``reconstructions`` (N, H, W, C) and optional ``inputs``.
        scale: each pixel becomes ``scale`` x ``scale`` pixels, so small digits stay visible.

    Returns:
        A uint8 picture, (H', W') or (H', W', 3).
    """
    rows = [np.asarray(snapshot["originals"])]
    if snapshot.get("inputs") is not None:
        rows.append(np.clip(np.asarray(snapshot["inputs"]), 0, 255).astype(np.uint8))
    rows.append(np.asarray(snapshot["reconstructions"]))
    picture = tile(np.stack(rows), gap=2, background=255)
    return np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1)


def latent_map_picture(codes: np.ndarray, labels: np.ndarray, size: int = LATENT_MAP_SIZE) -> np.ndarray:
    """The codes' first two principal components as a scatter picture, one colour per class.

    A plain raster so that the zip needs no plotting library; the lab's pages draw the
    interactive map. A 1-d code is drawn against zero.

    Returns:
        A (size, size, 3) uint8 picture on white.
    """
    codes = np.asarray(codes, dtype=np.float64)
    centred = codes - codes.mean(axis=0)
    if codes.shape[1] >= 2:
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        points = centred @ components[:2].T
    else:
        points = np.column_stack([centred[:, 0], np.zeros(len(centred))])
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    margin = 6
    pixels = (margin + (points - low) / span * (size - 2 * margin - 1)).astype(int)
    picture = np.full((size, size, 3), 255, np.uint8)
    colours = CLASS_COLOURS[np.asarray(labels, dtype=np.int64) % len(CLASS_COLOURS)]
    for (x, y), colour in zip(pixels, colours):
        row = size - 1 - y  # the second component points up
        picture[max(row - 1, 0):row + 2, max(x - 1, 0):x + 2] = colour
    return picture


def sprite_picture(images: np.ndarray) -> np.ndarray:
    """Images (N, H, W, C) as the Embedding Projector's sprite: a square grid, row by row, black padding.

    Raises:
        ValueError: when the grid would exceed the projector's 8192-pixel side.
    """
    images = np.asarray(images, dtype=np.uint8)
    count, height, width, channels = images.shape
    side = max(1, math.ceil(math.sqrt(count)))
    if side * max(height, width) > SPRITE_MAX_SIDE:
        raise ValueError(f"images must fit a sprite of {SPRITE_MAX_SIDE} pixels a side; got {count} of {height}x{width}")
    padded = np.zeros((side * side, height, width, channels), np.uint8)
    padded[:count] = images
    return tile(padded.reshape(side, side, height, width, channels), gap=0)
