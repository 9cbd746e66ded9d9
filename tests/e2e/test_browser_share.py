"""Real-browser tests of teaching links: a share link with a locked control survives a round trip
through the address bar, and the presenter view keeps a run readable on a projector."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ae_lab_ui import figures
from tests.e2e.server import expect
from tests.e2e.test_browser import (FIRST_RUN_TIMEOUT_MS, LIVE_TIMEOUT_MS, no_exception, status_tile, wait_for_layout,
                                    wait_for_points)
from tests.e2e.test_first_minute import PROJECTOR

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LESSON = "?arch=deep&latent_dim=8&num_epochs=3&lock=latent_dim"


def expect_lesson_setup(page, epochs: int) -> None:
    """The link's values are in the controls, and the locked latent size is greyed out with its lock."""
    expect(page.get_by_role("combobox", name="Architecture")).to_have_value("Deep dense")
    latent = page.locator(".st-key-train_latent_dim")
    expect(latent.locator("input[type=range]")).to_have_attribute("aria-valuetext", "8")
    expect(latent.locator("input[type=range]")).to_be_disabled()
    expect(latent.get_by_label("lock icon")).to_have_count(1)
    expect(page.locator(".st-key-train_num_epochs input")).to_have_value(str(epochs))
    expect(page.locator(".st-key-train_num_epochs input")).to_be_enabled()


def test_a_share_link_with_a_locked_control_survives_the_round_trip(browser, page, app_url: str) -> None:
    page.goto(app_url + LESSON)
    expect_lesson_setup(page, epochs=3)
    # The student changes what the lesson leaves free; the address bar follows without a reload.
    field = page.locator(".st-key-train_num_epochs input")
    field.fill("5")
    field.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]num_epochs=5(&|$)"))
    shared = page.url
    assert "lock=latent_dim" in shared and "latent_dim=8" in shared and "arch=deep" in shared
    fresh = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    try:
        fresh.goto(shared)
        expect_lesson_setup(fresh, epochs=5)
        no_exception(fresh)
    finally:
        fresh.context.close()


def test_the_presenter_view_keeps_the_run_above_the_fold(page, app_url: str, screenshots: Path) -> None:
    page.set_viewport_size(PROJECTOR)
    # Long enough to be measured while it trains, however busy the machine; stopped at the end.
    page.goto(app_url + "?num_epochs=300&present=1")
    expect(page.locator(".st-key-train_present input")).to_be_checked()
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stExpander")).to_have_count(0)  # advanced ones folded
    page.locator(".st-key-train_start button").click()
    # While the run trains, which is what a projector is for: the first reconstructions and loss points
    # are in, and the change control is offered (under the live view, not above it).
    page.locator(".st-key-train_reconstruction_grid img").wait_for(timeout=FIRST_RUN_TIMEOUT_MS)
    wait_for_points(page, "train_loss_curve", 0, LIVE_TIMEOUT_MS)
    expect(page.get_by_test_id("stExpander").filter(has_text="Change while training")).to_have_count(1)
    wait_for_layout(page)
    for key in ("train_loss_curve", "train_reconstruction_grid"):
        box = page.locator(f".st-key-{key}").bounding_box()
        assert box is not None and box["y"] + box["height"] <= PROJECTOR["height"], (key, box)
        print(f"presenter view at 1280x720: {key} ends at {box['y'] + box['height']:.0f} px")
    expect(status_tile(page, "Training")).to_be_visible()  # measured while it trained
    # Every tile's value whole at a projector's size (no "1 min …"): its text fits its box.
    cut = page.eval_on_selector_all("[data-testid='stMetricValue'] *", "nodes => nodes.filter(node => "
                                    "node.scrollWidth > node.clientWidth + 1).map(node => node.textContent)")
    assert cut == [], cut
    tick = page.locator(".st-key-train_loss_curve .xtick text").first
    expect(tick).to_have_css("font-size", f"{figures.PROJECTOR_FONT_SIZE}px")  # read from the back of a room
    page.screenshot(path=str(screenshots / "presenter.png"))
    no_exception(page)
    page.locator(".st-key-train_stop button").click()  # free the worker for the next test
