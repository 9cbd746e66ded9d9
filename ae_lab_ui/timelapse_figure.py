"""The time-lapse as data: frames paired, and one animated Plotly figure of map and reconstructions.

A run's history keeps latent and reconstruction frames side by side (``ae_core.store.history``).
``timelapse_frames`` pairs them by step and holds what every picture of the time-lapse needs;
``timelapse_figure`` draws the latent map (one trace per class) beside the reconstruction grid,
with one Plotly animation frame per snapshot, and Plotly's own slider and play button: it plays
in the browser, with no round trip to the server, and the grid follows the map. The GIF export
(``timelapse_gif``) draws the same frames. No streamlit here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ae_lab_ui import figures
from ae_lab_ui.explore_figures import png_data_uri

# Milliseconds per frame while playing: 100 frames in about 12 s, slow enough to follow.
FRAME_MILLISECONDS = 120
# Labelled ticks under the slider (a hundred labels would overlap).
SLIDER_LABELS = 8
# The reconstruction grid of the animation is sent at this scale (the browser enlarges it).
GRID_SCALE = 1


@dataclass(frozen=True)
class Timelapse:
    """The frames of a time-lapse, oldest first: codes, labels and grids of the same images throughout."""

    steps: tuple[int, ...]
    codes: tuple[np.ndarray, ...]  # float32 (n, latent_dim) per frame
    labels: np.ndarray
    grids: tuple[np.ndarray | None, ...]  # the reconstruction grid at (or just before) each frame's step
    captions: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.steps)


def timelapse_frames(latent_frames: Sequence[dict[str, Any]],
                     reconstruction_frames: Sequence[dict[str, Any]]) -> Timelapse:
    """Pair each latent frame with the reconstruction frame of its step (else the last one before it).

    Frames whose codes are not the same images as the first frame's (a changed sample) are left out.

    Raises:
        ValueError: when there is no latent frame.
    """
    if not latent_frames:
        raise ValueError("latent_frames must hold at least one frame; got none")
    first = latent_frames[0]
    size = len(first["codes"])
    latent_frames = [frame for frame in latent_frames if len(frame["codes"]) == size]
    by_step = sorted(reconstruction_frames, key=lambda frame: int(frame.get("step", 0)))
    grids, captions = [], []
    for frame in latent_frames:
        step = int(frame.get("step", 0))
        earlier = [candidate for candidate in by_step if int(candidate.get("step", 0)) <= step]
        grid = figures.reconstruction_grid(earlier[-1], scale=GRID_SCALE) if earlier else None
        mse = f" · MSE {figures.snapshot_mse(earlier[-1]):.4f}" if earlier else ""
        grids.append(grid)
        captions.append(f"epoch {int(frame.get('epoch', 0))} · step {step:,}{mse}")
    return Timelapse(steps=tuple(int(frame.get("step", 0)) for frame in latent_frames),
                     codes=tuple(np.asarray(frame["codes"], dtype=np.float32) for frame in latent_frames),
                     labels=np.asarray(first["labels"]).astype(int), grids=tuple(grids), captions=tuple(captions))


def _bounds(points: np.ndarray) -> tuple[list[float], list[float]]:
    """Fixed axis ranges that hold every frame's points (an animation does not rescale its axes)."""
    low, high = points.reshape(-1, 2).min(axis=0), points.reshape(-1, 2).max(axis=0)
    spare = 0.05 * np.maximum(high - low, 1e-6)
    return [float(low[0] - spare[0]), float(high[0] + spare[0])], [float(low[1] - spare[1]), float(high[1] + spare[1])]


def timelapse_figure(timelapse: Timelapse, points: np.ndarray, class_names: Sequence[str], *, run_id: str,
                     method_title: str) -> figures.Figure:
    """The animated time-lapse: the latent map (left) and the reconstruction grid (right), one frame per snapshot.

    Args:
        timelapse: the frames (``timelapse_frames``).
        points: (frames, n, 2) projected and aligned points, one set per frame.
        class_names: the dataset's class names, indexed by label.
        run_id, method_title: for the title and the ``uirevision``.

    Returns:
        A Plotly figure spec with ``frames``, a slider and a play button; it opens on the last frame.

    Raises:
        ValueError: if ``points`` does not hold one (n, 2) set per frame.
    """
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 3 or len(points) != len(timelapse) or points.shape[1:] != (len(timelapse.labels), 2):
        raise ValueError(f"points must be shaped ({len(timelapse)}, {len(timelapse.labels)}, 2); got {points.shape}")
    labels = timelapse.labels
    classes = np.unique(labels)
    x_range, y_range = _bounds(points)

    def frame_data(index: int) -> list[dict[str, Any]]:
        data = [{"type": "scatter", "x": points[index, labels == label, 0], "y": points[index, labels == label, 1]}
                for label in classes]
        grid = timelapse.grids[index]
        data.append({"type": "image", "source": png_data_uri(grid) if grid is not None else "", "xaxis": "x2",
                     "yaxis": "y2"})
        return data

    last = len(timelapse) - 1
    traces = []
    for trace, label in zip(frame_data(last), classes):
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        trace.update(mode="markers", name=name, hoverinfo="name",
                     marker={"size": 5, "opacity": 0.8, "color": figures.CLASS_COLOURS[label % len(figures.CLASS_COLOURS)]})
        traces.append(trace)
    traces.append({**frame_data(last)[-1], "hoverinfo": "skip"})
    frames = [{"name": str(index), "data": frame_data(index) if index != last else [dict(t) for t in traces],
               "layout": {"title": {"text": f"Time-lapse · {method_title} · {timelapse.captions[index]}"}}}
              for index in range(len(timelapse))]
    play = {"frame": {"duration": FRAME_MILLISECONDS, "redraw": True}, "fromcurrent": True,
            "transition": {"duration": 0}, "mode": "immediate"}
    # About ten labelled ticks (the global step); the title says where the shown frame is.
    every = max(1, -(-len(timelapse) // SLIDER_LABELS))
    slider = {"active": last, "x": 0.2, "len": 0.8, "y": 0.0, "yanchor": "top", "pad": {"t": 30},
              "currentvalue": {"visible": False},
              "steps": [{"label": f"{timelapse.steps[index]:,}" if index % every == 0 or index == last else "",
                         "method": "animate",
                         "args": [[str(index)], {**play, "frame": {"duration": 0, "redraw": True}}]}
                        for index in range(len(timelapse))]}
    buttons = {"type": "buttons", "showactive": False, "x": 0.0, "y": 0.0, "xanchor": "left", "yanchor": "top",
               "pad": {"t": 38}, "direction": "left",
               "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                           {"label": "❚❚", "method": "animate",
                            "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]}]}
    axis = {"showticklabels": False, "zeroline": False, "showgrid": False, "title": {"text": ""}}
    spec = figures.figure_spec(
        traces, f"Time-lapse · {method_title} · {timelapse.captions[last]}", f"timelapse-{run_id}-{method_title}",
        height=560, xaxis={**axis, "domain": [0.0, 0.55], "range": x_range},
        yaxis={**axis, "range": y_range},
        xaxis2={**axis, "domain": [0.6, 1.0], "anchor": "y2"},
        yaxis2={**axis, "anchor": "x2", "autorange": "reversed", "scaleanchor": "x2"},
        sliders=[slider], updatemenus=[buttons], margin={"l": 10, "r": 10, "t": 60, "b": 90})
    spec["frames"] = frames
    return spec
