"""AppTest checks of a class on one server: each page acts as this browser's student, a
student's controls stay within the teacher's limits, and the Teacher page unlocks and sets them.

The fake manager enforces the same rules as the real one (``ae_core.access``), so these
tests see what a student would: another's run is read-only, and a refusal is said in words.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ae_core.access import TEACHER_KEY_ENV, ClassRules, teacher_token
from ae_core.config import ModelConfig, TrainConfig
from ae_core.store.records import RunStatus
from tests.fake_jobs import FakeJobManager
from tests.test_app import APP, assert_clean, texts, training_run
from tests.test_pages_compare import BASE, finished

ALICE, BOB = "a" * 32, "b" * 32
KEY = "owl"


@pytest.fixture
def classroom(monkeypatch: pytest.MonkeyPatch, fake: FakeJobManager) -> FakeJobManager:
    """The fake manager on a server started with a teacher key."""
    monkeypatch.setenv(TEACHER_KEY_ENV, KEY)
    return fake


def as_browser(student: str, page: str | None = None, query_params: dict[str, str] | None = None, *,
               teacher: bool = False) -> AppTest:
    """The app as the browser of ``student`` (its cookie, as ``ae_lab_ui.identity`` keeps it), on ``page``."""
    app = AppTest.from_file(APP, default_timeout=30)
    app.session_state["identity_student_id"] = student
    if teacher:
        app.session_state["identity_teacher_token"] = teacher_token(KEY, student)
    app.query_params.update(query_params or {})
    app.run()
    if page is not None:
        app.switch_page(page).run()
    assert_clean(app)
    return app


def test_train_records_the_student_and_another_students_run_cannot_be_stopped(classroom: FakeJobManager) -> None:
    app = as_browser(ALICE)
    app.button(key="train_start").click().run()
    mine = next(iter(classroom.runs))
    assert classroom.runs[mine].started_by == ALICE
    assert not app.button(key="train_stop").disabled
    bob = as_browser(BOB, query_params={"run_id": mine})
    assert bob.button(key="train_stop").disabled  # he can watch it, not stop it
    assert "Another student started this run" in bob.button(key="train_stop").help
    app.button(key="train_stop").click().run()
    assert classroom.runs[mine].status is RunStatus.CANCELLED


def test_a_students_train_keeps_within_the_teachers_caps_and_the_queue_limit(classroom: FakeJobManager) -> None:
    classroom.rules = ClassRules(max_epochs=5, max_train_examples=1000)
    app = as_browser(ALICE)
    assert app.number_input(key="train_num_epochs").value == 5
    assert app.select_slider(key="train_example_limit").value == 1000
    assert "In this class: at most 5 epochs, 1,000 training examples, 2 runs waiting at once." in texts(app.caption)
    app.number_input(key="train_num_epochs").set_value(50).run()
    assert app.number_input(key="train_num_epochs").value == 5  # snapped back, with the caption saying why
    for _ in range(2):
        app.button(key="train_start").click().run()
    assert [(c.num_epochs, c.train_limit) for c in classroom.submitted] == [(5, 1000), (5, 1000)]
    app.button(key="train_start").click().run()
    assert "Could not start the run. You already have 2 runs waiting in the queue" in texts(app.error)
    assert len(classroom.submitted) == 2
    teacher = as_browser(BOB, teacher=True)
    assert teacher.number_input(key="train_num_epochs").value == TrainConfig().num_epochs  # never limited
    assert "In this class" not in texts(teacher.caption)


def test_the_runs_page_shows_mine_or_everyones_and_anothers_run_is_read_only(classroom: FakeJobManager) -> None:
    alices = training_run(classroom)
    classroom.set_status(alices, RunStatus.RUNNING, started_by=ALICE)
    bobs = classroom.add_run(TrainConfig(model=ModelConfig(latent_dim=8)), status=RunStatus.FINISHED,
                             started_by=BOB)
    app = as_browser(BOB, "app_pages/runs.py")
    assert app.radio(key="runs_whose").value == "Mine"
    assert app.dataframe[0].value["Started by"].tolist() == ["you"]
    assert app.button(key="runs_delete") is not None
    app.radio(key="runs_whose").set_value("Everyone").run()
    assert app.dataframe[0].value["Started by"].tolist() == ["you", "another student"]
    app.selectbox(key="runs_selected").set_value(alices).run()
    keys = {button.key for button in app.button}
    assert not keys & {"runs_cancel", "runs_delete", "runs_resume"}
    assert "Another student started this run" in texts(app.caption)
    # The teacher sees everyone's runs and may act on each.
    teacher = as_browser("c" * 32, "app_pages/runs.py", {"run_id": alices}, teacher=True)
    assert teacher.radio(key="runs_whose").value == "Everyone"
    teacher.button(key="runs_delete").click().run()
    teacher.button(key="runs_delete_confirm").click().run()
    assert_clean(teacher)
    assert set(classroom.runs) == {bobs}


def test_a_single_user_lab_says_nothing_of_a_class(fake: FakeJobManager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TEACHER_KEY_ENV, raising=False)
    someone_elses = fake.add_run(status=RunStatus.FINISHED, started_by=BOB)
    app = as_browser(ALICE, "app_pages/runs.py")
    assert not app.radio and "Started by" not in app.dataframe[0].value.columns
    app.button(key="runs_delete").click().run()
    app.button(key="runs_delete_confirm").click().run()
    assert someone_elses not in fake.runs  # as before: the person at the keyboard owns the lab


def test_the_teacher_page_unlocks_with_the_key_and_saves_the_limits(classroom: FakeJobManager) -> None:
    app = as_browser(ALICE, "app_pages/teacher.py")
    app.text_input(key="teacher_key").input("not it")
    app.button[0].click().run()
    assert "That is not the key this server was started with" in texts(app.error)
    assert not app.slider  # still locked: no limits to set
    app.text_input(key="teacher_key").input(KEY)
    app.button[0].click().run()
    assert_clean(app)
    assert "This browser is the teacher's" in texts(app.success)
    app.slider(key="teacher_max_queued").set_value(3)
    app.number_input(key="teacher_max_epochs").set_value(4)
    app.select_slider(key="teacher_max_examples").set_value(2000)
    next(b for b in app.button if "Save" in b.label).click().run()
    assert classroom.rules == ClassRules(max_queued_per_student=3, max_epochs=4, max_train_examples=2000)
    assert "Saved." in texts(app.success)
    app.button(key="teacher_lock").click().run()
    assert app.text_input(key="teacher_key") is not None  # locked again


def test_a_students_sweep_queues_what_the_class_allows_and_says_why_it_stopped(classroom: FakeJobManager,
                                                                                tmp_path: Path) -> None:
    base = finished(classroom, tmp_path, BASE)
    classroom.set_status(base, RunStatus.FINISHED, started_by=BOB)
    app = as_browser(ALICE, "app_pages/compare.py")
    app.button(key="compare_sweep_start").click().run()
    # A student's sweep queues as many sizes as the class lets them wait for, then says why it stopped.
    assert classroom.submitted_by == [ALICE, ALICE]
    assert texts(app.error).count("You already have 2 runs waiting") == 1
    assert "Queued latent sizes 2, 4." in texts(app.success)
