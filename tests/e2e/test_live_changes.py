"""Real-browser test of a change while a run trains: the learning rate, from the Train page, onto the loss curve."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.server import expect
from tests.e2e.test_browser import LIVE_TIMEOUT_MS, no_exception, screenshot, start_run, wait_for_points
from tests.e2e.test_first_minute import PROJECTOR

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_learning_rate_change_shows_on_the_loss_curve(page, app_url: str, screenshots: Path) -> None:
    page.set_viewport_size(PROJECTOR)
    start_run(page, app_url, epochs=300)
    wait_for_points(page, "train_loss_curve", 0, LIVE_TIMEOUT_MS)
    page.get_by_text("Change while training").click()
    slider = page.locator(".st-key-train_change [role='slider']")
    expect(slider).to_have_attribute("aria-valuetext", "0.003")
    slider.focus()
    slider.press("ArrowLeft")  # the form's next lower choice: 0.001
    expect(slider).to_have_attribute("aria-valuetext", "0.001")
    page.locator(".st-key-train_change_apply button").click()
    expect(page.get_by_text("The learning rate becomes 0.001 at the next batch.")).to_be_visible()
    # The worker applied it and the store recorded it: the live chart draws the dashed line with its value.
    expect(page.locator(".st-key-train_loss_curve .annotation-text", has_text="learning rate 0.001")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS)
    screenshot(page, screenshots / "train-change-while-training.png")
    no_exception(page)
    page.locator(".st-key-train_stop button").click()  # free the worker for the next test
