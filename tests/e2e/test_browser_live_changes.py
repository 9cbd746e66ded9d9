"""Real-browser test of a change while a run trains: the learning rate, from the Train page, onto the loss curve."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.server import expect
from tests.e2e.test_browser import (FIRST_RUN_TIMEOUT_MS, LIVE_TIMEOUT_MS, no_exception, open_expander, start_run,
                                    wait_for_points)
from tests.e2e.test_first_minute import PROJECTOR

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_learning_rate_change_shows_on_the_loss_curve(page, app_url: str, screenshots: Path) -> None:
    page.set_viewport_size({**PROJECTOR, "height": 1150})  # the control and the loss curve in one picture
    start_run(page, app_url, epochs=300)
    wait_for_points(page, "train_loss_curve", 0, FIRST_RUN_TIMEOUT_MS)
    # Opened at once, in the run's first seconds: the redraw when its polling slows down keeps it open
    # (tests/test_live_changes.py checks that nothing above it comes and goes between page runs).
    open_expander(page, "Change while training")
    value = page.locator(".st-key-train_change_value_learning_rate")
    thumb = value.get_by_role("slider")
    expect(thumb).to_have_attribute("aria-valuetext", "0.003")
    thumb.press("ArrowLeft")  # the form's next lower choice
    expect(thumb).to_have_attribute("aria-valuetext", "0.001")
    page.locator(".st-key-train_change_apply button").click()
    # The worker applied it and the store recorded it: the live chart draws the dashed line with its value.
    # ":visible": Streamlit draws a chart whose data changed hidden beside the old one, then swaps
    # them, so for a moment the container holds two charts, and a person sees one of them.
    marker = page.locator(".st-key-train_loss_curve .annotation-text:visible")
    expect(marker).to_have_text("→ learning rate 0.001", timeout=LIVE_TIMEOUT_MS)
    # Recorded: the page is redrawn, and the control says what the learning rate is now.
    expect(value).to_contain_text("now 0.001", timeout=LIVE_TIMEOUT_MS)
    expect(marker).to_have_text("→ learning rate 0.001", timeout=LIVE_TIMEOUT_MS)
    page.screenshot(path=str(screenshots / "train-change-while-training.png"))
    no_exception(page)
    page.locator(".st-key-train_stop button").click()  # free the worker for the next test
