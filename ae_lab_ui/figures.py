"""Pictures of a run: the loss curve, the 2-D latent map and the reconstruction grid.

Plain functions from data to a Plotly figure spec (a dict of ``data`` and
``layout``) or an image array, so they are tested without a browser. A live
figure carries a ``uirevision`` tied to the run, and the loss curve zooms through a
slider whose window the server applies to every update (``loss_figure``), so the
person's zoom survives the live updates.

Every figure of the app is such a plain dict (``figure_spec`` gives the common
layout), drawn by ``views.plot``: building ``plotly.graph_objects`` validates
every property, tens of milliseconds per figure on a busy 2-core machine, paid
on every live rerun.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ae_core.changes import FIELD_WORDS, Change, effective_changes
from ae_core.data import tile
from ae_lab_ui.history import MetricHistory

Figure = dict[str, Any]
# Every chart's toolbar: no Plotly logo, no box or lasso select (clicks pick points), and no
# scroll-wheel zoom, so the wheel scrolls the page as a person expects.
PLOT_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"], "scrollZoom": False}
# Tableau 10: distinct, colour-blind-friendly enough, and readable on a projector.
CLASS_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
# The dashed line of a change made while the run trained (Tableau 10's purple).
CHANGE_COLOUR = "#b07aa1"
# Batch points beyond this are thinned for drawing; the history keeps them all.
MAX_BATCH_POINTS = 3000
# The light gray between the images of the reconstruction grid.
GRID_BACKGROUND = 235


# Plotly.js's names of the array types it takes as base64 ("typed array specs").
_TYPED_ARRAY_NAMES = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4",
                      "float32": "f4", "float64": "f8"}


def typed_arrays(value: Any) -> Any:
    """``value`` with every NumPy array held in a dict as the base64 typed-array spec Plotly.js reads.

    Plotly converts those arrays on the figure's way to the browser anyway, but through a
    generic path that cost most of ``st.plotly_chart``'s time on a class's server (about
    2 ms of 4 for a latent map). What is sent stays exactly Plotly's (a test compares): whole
    numbers in the smallest type that holds them, ``shape`` for two or more dimensions, and
    arrays inside lists or of other types left for Plotly's JSON encoder.
    """
    if isinstance(value, dict):
        return {key: _typed_array(item) if isinstance(item, np.ndarray) else typed_arrays(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [item if isinstance(item, np.ndarray) else typed_arrays(item) for item in value]
    return value


def _typed_array(array: np.ndarray) -> Any:
    if array.dtype.kind in "iu" and array.dtype.itemsize == 8 and array.size:
        kinds = (np.uint8, np.uint16, np.uint32) if array.dtype.kind == "u" else (np.int8, np.int16, np.int32)
        low, high = array.min(), array.max()
        fitting = next((kind for kind in kinds if np.iinfo(kind).min <= low and high <= np.iinfo(kind).max), None)
        if fitting is None:
            return array
        array = array.astype(fitting)
    name = _TYPED_ARRAY_NAMES.get(str(array.dtype))
    if name is None or array.size == 0:
        return array
    spec = {"dtype": name, "bdata": base64.b64encode(np.ascontiguousarray(array)).decode("ascii")}
    if array.ndim > 1:
        spec["shape"] = str(array.shape)[1:-1]
    return spec


def figure_spec(traces: list[dict[str, Any]], title: str, uirevision: str | None, *, height: int = 420,
                **layout: Any) -> Figure:
    """A plain-dict Plotly figure in the app's style.

    ``uirevision`` keeps the person's zoom and hidden traces across updates of the same
    figure; None leaves it out, so each new figure is drawn afresh. ``layout`` adds to or
    replaces the common layout's keys.
    """
    common = {"title": {"text": title, "x": 0.0, "xanchor": "left"}, "font": {"size": 15},
              "margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "height": height,
              "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0}}
    if uirevision is not None:
        common["uirevision"] = uirevision
    return {"data": traces, "layout": {**common, **layout}}


# The presenter view's charts, to read from the back of a room: lines and markers this much
# bigger, and text this big in pixels. Streamlit's chart theme ignores ``layout.font``, so each
# text (title, ticks, axis titles, legend, hover) gets its size set on its own.
PROJECTOR_SCALE = 1.6
PROJECTOR_FONT_SIZE = 20
PROJECTOR_TITLE_SIZE = 26


def _with_font(part: Any, size: int) -> dict[str, Any]:
    part = {"text": part} if isinstance(part, str) else dict(part or {})
    return {**part, "font": {**part.get("font", {}), "size": size}}


def for_projector(spec: Figure) -> Figure:
    """A copy of a figure for a projector: bigger text, line widths and marker sizes.

    Args:
        spec: a figure spec from this module (it is not changed).

    Returns:
        The enlarged spec; data arrays are shared, not copied.
    """
    layout = dict(spec["layout"])
    layout["title"] = _with_font(layout.get("title"), PROJECTOR_TITLE_SIZE)
    layout["legend"] = _with_font(layout.get("legend"), PROJECTOR_FONT_SIZE)
    layout["hoverlabel"] = _with_font(layout.get("hoverlabel"), PROJECTOR_FONT_SIZE)
    for axis in ("xaxis", "yaxis"):
        settings = dict(layout.get(axis) or {})
        settings["tickfont"] = {**settings.get("tickfont", {}), "size": PROJECTOR_FONT_SIZE}
        settings["title"] = _with_font(settings.get("title"), PROJECTOR_FONT_SIZE)
        layout[axis] = settings
    traces = []
    for trace in spec["data"]:
        trace = dict(trace)
        mode = trace.get("mode", "")
        if "lines" in mode or "line" in trace:
            line = trace.get("line", {})
            trace["line"] = {**line, "width": line.get("width", 2) * PROJECTOR_SCALE}
        if "markers" in mode:
            marker = trace.get("marker", {})
            trace["marker"] = {**marker, "size": marker.get("size", 6) * PROJECTOR_SCALE}
        traces.append(trace)
    return {**spec, "data": traces, "layout": layout}


def loss_figure(history: MetricHistory, steps_per_epoch: int | None, *, log_scale: bool = False,
                window: tuple[float, float] | None = None, changes: Sequence[Change] = ()) -> Figure:
    """Batch loss plus the per-epoch train and validation loss, against epochs.

    Each change made while the run trained (``changes``, a ``TrainConfig.changes`` history)
    is a dashed vertical line where it took effect, labelled with its new value; changes
    that took effect at the same step share one line.

    With ``steps_per_epoch`` unknown (the run has not reported it yet) the x axis is the
    global step instead. ``window`` (x from, x to) zooms in: the y axis then fits the
    points inside it. The zoom is the server's, not Plotly's drag zoom: Streamlit 1.67
    mounts a new chart whenever its data changes (streamlit/streamlit#16052), which
    throws a drag zoom away within a second of a live update; so dragging is off.
    """
    def x_of(steps: Sequence[int]) -> list[float]:
        return [s / steps_per_epoch for s in steps] if steps_per_epoch else list(map(float, steps))

    steps, losses = history.batch_steps, history.batch_losses
    stride = max(1, len(steps) // MAX_BATCH_POINTS)
    traces = [{"type": "scatter", "x": x_of(steps[::stride]), "y": losses[::stride], "mode": "lines",
               "name": "batch loss", "line": {"width": 1.5, "color": "rgba(110,110,110,0.55)"},
               "hovertemplate": "batch loss %{y:.4f}<extra></extra>"}]
    for metric_key, name, colour in (("loss", "train loss (epoch)", "#4e79a7"),
                                     ("val_loss", "validation loss", "#f28e2b")):
        series = history.epochs.get(metric_key, [])
        traces.append({"type": "scatter", "x": x_of([step for _, step, _ in series]),
                       "y": [value for *_, value in series], "mode": "lines+markers", "name": name,
                       "line": {"width": 3, "color": colour}, "marker": {"size": 8},
                       "hovertemplate": f"{name} %{{y:.4f}}<extra></extra>"})
    xaxis: dict[str, Any] = {"title": {"text": "epoch" if steps_per_epoch else "step"}, "rangemode": "tozero"}
    yaxis: dict[str, Any] = {"title": {"text": "loss"}, "type": "log" if log_scale else "linear"}
    if window is not None:
        xaxis["range"] = list(window)
        shown = [y for trace in traces for x, y in zip(trace["x"], trace["y"])
                 if window[0] <= x <= window[1] and (y > 0 or not log_scale)]
        if shown:
            yaxis["range"] = _padded_range(min(shown), max(shown), log_scale)
    shapes, annotations = _change_markers(effective_changes(changes), x_of)
    return figure_spec(traces, "Loss", f"loss-{history.run_id}", height=320, hovermode="x unified",
                       dragmode=False, xaxis=xaxis, yaxis=yaxis, shapes=shapes, annotations=annotations)


def _change_markers(changes: Sequence[Change], x_of: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Plotly shapes (dashed vertical lines) and annotations (new values) for changes made mid-run."""
    by_step: dict[int, list[str]] = {}
    for change in changes:
        by_step.setdefault(change.step, []).append(f"{FIELD_WORDS[change.field]} {change.value:g}")
    shapes, annotations = [], []
    for step, words in by_step.items():
        (x,) = x_of([step])
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                       "line": {"color": CHANGE_COLOUR, "width": 2, "dash": "dash"}})
        annotations.append({"x": x, "xref": "x", "y": 1, "yref": "paper", "yanchor": "top", "xanchor": "left",
                            "text": "→ " + ", ".join(words), "showarrow": False,
                            "font": {"color": CHANGE_COLOUR}, "bgcolor": "rgba(255,255,255,0.8)"})
    return shapes, annotations


