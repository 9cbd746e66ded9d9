"""Plotly pictures for the Explore and Compare pages: plain functions from arrays to figure specs.

Like ``figures``, every function returns a plain-dict spec in the app's style
(``figures.figure_spec``), drawn by ``views.plot``. The decoded-plane map reuses the Train
page's latent scatter (``figures.latent_figure``) and lays the grid of decoded images under
it, so the same colours and hover text mean the same thing on every page. An invisible grid
of points over the whole plane makes every spot clickable: Plotly reports clicks on points
only, and a click on empty plane should still decode what lies there.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from plotly.colors import make_colorscale, sequential
from PIL import Image

from ae_core.data import tile
from ae_lab_ui.figures import CLASS_COLOURS, Figure, figure_spec, latent_figure

CLICK_GRID = 40
PICK_TRACE = "decode here"
# White for no error, deepening to dark red for the worst: a sequential scale whose zero is the
# page's own colour, so only the errors catch the eye. Spelled out, because Plotly.js knows
# few scales by name (plotly.py's validation, which the specs skip, turns names into colours).
ERROR_COLOURS = make_colorscale(["#ffffff", *sequential.Reds[1:]])
# The blank gaps between maps (NaN), so a white, error-free border still shows where a map ends.
GAP_COLOUR = "#d0d0d0"


def png_data_uri(picture: np.ndarray) -> str:
    """A uint8 image (H, W) or (H, W, 3) as a ``data:image/png;base64,...`` URI for ``layout.images``."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plane_figure(points: np.ndarray, labels: np.ndarray, indices: np.ndarray, class_names: Sequence[str], *,
                 run_id: str, method_title: str, bounds: tuple[float, float, float, float],
                 background: np.ndarray | None, marker: tuple[float, float] | None = None,
                 marker_name: str = "your image") -> Figure:
    """The latent scatter over a picture of the decoded plane, clickable everywhere.

    Args:
        background: the tiled decoded grid (uint8, from ``ae_core.data.tile``), row 0 at the
            lowest y; drawn stretched over ``bounds``. None draws no background.
        marker: one extra point (for example an uploaded image's code), drawn as a star.
    """
    figure = latent_figure(points, labels, indices, class_names, run_id=run_id, method_title=method_title)
    traces, layout = figure["data"], figure["layout"]
    x_min, x_max, y_min, y_max = bounds
    if background is not None:
        # Row 0 of the grid is the lowest y, but an image is drawn from its top: flip it.
        layout["images"] = [{"source": png_data_uri(background[::-1]), "xref": "x", "yref": "y", "x": x_min,
                             "y": y_max, "sizex": x_max - x_min, "sizey": y_max - y_min, "sizing": "stretch",
                             "layer": "below", "opacity": 0.85}]
        # Over the decoded images the points need an outline to stay visible.
        for trace in traces:
            trace["marker"] = {**trace["marker"], "size": 6, "opacity": 0.9, "line": {"width": 0.6, "color": "#fff"}}
    grid_x, grid_y = np.meshgrid(np.linspace(x_min, x_max, CLICK_GRID), np.linspace(y_min, y_max, CLICK_GRID))
    traces.append({"type": "scatter", "x": grid_x.ravel(), "y": grid_y.ravel(), "mode": "markers",
                   "name": PICK_TRACE, "marker": {"size": 9, "opacity": 0.0}, "hoverinfo": "none",
                   "showlegend": False})
    if marker is not None:
        star = {"symbol": "star", "size": 22, "color": "#111", "line": {"width": 2, "color": "#fff"}}
        traces.append({"type": "scatter", "x": [marker[0]], "y": [marker[1]], "mode": "markers", "name": marker_name,
                       "marker": star})
    # Each decoded cell should be drawn square: one y unit takes x_span / y_span times the
    # pixels of one x unit, so the y range fills as much height as the x range fills width.
    layout["xaxis"] = {**layout["xaxis"], "range": [x_min, x_max], "showgrid": False, "constrain": "domain"}
    layout["yaxis"] = {**layout["yaxis"], "range": [y_min, y_max], "showgrid": False, "scaleanchor": "x",
                       "scaleratio": (x_max - x_min) / (y_max - y_min), "constrain": "domain"}
    layout.update(clickmode="event+select", height=640, dragmode="pan")
    return figure


