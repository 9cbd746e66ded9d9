"""Real-browser test of a guided lesson: one full step, predict, train, reveal, and the URL keeps it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.server import expect
from tests.e2e.test_browser import FIRST_RUN_TIMEOUT_MS, no_exception, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECTOR = {"width": 1280, "height": 720}


def test_one_lesson_step_predict_train_reveal(page, app_url: str, screenshots: Path) -> None:
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{app_url}/lessons")
    page.get_by_role("heading", name="Lessons").wait_for()
    page.locator(".st-key-lessons_start_compression button").click()
    page.get_by_role("heading", name="Compression").wait_for()
    train = page.locator(".st-key-lessons_train button").first
    expect(train).to_be_disabled()  # no prediction yet
    page.get_by_text("From 8 to 32 numbers").click()
    page.locator(".st-key-lessons_commit button").click()
    expect(page).to_have_url(re.compile(r"lesson=compression&step=1&predict=late"))
    expect(train).to_be_enabled()
    train.click()
    expect(page).to_have_url(re.compile(r"runs=[0-9a-f]{32}-[0-9a-f]{32}-[0-9a-f]{32}"))
    # The three runs are drawn live, each with its reconstructions, until the answer comes.
    tiles = page.locator("[class*='st-key-lessons_run_']").filter(has=page.get_by_test_id("stProgress"))
    expect(tiles).to_have_count(3)
    reveal = page.locator(".st-key-lessons_reveal")
    reveal.get_by_text(re.compile(r"Test MSE 0\.\d{4} at latent 2, 0\.\d{4} at latent 8, 0\.\d{4} at latent 32")) \
        .wait_for(timeout=FIRST_RUN_TIMEOUT_MS)
    expect(reveal.locator("[data-testid='stMetricValue']").first).to_have_text("From 8 to 32 numbers")
    expect(reveal.get_by_text(re.compile("You were right|Not this time"))).to_be_visible()
    expect(reveal.locator(".js-plotly-plot")).to_have_count(1)  # test MSE against latent size
    no_exception(page)
    screenshot(page, screenshots / "lessons.png")
    # A reload comes back to the revealed step from the URL alone.
    page.reload()
    expect(page.locator(".st-key-lessons_reveal").get_by_text("You predicted")).to_be_visible()
    no_exception(page)