def _padded_range(low: float, high: float, log_scale: bool) -> list[float]:
    """A y range around [low, high] with 5% to spare (in log10 units on a log axis, as Plotly wants)."""
    if log_scale:
        low, high = math.log10(low), math.log10(high)
    spare = 0.05 * (high - low) or 0.05 * (abs(high) or 1.0)
    return [low - spare, high + spare]


def latent_figure(points: np.ndarray, labels: np.ndarray, indices: np.ndarray, class_names: Sequence[str],
                  *, run_id: str, method_title: str) -> Figure:
    """A scatter of 2-D latent points, one trace (and colour) per class.

    Hovering a point shows its class and the index of its image in the
    validation split.
    """
    labels = np.asarray(labels).astype(int)
    indices = np.asarray(indices)
    points = np.asarray(points, dtype=np.float32)
    traces = []
    for label in np.unique(labels):
        mask = labels == label
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        traces.append({
            "type": "scatter", "x": points[mask, 0], "y": points[mask, 1], "mode": "markers", "name": name,
            "marker": {"size": 6, "opacity": 0.8, "color": CLASS_COLOURS[label % len(CLASS_COLOURS)]},
            "customdata": indices[mask], "hovertemplate": f"<b>{name}</b><br>image #%{{customdata}}<extra></extra>",
        })
    axis = {"showticklabels": False, "zeroline": False, "title": {"text": ""}}
    return figure_spec(traces, f"Latent space · {method_title}", f"latent-{run_id}-{method_title}", height=520,
                   xaxis=axis, yaxis=dict(axis))


