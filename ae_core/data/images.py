"""uint8 images and the small conversions every part of the lab needs.

Images are uint8 arrays shaped (N, H, W, C) everywhere until the input pipeline. These
helpers scale them to float and back, and lay a block of them out as one picture. They
use NumPy only, so the Streamlit server can draw grids without loading TensorFlow.
"""

from __future__ import annotations

import numpy as np


def to_float(images: np.ndarray) -> np.ndarray:
    """Scale uint8 images to float32 in [0, 1] (for small arrays outside the pipeline)."""
    return np.asarray(images, dtype=np.float32) / 255.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Turn model outputs in [0, 1] back into uint8 images (values outside are clipped)."""
    return np.clip(np.rint(np.asarray(images) * 255.0), 0, 255).astype(np.uint8)


def tile(images: np.ndarray, *, gap: int = 1, background: float = 0) -> np.ndarray:
    """Lay a (rows, cols, H, W, C) block of images out as one picture, ``gap`` pixels apart.

    The picture keeps the images' dtype: uint8 images make a picture to show, float maps
    (per-pixel errors) a heatmap, whose ``background`` may be NaN to leave the gaps blank.

    Returns:
        (rows*H + gaps, cols*W + gaps), or with a last axis of 3 for colour.
    """
    images = np.asarray(images)
    rows, cols, height, width, channels = images.shape
    canvas = np.full((rows * (height + gap) - gap, cols * (width + gap) - gap, channels), background, images.dtype)
    for row in range(rows):
        for col in range(cols):
            top, left = row * (height + gap), col * (width + gap)
            canvas[top:top + height, left:left + width] = images[row, col]
    return canvas[:, :, 0] if channels == 1 else canvas
