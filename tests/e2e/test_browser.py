"""Real-browser tests: Chromium drives `streamlit run app.py` with the real job service.

A run really trains (on mnist_sample, in a worker process), so the timeouts
are generous: the first run also pays for the workers' TensorFlow import.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.server import COUNT_POINTS_JS, expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIRST_RUN_TIMEOUT_MS = 240_000
LIVE_TIMEOUT_MS = 90_000


def points(page, container_key: str) -> int:
    """Points drawn by the Plotly chart inside the keyed container."""
    return page.evaluate(COUNT_POINTS_JS, f".st-key-{container_key}")


def wait_for_points(page, container_key: str, more_than: int, timeout_ms: int) -> int:
    page.wait_for_function(f"([selector, floor]) => ({COUNT_POINTS_JS})(selector) > floor",
                           arg=[f".st-key-{container_key}", more_than], timeout=timeout_ms, polling=250)
    return points(page, container_key)


# True once the page's height, every chart's size and every image's loading have stayed the same
# for SETTLED_MS (the state between calls is kept on the window).
SETTLED_MS = 300
LAYOUT_SETTLED_JS = """(settledMs) => {
    const main = document.querySelector('[data-testid=stMainBlockContainer]');
    const shape = JSON.stringify([main && main.scrollHeight,
        [...document.querySelectorAll('.js-plotly-plot')].map(plot => [plot.clientWidth, plot.clientHeight]),
        [...document.images].map(image => image.complete)]);
    const seen = window.__aeLabLayout;
    if (!seen || seen.shape !== shape) {
        window.__aeLabLayout = {shape, since: performance.now()};
        return false;
    }
    return performance.now() - seen.since >= settledMs;
}"""


def wait_for_layout(page) -> None:
    """Until the page's layout has settled (``LAYOUT_SETTLED_JS``), instead of a fixed wait."""
    page.evaluate("() => { window.__aeLabLayout = null; }")
    page.wait_for_function(LAYOUT_SETTLED_JS, arg=SETTLED_MS, polling=50)


def screenshot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main area, so grow the window instead of the page."""
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(3000, height + 120))})
    wait_for_layout(page)  # the charts re-laid out to the new size, the images in
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def open_expander(scope, label: str):
    """Open the expander labelled ``label`` inside ``scope`` (a page or a locator) and return it, once it is open and
    its opening animation has ended.

    Streamlit animates an expander's height as it opens: until then what is inside it moves, the
    sidebar can scroll, and an open selectbox menu closes when its scroll container scrolls.
    """
    page = scope.page if hasattr(scope, "page") else scope
    expander = scope.get_by_test_id("stExpander").filter(has=page.locator("summary").get_by_text(label, exact=True))
    details = expander.locator("details")
    if details.get_attribute("open") is None:
        expander.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    page.wait_for_function("(details) => details.open && !details.getAnimations().length && !details.style.height",
                           arg=details.element_handle())
    return expander


def choose(scope, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``, as a person clicks it.

    Focused first: a selectbox partly out of view opens its menu on the press and then scrolls into
    view as it takes the focus, and that scroll closes the menu again (react-aria's close-on-scroll).
    """
    box = scope.get_by_role("combobox", name=label)
    box.focus()
    box.click()
    (scope.page if hasattr(scope, "page") else scope).get_by_role("option", name=option, exact=True).click()
    expect(box).to_have_value(option)


def no_exception(page) -> None:
    """No exception box on the page: a person never sees a traceback."""
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def status_tile(page, word: str):
    return page.locator("[data-testid='stMetricValue']", has_text=word).first


def start_run(page, app_url: str, epochs: int = 300) -> str:
    """Open the Train page, start a run with ``epochs`` epochs, and return its id from the URL."""
    page.goto(app_url)
    page.get_by_role("heading", name="Train an autoencoder").wait_for()
    # Enough epochs that the run is still training when the test stops it.
    field = page.locator(".st-key-train_num_epochs input")
    field.fill(str(epochs))
    field.press("Enter")
    expect(field).to_have_value(str(epochs))
    page.locator(".st-key-train_start button").click()
    expect(page).to_have_url(re.compile(r"[?&]run_id=[0-9a-f]{32}(&|$)"), timeout=60_000)
    return page.url.split("run_id=")[1].split("&")[0]


