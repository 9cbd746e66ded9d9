"""Real-browser test of the time-lapse: after a short real run, moving its slider changes the map, and the GIF downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.server import expect
from tests.e2e.test_browser import FIRST_RUN_TIMEOUT_MS, no_exception, screenshot, start_run, status_tile

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The first points of the map's first trace as the browser draws them now (Plotly.animate
# replaces a trace's data in place), and the frame the slider shows.
MAP_JS = """() => {
    const plot = document.querySelector('.st-key-train_timelapse_chart .js-plotly-plot');
    const trace = plot && plot._fullData && plot._fullData[0];
    if (!trace) return null;
    const slider = plot._fullLayout.sliders[0];
    return {x: Array.from(trace.x).slice(0, 5), frame: slider.active, frames: slider.steps.length};
}"""


def test_moving_the_time_lapse_slider_changes_the_map(page, app_url: str, screenshots: Path) -> None:
    page.set_viewport_size({"width": 1280, "height": 720})
    start_run(page, app_url, epochs=1)
    status_tile(page, "Finished").wait_for(timeout=FIRST_RUN_TIMEOUT_MS)
    chart = page.locator(".st-key-train_timelapse_chart .js-plotly-plot")
    chart.wait_for(timeout=60_000)
    page.wait_for_function(f"({MAP_JS})() !== null", timeout=30_000)
    last = page.evaluate(MAP_JS)
    assert last["frames"] >= 2 and last["frame"] == last["frames"] - 1  # it opens on the end of the run
    # Drag the slider back to the start: the untrained model's map, and its grey reconstructions.
    chart.scroll_into_view_if_needed()
    rail = chart.locator(".slider-rail-rect").first.bounding_box()
    page.mouse.click(rail["x"] + 2, rail["y"] + rail["height"] / 2)
    page.wait_for_function(f"({MAP_JS})().frame === 0", timeout=10_000)
    first = page.evaluate(MAP_JS)
    assert first["x"] != last["x"]
    expect(chart.locator(".gtitle")).to_contain_text("epoch 0 · step")
    screenshot(page, screenshots / "timelapse.png")
    # The GIF for slides is made when asked for, and arrives as a file.
    with page.expect_download(timeout=60_000) as download:
        page.locator(".st-key-train_timelapse").get_by_role("button", name="Download as GIF").click()
    assert download.value.suggested_filename.endswith(".gif")
    assert Path(download.value.path()).read_bytes()[:6] == b"GIF89a"
    no_exception(page)
