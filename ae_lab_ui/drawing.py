"""A drawing canvas for a digit, through streamlit-drawable-canvas when it is installed.

The package is optional: without it (or if it fails to load with this Streamlit) the
Explore page says so and offers the upload alone.
"""

from __future__ import annotations

import logging

import numpy as np
import streamlit as st

LOGGER = logging.getLogger("ae_lab_ui")
CANVAS_SIDE = 224


def strokes_to_gray(image_data: np.ndarray | None) -> np.ndarray | None:
    """White strokes on black from the canvas's RGBA pixels, or None when nothing is drawn.

    The canvas may or may not include its background in the pixels; weighting the colour
    by its alpha gives light ink on black either way, as MNIST digits are.
    """
    if image_data is None:
        return None
    pixels = np.asarray(image_data, dtype=np.float32)
    if pixels.ndim != 3 or pixels.shape[2] != 4:
        return None
    gray = pixels[..., :3].mean(axis=2) * (pixels[..., 3] / 255.0)
    if gray.max() < 30:
        return None
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def canvas(key: str) -> np.ndarray | None:
    """Draw the canvas; return the drawing as a grayscale uint8 array, or None."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as error:  # noqa: BLE001 - an optional widget must never break the page
        LOGGER.info("drawing canvas unavailable: %s", error)
        st.caption("Drawing needs the package streamlit-drawable-canvas; upload an image instead.")
        return None
    st.markdown("**…or draw a digit** (no upload needed):")
    result = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS_SIDE,
                       width=CANVAS_SIDE, drawing_mode="freedraw", return_image_data=True, key=key)
    return strokes_to_gray(result.image_data)
