"""Real-browser test of the diagnostics: a crafted bad run is told, in plain words, what went wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.server import expect
from tests.e2e.test_browser import (FIRST_RUN_TIMEOUT_MS, choose, no_exception, open_expander, screenshot,
                                    status_tile)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECTOR = {"width": 1280, "height": 720}


def set_slider_to(page, widget_key: str, choice: str, presses_right_from_start: int) -> None:
    """Move a select slider to its first choice, then ``presses_right_from_start`` choices on, as a keyboard would."""
    thumb = page.locator(f".st-key-{widget_key} input[type='range']")
    thumb.focus()
    thumb.press("Home")
    for _ in range(presses_right_from_start):
        thumb.press("ArrowRight")
    expect(thumb).to_have_attribute("aria-valuetext", choice)
    # Streamlit sends a keyboard-moved slider's value when the slider loses focus; wait until the app has
    # it (the URL carries each setting that differs from its default) before anything else is pressed: a
    # Train pressed in the same instant as the blur once started the old settings.
    thumb.blur()
    expect(page).to_have_url(re.compile(rf"[?&]{widget_key.removeprefix('train_')}="))


def test_a_learning_rate_far_too_low_is_said_in_plain_words(page, app_url: str, screenshots: Path) -> None:
    page.set_viewport_size(PROJECTOR)
    page.goto(app_url)
    page.get_by_role("heading", name="Train an autoencoder").wait_for()
    epochs = page.locator(".st-key-train_num_epochs input")
    epochs.fill("3")
    epochs.press("Enter")
    expect(epochs).to_have_value("3")
    # The student's mistake: plain SGD at the smallest learning rate, on 500 digits so it is quick.
    training = open_expander(page.get_by_test_id("stSidebar"), "Training")
    choose(training, "Optimizer", "sgd")
    set_slider_to(page, "train_learning_rate", "0.0001", 0)
    set_slider_to(page, "train_example_limit", "500", 1)
    page.locator(".st-key-train_start button").click()
    expect(page).to_have_url(re.compile(r"[?&]run_id=[0-9a-f]{32}(&|$)"), timeout=60_000)
    # Nothing is said while the run is too young to judge; after two epochs the finding appears, live, and
    # once: the live view keeps its place on the page from one page run to the next, so a redraw replaces
    # the warning instead of drawing it anew beside the old one (strict: two would fail here).
    finding = page.locator(".st-key-train_diagnostics [data-testid='stAlert']", has_text="The loss has barely moved")
    expect(finding).to_be_visible(timeout=FIRST_RUN_TIMEOUT_MS)
    expect(finding).to_contain_text("the learning rate (0.0001) is probably too low")
    expect(finding).to_contain_text("switch from SGD to Adam")
    status_tile(page, "Finished").wait_for(timeout=FIRST_RUN_TIMEOUT_MS)
    expect(finding).to_be_visible()  # still there when the run ends
    # At a projector's size the finding sits above the fold, under the run's status.
    box = finding.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PROJECTOR["height"], box
    screenshot(page, screenshots / "train-diagnostics.png")
    no_exception(page)
