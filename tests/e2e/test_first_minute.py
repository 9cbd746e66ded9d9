"""Real-browser tests of the first minute: what a new student sees after pressing Train.

The default run must show recognisable digits within seconds, the Runs page must follow
runs started elsewhere without a reload, the run must stay attached across pages, a run's
settings must fill the sidebar on request, and a zoom must survive the live updates.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.server import expect
from tests.e2e.test_browser import (FIRST_RUN_TIMEOUT_MS, LIVE_TIMEOUT_MS, no_exception, points, screenshot,
                                    start_run, status_tile, wait_for_points)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECTOR = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}
# True once the reconstruction grid's caption reports an MSE of at most the argument.
RECONSTRUCTIONS_AT_MOST_JS = """(limit) => {
    const grid = document.querySelector('.st-key-train_reconstruction_grid');
    const found = grid && grid.innerText.match(/MSE ([0-9.]+)/);
    return !!found && parseFloat(found[1]) <= limit;
}"""


def run_id_in(page) -> str:
    return re.search(r"run_id=([0-9a-f]{32})", page.url).group(1)


def test_the_default_run_shows_recognisable_digits_at_a_projectors_size(page, app_url: str,
                                                                         screenshots: Path) -> None:
    page.set_viewport_size(PROJECTOR)
    page.goto(app_url)
    page.get_by_role("heading", name="Train an autoencoder").wait_for()
    page.locator(".st-key-train_start button").click()  # the defaults, as a new student presses it
    page.wait_for_function(RECONSTRUCTIONS_AT_MOST_JS, arg=0.03, timeout=FIRST_RUN_TIMEOUT_MS, polling=100)
    status_tile(page, "Finished").wait_for(timeout=LIVE_TIMEOUT_MS)
    screenshot(page, screenshots / "train-projector.png")
    # At 1280x720 every tile's text fits, and the loss chart and the reconstructions are above the fold.
    overflowing = page.evaluate("""() => [...document.querySelectorAll("[data-testid='stMetricValue'] div")]
        .filter(element => element.scrollWidth > element.clientWidth + 1).map(element => element.innerText)""")
    assert overflowing == []
    for key in ("train_loss_curve", "train_reconstruction_grid"):
        box = page.locator(f".st-key-{key}").bounding_box()
        assert box is not None and box["y"] + box["height"] <= PROJECTOR["height"], (key, box)
    no_exception(page)


def test_on_a_phone_the_run_is_in_view_after_train(browser, app_url: str, screenshots: Path) -> None:
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    phone.set_default_timeout(60_000)
    sidebar = phone.get_by_test_id("stSidebar")
    try:
        phone.goto(app_url)
        phone.get_by_role("heading", name="Train an autoencoder").wait_for()
        expect(sidebar).to_have_attribute("data-collapsed", "true")  # a phone starts on the page, not the settings
        expect(phone.locator(".st-key-train_start_main button")).to_be_in_viewport()
        # The student opens the settings and presses the sidebar's Train, which covers the page.
        phone.get_by_test_id("stExpandSidebarButton").click()
        expect(sidebar).to_have_attribute("data-collapsed", "false")
        phone.locator(".st-key-train_start button").click()
        wait_for_points(phone, "train_loss_curve", 0, FIRST_RUN_TIMEOUT_MS)
        expect(sidebar).to_have_attribute("data-collapsed", "true")
        expect(status_tile(phone, "Training").or_(status_tile(phone, "Finished"))).to_be_in_viewport()
        expect(phone.locator(".st-key-train_loss_curve")).to_be_in_viewport()
        screenshot(phone, screenshots / "train-phone.png")
        no_exception(phone)
    finally:
        phone.context.close()


def test_train_runs_train_keeps_the_run(page, app_url: str) -> None:
    run_id = start_run(page, app_url, epochs=300)
    wait_for_points(page, "train_loss_curve", 0, FIRST_RUN_TIMEOUT_MS)
    page.get_by_test_id("stTopNav").get_by_role("link", name="Runs").click()
    page.get_by_role("heading", name="Runs", exact=True).wait_for()
    page.get_by_test_id("stTopNav").get_by_role("link", name="Train").click()
    # Back on the Train page: the same run, still live, and Stop still stops it.
    expect(page).to_have_url(re.compile(f"run_id={run_id}"))
    expect(page.locator("[data-testid='stCaptionContainer']", has_text=run_id).first).to_be_visible()
    drawn = wait_for_points(page, "train_loss_curve", 0, LIVE_TIMEOUT_MS)
    wait_for_points(page, "train_loss_curve", drawn, LIVE_TIMEOUT_MS)
    page.locator(".st-key-train_stop button").click()
    expect(page.locator(".st-key-train_stop button")).to_be_disabled(timeout=2_000)  # "Stopping…" at once
    status_tile(page, "Stopped").wait_for(timeout=LIVE_TIMEOUT_MS)
    no_exception(page)


def test_use_these_settings_fills_the_sidebar(browser, page, app_url: str) -> None:
    run_id = start_run(page, app_url, epochs=3)
    status_tile(page, "Finished").wait_for(timeout=FIRST_RUN_TIMEOUT_MS)
    # Another student (a fresh session, sidebar at the defaults) picks that run on the Runs page.
    other = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    try:
        other.goto(f"{app_url}/runs?run_id={run_id}")
        other.get_by_role("heading", name="Runs", exact=True).wait_for()
        other.locator(".st-key-runs_use_settings a").first.click()
        expect(other).to_have_url(re.compile(f"run_id={run_id}"))
        expect(other.locator(".st-key-train_num_epochs input")).to_have_value("3")
        no_exception(other)
    finally:
        other.context.close()


def test_the_runs_page_follows_runs_started_elsewhere_without_a_reload(browser, page, app_url: str) -> None:
    page.goto(f"{app_url}/runs")
    page.get_by_role("heading", name="Runs", exact=True).wait_for()
    tile = page.locator("[data-testid='stMetric']", has_text="Runs").locator("[data-testid='stMetricValue']")
    empty = page.get_by_text("No runs yet")
    expect(tile.or_(empty)).to_be_visible()
    before = int(tile.inner_text()) if tile.count() else 0
    elsewhere = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    try:
        run_id = start_run(elsewhere, app_url, epochs=2)
        # The Runs page, never reloaded, lists it, opens it while it trains, and sees it finish.
        expect(tile).to_have_text(str(before + 1), timeout=LIVE_TIMEOUT_MS)
        page.locator(".st-key-runs_selected").click()
        page.get_by_role("option", name=re.compile(run_id[:6])).click()
        expect(page.locator(".st-key-runs_selected input")).to_have_value(re.compile("Finished"),
                                                                           timeout=FIRST_RUN_TIMEOUT_MS)
        wait_for_points(page, "runs_loss_curve", 0, LIVE_TIMEOUT_MS)
        no_exception(page)
    finally:
        elsewhere.context.close()


def test_a_zoom_survives_the_live_updates(page, app_url: str) -> None:
    start_run(page, app_url, epochs=300)
    drawn = wait_for_points(page, "train_loss_curve", 5, FIRST_RUN_TIMEOUT_MS)
    # Zoom to the first 3 of 300 epochs with the zoom slider's upper end, from the keyboard, while the
    # run is young: the redraw of the whole page when its polling slows down keeps the popover open,
    # now that nothing above the live view comes and goes between page runs.
    page.locator(".st-key-train_loss_controls").get_by_role("button", name="Zoom").click()
    upper = page.locator("[data-testid='stPopoverBody'] input[type='range']").last
    upper.focus()
    for _ in range(9):  # 300 to 30 epochs, a tenth of the range a press
        upper.press("PageDown")
    for _ in range(9):  # 30 to 3, one step (3 epochs) a press
        upper.press("ArrowLeft")
    # The x range drawn, or null while a live update swaps the chart (Streamlit remounts it).
    zoomed = """() => { const plot = document.querySelector('.st-key-train_loss_curve .js-plotly-plot');
        return !!(plot && plot.layout) && JSON.stringify(plot.layout.xaxis.range) === '[0,3]'; }"""
    page.wait_for_function(zoomed, timeout=LIVE_TIMEOUT_MS)
    # Several live updates later (more points drawn), the zoom is still the person's: a reset
    # one would never come back by itself.
    wait_for_points(page, "train_loss_curve", points(page, "train_loss_curve") + 3, LIVE_TIMEOUT_MS)
    assert drawn < points(page, "train_loss_curve")
    page.wait_for_function(zoomed, timeout=5_000)
    page.locator(".st-key-train_stop button").click()
    status_tile(page, "Stopped").wait_for(timeout=LIVE_TIMEOUT_MS)
