"""Fixtures for the real-browser tests: one app server and one Chromium per session.

Without Chromium (or without the job service) the tests skip and say why;
with ``AE_LAB_REQUIRE_E2E=1`` (CI sets it) that is a failure instead, so a
CI machine cannot pass by silently skipping them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import CHROMIUM, REPO, launch_browser, streamlit_app, tail

REQUIRED = os.environ.get("AE_LAB_REQUIRE_E2E") == "1"
SCREENSHOT_DIR_ENV = "AE_LAB_SCREENSHOT_DIR"
DEFAULT_SCREENSHOT_DIR = "test-artifacts/screenshots"
EXPECT_TIMEOUT_MS = 60_000


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"AE_LAB_REQUIRE_E2E=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` to run the browser tests")
    if importlib.util.find_spec("playwright") is None:
        _unavailable("the Python package playwright is not installed (pip install -r requirements-dev.txt)")
    if importlib.util.find_spec("ae_core.service.jobs") is None:
        _unavailable("ae_core.service.jobs (the job service) is not there yet")


@pytest.fixture(scope="session")
def app_url(chromium_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of `streamlit run serve.py`, with its own empty AE_LAB_HOME."""
    folder = tmp_path_factory.mktemp("e2e")
    log_path = folder / "streamlit.log"
    try:
        with streamlit_app(folder / "home", log_path) as url:
            yield url
    finally:
        # The server's log tells what went wrong when a browser test fails.
        print(f"\n--- streamlit log ({log_path}) ---\n{tail(log_path, 60)}")


@pytest.fixture(scope="session")
def browser(chromium_ready: None) -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    # expect(...) retries until its timeout; the app on a busy 2-core machine needs more than the default 5 s.
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url: str) -> Iterator[object]:
    """A fresh browser tab (own session) at a projector-like size."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(60_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the tests save each page's screenshot: the ignored ``test-artifacts/screenshots/``.

    The README's pictures (``docs/screenshots/``, tracked) are refreshed only on request:
    ``AE_LAB_SCREENSHOT_DIR=docs/screenshots python3 -m pytest tests/e2e`` (a relative
    folder is taken from the repository root).
    """
    folder = REPO / os.environ.get(SCREENSHOT_DIR_ENV, DEFAULT_SCREENSHOT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
