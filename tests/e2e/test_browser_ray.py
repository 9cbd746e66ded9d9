"""The app with the Ray executor, in a real browser: a student's first run trains on Ray and shows live.

The server is started as the README says for a cluster of one machine (``AE_LAB_EXECUTOR=ray``
and an empty ``AE_LAB_RAY_ADDRESS``: the app starts a Ray instance itself). The pages are the
same as with the local pool; this checks that a student meets no difference.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.server import streamlit_app, tail
from tests.e2e.test_browser import FIRST_RUN_TIMEOUT_MS, LIVE_TIMEOUT_MS, no_exception, screenshot, status_tile
from tests.e2e.test_first_minute import RECONSTRUCTIONS_AT_MOST_JS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_first_run_trains_on_ray_and_shows_live(browser, tmp_path: Path, screenshots: Path) -> None:
    log_path = tmp_path / "streamlit.log"
    page = browser.new_page()
    page.set_default_timeout(60_000)
    try:
        with streamlit_app(tmp_path / "home", log_path, env={"AE_LAB_EXECUTOR": "ray", "AE_LAB_RAY_ADDRESS": ""}) as url:
            page.goto(url)
            page.get_by_role("heading", name="Train an autoencoder").wait_for()
            page.locator(".st-key-train_start button").click()
            page.wait_for_function(RECONSTRUCTIONS_AT_MOST_JS, arg=0.03, timeout=FIRST_RUN_TIMEOUT_MS, polling=100)
            status_tile(page, "Finished").wait_for(timeout=LIVE_TIMEOUT_MS)
            assert page.get_by_test_id("stAlertContentError").count() == 0  # no "cluster could not be reached"
            screenshot(page, screenshots / "train-ray.png")
            no_exception(page)
    finally:
        page.close()
        print(f"\n--- streamlit log ({log_path}) ---\n{tail(log_path, 40)}")
