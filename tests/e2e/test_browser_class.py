"""A class in real browsers: two students and a teacher on one server started with a teacher key.

Each browser context is a browser of its own (its own cookies), as two students' laptops
are. One student trains a run; the other sees it, read-only; the teacher unlocks once,
keeps the unlock across a reload, and deletes the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ae_core.access import TEACHER_KEY_ENV
from tests.e2e.server import expect, streamlit_app, tail
from tests.e2e.test_browser import FIRST_RUN_TIMEOUT_MS, no_exception, screenshot, start_run, status_tile

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "owl-at-night"
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def class_url(chromium_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("e2e_class")
    log_path = folder / "streamlit.log"
    try:
        with streamlit_app(folder / "home", log_path, env={TEACHER_KEY_ENV: KEY}) as url:
            yield url
    finally:
        print(f"\n--- streamlit log ({log_path}) ---\n{tail(log_path, 60)}")


def open_browser(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    return context, context.new_page()


def open_runs(page, url: str, whose: str) -> None:
    page.goto(f"{url}/runs")
    page.locator(".st-key-runs_whose").get_by_text(whose, exact=True).click()


def test_a_student_cannot_delete_anothers_run_and_the_teacher_can(browser, class_url: str,
                                                                   screenshots: Path) -> None:
    contexts = []
    try:
        alice_context, alice = open_browser(browser)
        bob_context, bob = open_browser(browser)
        teacher_context, teacher = open_browser(browser)
        contexts = [alice_context, bob_context, teacher_context]

        run_id = start_run(alice, f"{class_url}/?example_limit=500", epochs=1)  # any finished run of hers will do
        status_tile(alice, "Finished").wait_for(timeout=FIRST_RUN_TIMEOUT_MS)
        # A reload is the same student: the run is still hers to delete.
        open_runs(alice, class_url, "Mine")
        expect(alice.locator(".st-key-runs_delete button")).to_be_visible()

        open_runs(bob, class_url, "Mine")
        expect(bob.get_by_text("No runs yet.")).to_be_visible()
        open_runs(bob, class_url, "Everyone")
        expect(bob.get_by_text("Another student started this run")).to_be_visible()
        expect(bob.locator(".st-key-runs_delete")).to_have_count(0)
        no_exception(bob)
        screenshot(bob, screenshots / "class-another-students-run.png")

        teacher.goto(f"{class_url}/teacher")
        teacher.get_by_label("Teacher key").fill(KEY)
        teacher.get_by_role("button", name="Unlock").click()
        expect(teacher.get_by_text("This browser is the teacher's")).to_be_visible()
        teacher.reload()  # unlocked once per browser: a reload keeps it
        expect(teacher.get_by_text("This browser is the teacher's")).to_be_visible()
        screenshot(teacher, screenshots / "class-teacher.png")
        teacher.goto(f"{class_url}/runs?run_id={run_id}")
        teacher.locator(".st-key-runs_delete button").click()
        teacher.locator(".st-key-runs_delete_confirm button").click()
        expect(teacher.get_by_text("No runs yet.")).to_be_visible()
        no_exception(teacher)
    finally:
        for context in contexts:
            context.close()


def test_a_first_visit_by_a_link_to_train_remembers_the_browser(browser, class_url: str) -> None:
    # ``/train`` forwards to the Train page with a rerun, which about half the time replaced
    # the script that writes the cookie before it ran: the student's second tab, or reload,
    # was then another student. Four fresh browsers would all have kept it 1 time in 16.
    for _ in range(4):
        context, page = open_browser(browser)
        try:
            page.goto(f"{class_url}/train")
            expect(page.locator(".st-key-train_start button")).to_be_enabled()
            page.wait_for_function("() => document.cookie.includes('ae_lab_student=')", timeout=10_000)
            student = page.evaluate("() => document.cookie.match(/ae_lab_student=(\\w+)/)[1]")
            second_tab = context.new_page()
            second_tab.goto(f"{class_url}/runs")
            expect(second_tab.get_by_text("No runs yet.")).to_be_visible()
            assert second_tab.evaluate("() => document.cookie.match(/ae_lab_student=(\\w+)/)[1]") == student
        finally:
            context.close()