def reconstruction_grid(snapshot: dict[str, Any], *, columns: int = 8, scale: int = 3, gap: int = 2) -> np.ndarray:
    """Tile a reconstruction snapshot into one image.

    Rows come in groups: originals, then the noisy inputs when the run is
    denoising, then the reconstructions, so each reconstruction sits right
    under its original. Pixels are enlarged ``scale`` times by repetition, so
    small digits stay sharp on a projector.

    Args:
        snapshot: with ``originals``, ``reconstructions`` and optional
            ``inputs``: uint8 arrays shaped (n, H, W, C).
        columns: images per row.
        scale: pixel repetition factor.
        gap: pixels of background between images (before scaling).

    Returns:
        uint8 array (rows, cols) for grayscale or (rows, cols, 3) for colour.

    Raises:
        ValueError: if the arrays are missing or their shapes differ.
    """
    originals = np.asarray(snapshot.get("originals"))
    reconstructions = np.asarray(snapshot.get("reconstructions"))
    inputs = snapshot.get("inputs")
    if originals.ndim != 4 or originals.shape != reconstructions.shape:
        raise ValueError("snapshot must hold originals and reconstructions of the same (n, H, W, C) shape; got "
                         f"{originals.shape} and {reconstructions.shape}")
    kinds = [originals] + ([np.asarray(inputs)] if inputs is not None else []) + [reconstructions]
    count, height, width, channels = originals.shape
    columns = max(1, min(columns, count))
    groups = -(-count // columns)
    # (groups, kinds, columns, H, W, C): each group is a block of rows, one row per kind;
    # the slots after the last image stay background.
    blocks = np.full((groups * columns, len(kinds), height, width, channels), GRID_BACKGROUND, np.uint8)
    for row, images in enumerate(kinds):
        blocks[:count, row] = np.clip(images, 0, 255)
    blocks = blocks.reshape(groups, columns, len(kinds), height, width, channels).swapaxes(1, 2)
    pictures = [tile(block, gap=gap, background=GRID_BACKGROUND) for block in blocks]
    # Groups stand three gaps apart, so each reads as originals over their reconstructions.
    between = np.full((3 * gap, *pictures[0].shape[1:]), GRID_BACKGROUND, np.uint8)
    canvas = np.concatenate([part for picture in pictures for part in (between, picture)][1:])
    canvas = np.pad(canvas, [(gap, gap), (gap, gap)] + [(0, 0)] * (canvas.ndim - 2), constant_values=GRID_BACKGROUND)
    return canvas.repeat(scale, axis=0).repeat(scale, axis=1)


def snapshot_mse(snapshot: dict[str, Any]) -> float:
    """The mean squared error (pixels in [0, 1]) of the snapshot's reconstructions against its originals."""
    originals = np.asarray(snapshot["originals"], np.float32) / 255.0
    return float(np.mean((originals - np.asarray(snapshot["reconstructions"], np.float32) / 255.0) ** 2))


def grid_caption(snapshot: dict[str, Any]) -> str:
    """Say what the rows of ``reconstruction_grid`` are, when they were taken, and how close they are."""
    middle = " · noisy input (what the model sees)" if snapshot.get("inputs") is not None else ""
    return (f"Rows: original{middle} · reconstruction — epoch {snapshot.get('epoch', 0)}, "
            f"step {snapshot.get('step', 0)} · MSE {snapshot_mse(snapshot):.4f}")
