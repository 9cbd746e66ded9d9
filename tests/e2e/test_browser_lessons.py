"""Real-browser test of a guided lesson: one full step, predict, train, reveal, and the URL keeps it.

The denoising lesson's step trains one small run (about 10 s on an idle 2-core machine) and
its reveal reads the run's snapshot, so the step is the quickest of the built-in lessons.
"""

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
    page.locator(".st-key-lessons_start_denoising button").click()
    page.get_by_role("heading", name="Denoising").wait_for()
    train = page.locator(".st-key-lessons_train button").first
    expect(train).to_be_disabled()  # no prediction yet
    # The student moves the slider from 50 to 70 from the keyboard and commits it.
    thumb = page.get_by_role("slider")
    thumb.focus()
    for _ in range(4):
        thumb.press("ArrowRight")
    expect(page.get_by_test_id("stSliderThumbValue")).to_have_text("70")
    page.locator(".st-key-lessons_commit button").click()
    expect(page).to_have_url(re.compile(r"lesson=denoising&step=1&predict=70$"))
    expect(page.get_by_text("Your prediction: 70%")).to_be_visible()
    train = page.locator(".st-key-lessons_train button").first
    expect(train).to_be_enabled()
    train.click()
    expect(page).to_have_url(re.compile(r"predict=70&runs=[0-9a-f]{32}$"))
    # The run is drawn live until the answer comes, without a reload.
    expect(page.locator("[class*='st-key-lessons_run_']").filter(has=page.get_by_test_id("stProgress"))) \
        .to_have_count(1)
    reveal = page.locator(".st-key-lessons_reveal")
    reveal.get_by_text(re.compile(r"the reconstructions removed \d+(\.\d)?% of the noisy inputs' squared error")) \
        .wait_for(timeout=FIRST_RUN_TIMEOUT_MS)
    expect(reveal.locator("[data-testid='stMetricValue']").first).to_have_text("70%")
    expect(reveal.locator("[data-testid='stMetricValue']").nth(1)).to_have_text(re.compile(r"^-?\d+(\.\d)?%$"))
    expect(reveal.get_by_text(re.compile("You were right|Not this time"))).to_be_visible()
    expect(reveal.get_by_text(re.compile("Rows: original · noisy input"))).to_be_visible()
    no_exception(page)
    screenshot(page, screenshots / "lessons.png")
    # A reload comes back to the revealed step from the URL alone.
    page.reload()
    expect(page.locator(".st-key-lessons_reveal").get_by_text("You predicted")).to_be_visible()
    no_exception(page)
