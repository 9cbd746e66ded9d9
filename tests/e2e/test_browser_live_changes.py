"""Real-browser test of a change while a run trains: the learning rate, from the Train page, onto the loss curve."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ae_lab_ui.history import FAST_POLL_SECONDS
from tests.e2e.server import expect
from tests.e2e.test_browser import FIRST_RUN_TIMEOUT_MS, LIVE_TIMEOUT_MS, no_exception, start_run, wait_for_points
from tests.e2e.test_first_minute import PROJECTOR

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_learning_rate_change_shows_on_the_loss_curve(page, app_url: str, screenshots: Path) -> None:
    page.set_viewport_size({**PROJECTOR, "height": 1150})  # the control and the loss curve in one picture
    started = time.monotonic()
    start_run(page, app_url, epochs=300)
    wait_for_points(page, "train_loss_curve", 0, FIRST_RUN_TIMEOUT_MS)
    # Past the young run's fast polling, when the whole page is redrawn once.
    page.wait_for_timeout(max(0.0, FAST_POLL_SECONDS + 1 - (time.monotonic() - started)) * 1000)
    page.locator("[data-testid='stExpander'] summary", has_text="Change while training").click()
    value = page.locator(".st-key-train_change_value_learning_rate")
    expect(value).to_contain_text("0.003")
    # The form's next lower choice. A whole-page redraw (the run's polling slowing down) can
    # replace the slider between the focus and the key, losing the key: press again then.
    for _ in range(5):
        value.locator("input[type='range']").focus()
        value.locator("input[type='range']").press("ArrowLeft")
        try:
            expect(value).to_contain_text("0.001", timeout=5_000)
            break
        except AssertionError:
            continue
    expect(value).to_contain_text("0.001")
    page.locator(".st-key-train_change_apply button").click()
    # The worker applied it and the store recorded it: the live chart draws the dashed line with its value.
    expect(page.locator(".st-key-train_loss_curve .annotation-text", has_text="learning rate 0.001")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS)
    # Recorded: the page is redrawn, and the control says what the learning rate is now.
    expect(value).to_contain_text("now 0.001", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator(".st-key-train_loss_curve .annotation-text")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    page.screenshot(path=str(screenshots / "train-change-while-training.png"))
    no_exception(page)
    page.locator(".st-key-train_stop button").click()  # free the worker for the next test
