"""The time-lapse as an animated GIF a teacher can drop into slides (Pillow; no streamlit).

Each frame is drawn as one picture: the latent map as a scatter of coloured dots on the
left, the reconstruction grid on the right, and the frame's epoch, step and MSE above them.
The axes are the same in every frame, so the dots move only when the codes do.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ae_lab_ui import figures
from ae_lab_ui.timelapse_figure import Timelapse

GIF_WIDTH = 960
GIF_HEIGHT = 480
CAPTION_HEIGHT = 44
LEGEND_HEIGHT = 60
DOT_RADIUS = 2
# A GIF plays a little slower than the page's animation, and rests on its last frame.
GIF_FRAME_MILLISECONDS = 150
LAST_FRAME_MILLISECONDS = 2000


def _colour(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def render_frame(points: np.ndarray, labels: np.ndarray, grid: np.ndarray | None, caption: str, *,
                 bounds: tuple[np.ndarray, np.ndarray], class_names: Sequence[str] = (),
                 size: tuple[int, int] = (GIF_WIDTH, GIF_HEIGHT)) -> Image.Image:
    """One picture of the time-lapse: caption on top, latent map on the left, reconstructions on the right.

    Args:
        points: (n, 2) points of this frame.
        labels: (n,) class of each point (its colour).
        grid: the reconstruction grid (uint8, (H, W) or (H, W, 3)), or None.
        caption: the words above the pictures.
        bounds: (low, high) corners of the map, the same for every frame.
        class_names: names of the classes, by label, for the legend under the grid (none: no legend).
        size: (width, height) of the picture in pixels.

    Returns:
        An RGB image of ``size``.
    """
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((12, 10), caption, fill=(40, 40, 40), font=ImageFont.load_default(size=22))
    panel = min(width // 2, height - CAPTION_HEIGHT) - 16  # the map is square, beside the grid
    low, high = bounds
    span = np.maximum(np.asarray(high) - np.asarray(low), 1e-9)
    # y grows upwards on the map and downwards in the picture.
    xy = (np.asarray(points, dtype=np.float64) - low) / span
    pixels = np.column_stack([8 + xy[:, 0] * panel, CAPTION_HEIGHT + (1.0 - xy[:, 1]) * panel])
    colours = [_colour(colour) for colour in figures.CLASS_COLOURS]
    for (x, y), label in zip(pixels, np.asarray(labels).astype(int)):
        draw.ellipse((x - DOT_RADIUS, y - DOT_RADIUS, x + DOT_RADIUS, y + DOT_RADIUS),
                     fill=colours[label % len(colours)])
    legend_font = ImageFont.load_default(size=16)
    for label, name in enumerate(class_names):  # under the grid, in two rows of five
        x, y = panel + 24 + (label % 5) * 110, height - 52 + (label // 5) * 24
        draw.ellipse((x, y + 4, x + 10, y + 14), fill=colours[label % len(colours)])
        draw.text((x + 16, y), str(name)[:10], fill=(60, 60, 60), font=legend_font)
    if grid is not None:
        picture = Image.fromarray(np.ascontiguousarray(grid)).convert("RGB")
        legend = LEGEND_HEIGHT if class_names else 0
        left, room_width, room_height = panel + 24, width - panel - 32, height - CAPTION_HEIGHT - 8 - legend
        scale = min(room_width / picture.width, room_height / picture.height)
        picture = picture.resize((max(1, int(picture.width * scale)), max(1, int(picture.height * scale))),
                                 Image.Resampling.NEAREST)  # keep the pixels sharp
        image.paste(picture, (left, CAPTION_HEIGHT + (room_height - picture.height) // 2))
    return image


def timelapse_gif(timelapse: Timelapse, points: np.ndarray, *, method_title: str, class_names: Sequence[str] = (),
                  size: tuple[int, int] = (GIF_WIDTH, GIF_HEIGHT)) -> bytes:
    """The whole time-lapse as an animated GIF that loops forever.

    Args:
        timelapse: the frames (``timelapse_figure.timelapse_frames``).
        points: (frames, n, 2) projected, aligned points.
        method_title: the projection's name, for the caption.
        class_names: the dataset's class names, by label, for the legend.
        size: (width, height) of each frame in pixels.

    Returns:
        The GIF file's bytes.

    Raises:
        ValueError: if ``points`` does not hold one set per frame.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or len(points) != len(timelapse) or not len(timelapse):
        raise ValueError(f"points must be shaped ({len(timelapse)}, n, 2) with at least one frame; "
                         f"got {points.shape}")
    flat = points.reshape(-1, 2)
    bounds = (flat.min(axis=0), flat.max(axis=0))
    pictures = [render_frame(points[index], timelapse.labels, timelapse.grids[index],
                             f"{method_title} · {timelapse.captions[index]}", bounds=bounds,
                             class_names=class_names, size=size)
                for index in range(len(timelapse))]
    durations = [GIF_FRAME_MILLISECONDS] * (len(pictures) - 1) + [LAST_FRAME_MILLISECONDS]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=durations, loop=0,
                     optimize=False)
    return buffer.getvalue()
