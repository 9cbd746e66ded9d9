"""The Explore/Compare figures, the click reader and the drawing conversion, without a browser."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from ae_lab_ui import drawing, explore_figures


def test_plane_figure_puts_the_decoded_grid_under_clickable_points() -> None:
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]], np.float32)
    background = np.zeros((30, 30), np.uint8)
    background[:10] = 255  # row 0 is the lowest y, so it must end up at the bottom of the picture
    figure = explore_figures.plane_figure(points, np.array([0, 1, 1]), np.arange(3), [str(d) for d in range(10)],
                                          run_id="r", method_title="raw", bounds=(0.0, 2.0, 0.0, 1.0),
                                          background=background, marker=(1.5, 0.5))
    image = figure["layout"]["images"][0]
    assert (image["x"], image["y"], image["sizex"], image["sizey"], image["layer"]) == (0.0, 1.0, 2.0, 1.0, "below")
    names = [trace["name"] for trace in figure["data"]]
    assert names == ["0", "1", explore_figures.PICK_TRACE, "your image"]
    assert len(figure["data"][2]["x"]) == explore_figures.CLICK_GRID ** 2
    assert min(figure["data"][2]["x"]) == 0.0 and max(figure["data"][2]["y"]) == 1.0
    # The background is a PNG of the grid, flipped: the grid's (white) row 0 is the picture's bottom.
    assert image["source"].startswith("data:image/png;base64,")
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(image["source"].split(",", 1)[1]))))
    assert picture.shape == (30, 30) and picture[0, 0] == 0 and picture[-1, 0] == 255
    go.Figure(figure)  # a valid Plotly figure (the page draws it without validation)


def test_picked_point_reads_a_selection_event() -> None:
    event = {"selection": {"points": [{"x": 1.5, "y": -2.0, "curve_number": 3}]}}
    assert explore_figures.picked_point(event) == (1.5, -2.0)
    assert explore_figures.picked_point({"selection": {"points": []}}) is None
    assert explore_figures.picked_point(None) is None


def test_error_figures_show_every_map_and_class() -> None:
    maps = np.random.default_rng(0).uniform(size=(7, 4, 5)).astype(np.float32)
    figure = explore_figures.error_maps_figure(maps, [0.5] * 7, columns=3)
    heat = np.asarray(figure["data"][0]["z"])
    # 3 x 3 slots of 4 x 5 pixels, one blank (NaN) pixel apart; the two slots after the 7th map are blank too.
    assert heat.shape == (3 * 5 - 1, 3 * 6 - 1)
    assert np.count_nonzero(~np.isnan(heat)) == maps.size
    np.testing.assert_array_equal(heat[5:9, 6:11], maps[4])
    # Sequential and spelled out (Plotly.js knows few scales by name): no error is white, the worst deep red.
    scale = figure["data"][0]["colorscale"]
    assert scale[0] == [0.0, "#ffffff"] and scale[-1][0] == 1.0 and figure["data"][0]["zmin"] == 0.0
    assert figure["layout"]["plot_bgcolor"] != "#ffffff"  # the gaps between maps stay visible
    histogram = explore_figures.error_histogram({0: np.array([0.1, 0.2]), 1: np.array([]), 2: np.array([0.3])},
                                                ["a", "b", "c"], held_out=2)
    assert [trace["name"] for trace in histogram["data"]] == ["a", "c (never trained on)"]
    assert histogram["data"][1]["opacity"] > histogram["data"][0]["opacity"]
    go.Figure(figure), go.Figure(histogram)


def test_canvas_strokes_become_light_ink_on_black() -> None:
    rgba = np.zeros((20, 20, 4), np.uint8)
    assert drawing.strokes_to_gray(rgba) is None  # nothing drawn
    rgba[5:15, 9:11] = (255, 255, 255, 255)
    gray = drawing.strokes_to_gray(rgba)
    assert gray.dtype == np.uint8 and gray[10, 10] == 255 and gray[0, 0] == 0
    assert drawing.strokes_to_gray(None) is None


@pytest.mark.parametrize("sizes", [(2, 4, 8), (2, 4, 8, 16, 32, 64)])
def test_sweep_figure_plots_mse_against_latent_size(sizes) -> None:
    figure = explore_figures.sweep_figure(sizes, [0.1 / size for size in sizes])
    assert list(figure["data"][0]["x"]) == list(sizes) and figure["layout"]["xaxis"]["type"] == "log"
    go.Figure(figure)


def test_the_error_scale_grows_more_intense_with_the_error() -> None:
    from plotly.colors import unlabel_rgb, hex_to_rgb

    def rgb(colour: str) -> tuple[float, ...]:
        return tuple(hex_to_rgb(colour)) if colour.startswith("#") else tuple(unlabel_rgb(colour))

    # Each step of the scale is darker than the one before: more error, more ink.
    brightness = [sum(rgb(colour)) for _, colour in explore_figures.ERROR_COLOURS]
    assert brightness == sorted(brightness, reverse=True) and len(set(brightness)) == len(brightness)
    positions = [position for position, _ in explore_figures.ERROR_COLOURS]
    assert positions[0] == 0.0 and positions[-1] == 1.0