def picked_point(event: object) -> tuple[float, float] | None:
    """The (x, y) of the first point in a ``st.plotly_chart`` selection event, or None."""
    selection = getattr(event, "selection", None) or (event.get("selection") if isinstance(event, dict) else None)
    points = (selection.get("points") if isinstance(selection, dict) else getattr(selection, "points", None)) or []
    for point in points:
        if point.get("x") is not None and point.get("y") is not None:
            return float(point["x"]), float(point["y"])
    return None


def error_maps_figure(error_maps: np.ndarray, errors: Sequence[float], *, columns: int = 6) -> Figure:
    """Per-pixel squared-error heatmaps: white where the reconstruction is right, deeper red where it is worse."""
    count, height, width = error_maps.shape
    rows = -(-count // columns)
    # The slots after the last map, and the gaps between maps, are NaN: Plotly leaves them blank.
    maps = np.full((rows * columns, height, width, 1), np.nan, dtype=np.float32)
    maps[:count, ..., 0] = error_maps
    canvas = tile(maps.reshape(rows, columns, height, width, 1), gap=1, background=np.nan)
    titles = " · ".join(f"#{rank + 1}: {error:.4f}" for rank, error in enumerate(errors))
    trace = {"type": "heatmap", "z": canvas, "colorscale": ERROR_COLOURS, "zmin": 0.0,
             "colorbar": {"title": {"text": "squared error"}}, "hovertemplate": "error %{z:.3f}<extra></extra>"}
    figure = figure_spec([trace], f"Per-pixel error (MSE {titles})", None, height=120 + 90 * rows,
                         margin={"l": 10, "r": 10, "t": 60, "b": 10}, xaxis={"visible": False},
                         yaxis={"autorange": "reversed", "scaleanchor": "x", "visible": False},
                         plot_bgcolor=GAP_COLOUR)
    figure["layout"]["title"]["font"] = {"size": 12}  # a small title: it lists every map's error
    return figure


def error_histogram(by_class: dict[int, np.ndarray], class_names: Sequence[str], *,
                    held_out: int | None = None) -> Figure:
    """Reconstruction-error histograms, one per class, overlaid; a held-out class drawn bold."""
    traces = []
    for label, errors in by_class.items():
        if len(errors) == 0:
            continue
        name = class_names[label] + (" (never trained on)" if label == held_out else "")
        highlight = held_out is None or label == held_out
        traces.append({"type": "histogram", "x": errors, "name": name, "histnorm": "probability density",
                       "nbinsx": 40, "marker": {"color": CLASS_COLOURS[label % len(CLASS_COLOURS)]},
                       "opacity": 0.75 if highlight else 0.3})
    # Ten classes: the legend stands in a column to the right, as Plotly puts it by default.
    return figure_spec(traces, "Reconstruction error by class (test split)", None, height=380, barmode="overlay",
                       legend={"orientation": "v"}, xaxis={"title": {"text": "MSE per image"}},
                       yaxis={"title": {"text": "density"}})


def sweep_figure(latent_sizes: Sequence[int], test_mse: Sequence[float]) -> Figure:
    """Test MSE against latent size (log-2 x axis), for the latent-size sweep."""
    trace = {"type": "scatter", "x": list(latent_sizes), "y": list(test_mse), "mode": "lines+markers",
             "marker": {"size": 10}, "hovertemplate": "latent %{x}: MSE %{y:.5f}<extra></extra>"}
    return figure_spec([trace], "Test MSE against latent size", None, height=380,
                       xaxis={"title": {"text": "latent size"}, "type": "log", "tickvals": list(latent_sizes)},
                       yaxis={"title": {"text": "test MSE"}})