def test_the_app_opens_on_the_train_page(page, app_url: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(app_url)
    page.get_by_role("heading", name="Train an autoencoder").wait_for()
    page.wait_for_load_state("networkidle")
    # Offline works: the page asks its own server for everything, the icon included.
    assert [url for url in requested if not url.startswith(app_url)] == []
    expect(page.locator("link[rel*='icon']").first).to_have_attribute("href", re.compile(r"^(/|data:|http://127)"))
    expect(page.locator(".st-key-train_dataset input")).to_have_value(re.compile("MNIST sample"))
    expect(page.locator(".st-key-train_start button")).to_be_enabled()
    expect(page.get_by_role("link", name="Runs")).to_have_count(1)
    no_exception(page)


def test_train_watch_stop_reload_and_open_on_the_runs_page(page, app_url: str, screenshots: Path) -> None:
    run_id = start_run(page, app_url)

    # The loss curve gains points while the run trains.
    first = wait_for_points(page, "train_loss_curve", 0, FIRST_RUN_TIMEOUT_MS)
    wait_for_points(page, "train_loss_curve", first, LIVE_TIMEOUT_MS)
    page.locator(".st-key-train_reconstruction_grid img").wait_for(state="visible", timeout=LIVE_TIMEOUT_MS)
    wait_for_points(page, "train_latent_map", 0, LIVE_TIMEOUT_MS)
    status_tile(page, "Training").wait_for()
    screenshot(page, screenshots / "train.png")

    # Stop: the run ends as Stopped and the Stop button turns off.
    page.locator(".st-key-train_stop button").click()
    status_tile(page, "Stopped").wait_for(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator(".st-key-train_stop button")).to_be_disabled()
    drawn = points(page, "train_loss_curve")

    # A reload is a new session: the URL alone brings the run back.
    page.reload()
    expect(page.locator("[data-testid='stCaptionContainer']", has_text=run_id).first).to_be_visible()
    status_tile(page, "Stopped").wait_for(timeout=LIVE_TIMEOUT_MS)
    expect(page).to_have_url(re.compile(f"run_id={run_id}"))
    wait_for_points(page, "train_loss_curve", drawn - 1, LIVE_TIMEOUT_MS)  # at least as many points as before
    page.locator(".st-key-train_reconstruction_grid img").wait_for(state="visible")

    # The Runs page lists it and opens it with its curves and pictures.
    page.get_by_role("link", name="Runs").click()
    page.get_by_role("heading", name="Runs", exact=True).wait_for()
    page.locator("[data-testid='stDataFrame']").wait_for()
    expect(page.locator(".st-key-runs_selected input")).to_have_value(re.compile("Stopped"))
    expect(page.locator("[data-testid='stMarkdown']", has_text=run_id).first).to_be_visible()
    wait_for_points(page, "runs_loss_curve", 0, LIVE_TIMEOUT_MS)
    wait_for_points(page, "runs_latent_map", 0, LIVE_TIMEOUT_MS)
    page.locator(".st-key-runs_reconstruction_grid img").wait_for(state="visible")
    expect(page.locator(".st-key-runs_download_config button")).to_be_enabled()
    screenshot(page, screenshots / "runs.png")
    no_exception(page)


def test_two_sessions_each_see_their_own_run(browser, app_url: str) -> None:
    contexts = [browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        for tab in pages:
            tab.set_default_timeout(60_000)
        run_ids = [start_run(tab, app_url) for tab in pages]
        assert run_ids[0] != run_ids[1]
        for tab, run_id in zip(pages, run_ids):
            wait_for_points(tab, "train_loss_curve", 0, FIRST_RUN_TIMEOUT_MS)
            expect(tab.locator("[data-testid='stCaptionContainer']", has_text="Run ").first).to_contain_text(run_id)
        for tab in pages:
            tab.locator(".st-key-train_stop button").click()
        for tab in pages:
            status_tile(tab, "Stopped").wait_for(timeout=LIVE_TIMEOUT_MS)
    finally:
        for context in contexts:
            context.close()
