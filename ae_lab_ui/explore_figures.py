"""Plotly pictures for the Explore and Compare pages: plain functions from arrays to figures.

The decoded-plane map reuses the Train page's latent scatter (``figures.latent_figure``)
and lays the grid of decoded images under it, so the same colours and hover text mean the
same thing on every page. An invisible grid of points over the whole plane makes every
spot clickable: Plotly reports clicks on points only, and a click on empty plane should
still decode what lies there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from ae_lab_ui.figures import CLASS_COLOURS, latent_figure

CLICK_GRID = 40
PICK_TRACE = "decode here"


def plane_figure(points: np.ndarray, labels: np.ndarray, indices: np.ndarray, class_names: Sequence[str], *,
                 run_id: str, method_title: str, bounds: tuple[float, float, float, float],
                 background: np.ndarray | None, marker: tuple[float, float] | None = None,
                 marker_name: str = "your image") -> go.Figure:
    """The latent scatter over a picture of the decoded plane, clickable everywhere.

    Args:
        background: the tiled decoded grid (uint8, from ``analysis.tile``), row 0 at the
            lowest y; drawn stretched over ``bounds``. None draws no background.
        marker: one extra point (for example an uploaded image's code), drawn as a star.
    """
    # The Train page's helper may return a plain spec dict or a Figure; go.Figure accepts both.
    figure = go.Figure(latent_figure(points, labels, indices, class_names, run_id=run_id, method_title=method_title))
    x_min, x_max, y_min, y_max = bounds
    if background is not None:
        # Row 0 of the grid is the lowest y, but an image is drawn from its top: flip it.
        picture = Image.fromarray(np.ascontiguousarray(background[::-1]))
        figure.add_layout_image(source=picture, xref="x", yref="y", x=x_min, y=y_max, sizex=x_max - x_min,
                                sizey=y_max - y_min, sizing="stretch", layer="below", opacity=0.85)
        # Over the decoded images the points need an outline to stay visible.
        figure.update_traces(marker={"size": 6, "opacity": 0.9, "line": {"width": 0.6, "color": "#fff"}})
    grid_x, grid_y = np.meshgrid(np.linspace(x_min, x_max, CLICK_GRID), np.linspace(y_min, y_max, CLICK_GRID))
    figure.add_trace(go.Scatter(x=grid_x.ravel(), y=grid_y.ravel(), mode="markers", name=PICK_TRACE,
                                marker={"size": 9, "opacity": 0.0}, hoverinfo="none", showlegend=False))
    if marker is not None:
        figure.add_trace(go.Scatter(x=[marker[0]], y=[marker[1]], mode="markers", name=marker_name,
                                    marker={"symbol": "star", "size": 22, "color": "#111",
                                            "line": {"width": 2, "color": "#fff"}}))
    # Each decoded cell should be drawn square: one y unit takes x_span / y_span times the
    # pixels of one x unit, so the y range fills as much height as the x range fills width.
    figure.update_layout(xaxis={"range": [x_min, x_max], "showgrid": False, "constrain": "domain"},
                         yaxis={"range": [y_min, y_max], "showgrid": False, "scaleanchor": "x",
                                "scaleratio": (x_max - x_min) / (y_max - y_min), "constrain": "domain"},
                         clickmode="event+select", height=640,
                         dragmode="pan")
    return figure


def picked_point(event: object) -> tuple[float, float] | None:
    """The (x, y) of the first point in a ``st.plotly_chart`` selection event, or None."""
    selection = getattr(event, "selection", None) or (event.get("selection") if isinstance(event, dict) else None)
    points = (selection.get("points") if isinstance(selection, dict) else getattr(selection, "points", None)) or []
    for point in points:
        if point.get("x") is not None and point.get("y") is not None:
            return float(point["x"]), float(point["y"])
    return None


def error_maps_figure(error_maps: np.ndarray, errors: Sequence[float], *, columns: int = 6) -> go.Figure:
    """Per-pixel squared-error heatmaps, brighter where the reconstruction is worse."""
    count, height, width = error_maps.shape
    rows = -(-count // columns)
    canvas = np.full((rows * (height + 1), columns * (width + 1)), np.nan, dtype=np.float32)
    for index in range(count):
        top, left = (index // columns) * (height + 1), (index % columns) * (width + 1)
        canvas[top:top + height, left:left + width] = error_maps[index]
    figure = go.Figure(go.Heatmap(z=canvas, colorscale="Inferno", zmin=0.0, colorbar={"title": "squared error"},
                                  hovertemplate="error %{z:.3f}<extra></extra>"))
    titles = " · ".join(f"#{rank + 1}: {error:.4f}" for rank, error in enumerate(errors))
    figure.update_layout(title={"text": f"Per-pixel error (MSE {titles})", "font": {"size": 12}},
                         yaxis={"autorange": "reversed", "scaleanchor": "x", "visible": False},
                         xaxis={"visible": False}, height=120 + 90 * rows, margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return figure


def error_histogram(by_class: dict[int, np.ndarray], class_names: Sequence[str], *,
                    held_out: int | None = None) -> go.Figure:
    """Reconstruction-error histograms, one per class, overlaid; a held-out class drawn bold."""
    figure = go.Figure()
    for label, errors in by_class.items():
        if len(errors) == 0:
            continue
        name = class_names[label] + (" (never trained on)" if label == held_out else "")
        highlight = held_out is None or label == held_out
        figure.add_trace(go.Histogram(x=errors, name=name, histnorm="probability density", nbinsx=40,
                                      marker={"color": CLASS_COLOURS[label % len(CLASS_COLOURS)]},
                                      opacity=0.75 if highlight else 0.3))
    figure.update_layout(barmode="overlay", title="Reconstruction error by class (test split)",
                         xaxis={"title": "MSE per image"}, yaxis={"title": "density"}, height=380,
                         margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return figure


def sweep_figure(latent_sizes: Sequence[int], test_mse: Sequence[float]) -> go.Figure:
    """Test MSE against latent size (log-2 x axis), for the latent-size sweep."""
    figure = go.Figure(go.Scatter(x=list(latent_sizes), y=list(test_mse), mode="lines+markers",
                                  marker={"size": 10}, hovertemplate="latent %{x}: MSE %{y:.5f}<extra></extra>"))
    figure.update_layout(title="Test MSE against latent size", height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         xaxis={"title": "latent size", "type": "log", "tickvals": list(latent_sizes)},
                         yaxis={"title": "test MSE"})
    return figure
