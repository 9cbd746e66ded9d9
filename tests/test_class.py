"""A class on one server: who may act on which run, the round-robin queue, and the teacher's caps.

The rules are ``ae_core.access``'s; the job service enforces them, so these tests drive a
real ``JobManager`` (spawned workers, the fast fake trainer) as the pages would, with one
``Actor`` per browser.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so spawned workers can import fake_trainer

from test_jobs import fake_config, make_any_manager, make_manager, wait_for, wait_status  # noqa: E402,F401

from ae_core.access import (LAB_OWNER, TEACHER_KEY_ENV, Actor, ClassRules, actor_for, is_student_id,  # noqa: E402
                            new_student_id, teacher_token)
from ae_core.config import TrainConfig  # noqa: E402
from ae_core.data import DATASETS, load_dataset  # noqa: E402
from ae_core.errors import QueueFull  # noqa: E402
from ae_core.service.jobs import JobManager  # noqa: E402
from ae_core.service.slicing import workers_to_pause  # noqa: E402
from ae_core.store import RunStatus, RunStore  # noqa: E402
from ae_core.store.lifecycle import fair_order  # noqa: E402

ALICE, BOB = Actor("a" * 32), Actor("b" * 32)
TEACHER = Actor("c" * 32, is_teacher=True)


# -- the rules ---------------------------------------------------------------------
def test_a_student_may_act_only_on_their_own_runs_and_a_teacher_on_all() -> None:
    assert ALICE.may_act_on(ALICE.student_id) and not ALICE.may_act_on(BOB.student_id)
    assert not ALICE.may_act_on(None)  # a run nobody is recorded as starting is the teacher's to act on
    assert TEACHER.may_act_on(BOB.student_id) and TEACHER.may_act_on(None)


def test_a_browser_is_a_teacher_only_with_the_token_of_the_servers_key(monkeypatch: pytest.MonkeyPatch) -> None:
    student = new_student_id()
    assert is_student_id(student) and not is_student_id("../etc") and not is_student_id(None)
    monkeypatch.delenv(TEACHER_KEY_ENV, raising=False)
    assert actor_for(student).is_teacher  # a single-user lab: whoever is here owns it
    monkeypatch.setenv(TEACHER_KEY_ENV, "owl")
    assert not actor_for(student).is_teacher
    assert not actor_for(student, teacher_token("not the key", student)).is_teacher
    assert not actor_for(student, teacher_token("owl", new_student_id())).is_teacher  # another browser's token
    assert actor_for(student, teacher_token("owl", student)).is_teacher


def test_class_rules_refuse_what_they_cannot_mean() -> None:
    with pytest.raises(ValueError, match="max_queued_per_student must be a whole number from 1 to 100; got 0"):
        ClassRules(max_queued_per_student=0)
    with pytest.raises(ValueError, match="max_epochs must be a whole number from 1 to 1000"):
        ClassRules(max_epochs=0)
    with pytest.raises(ValueError, match="class rules must be only the fields"):
        ClassRules.from_dict({"max_epochs": 3, "colour": "red"})


def test_the_caps_name_the_setting_the_limit_and_the_value_asked_for() -> None:
    rules = ClassRules(max_epochs=5, max_train_examples=1000)
    with pytest.raises(ValueError, match=r"num_epochs must be at most 5 in this class \(the teacher's limit\); got 6"):
        rules.check(TrainConfig(num_epochs=6, train_limit=500))
    # "All" examples of the offline sample are its 4,000 training digits.
    with pytest.raises(ValueError, match="train_limit must be at most 1,000 training examples in this class.*"
                                         "got 4,000"):
        rules.check(TrainConfig(num_epochs=5))
    rules.check(TrainConfig(num_epochs=5, train_limit=1000))
    assert rules.within(TrainConfig(num_epochs=50)) == TrainConfig(num_epochs=5, train_limit=1000)


def test_each_datasets_training_size_is_what_it_loads() -> None:
    data = load_dataset("mnist_sample", validation_fraction=0.0)
    assert len(data.x_train) == DATASETS["mnist_sample"].train_size == 4000


def test_the_queue_is_served_round_robin_across_students() -> None:
    def row(run_id: str, who: str | None, at: float, status: str = "QUEUED",
            finished: float | None = None) -> dict[str, object]:
        return {"run_id": run_id, "status": status, "started_by": who, "queue_order": int(at) if status == "QUEUED"
                else None, "created_at": at, "started_at": None if status == "QUEUED" else at, "finished_at": finished}

    # Alice queued three runs before Bob and Carol pressed Train: each one's first run goes first.
    queue = [row("a1", "A", 1), row("a2", "A", 2), row("a3", "A", 3), row("b1", "B", 4), row("c1", "C", 5)]
    assert fair_order(queue) == ["a1", "b1", "c1", "a2", "a3"]
    # A run Bob has training counts, and so does one that ended after his next was queued.
    assert fair_order([row("b0", "B", 0, "RUNNING"), row("b1", "B", 4), row("c1", "C", 5)]) == ["c1", "b1"]
    assert fair_order([row("b0", "B", 0, "FINISHED", 4.5), row("b1", "B", 4), row("c1", "C", 5)]) == ["c1", "b1"]
    # One that ended before he pressed Train again does not: he waits behind no one's second run.
    assert fair_order([row("b0", "B", 0, "FINISHED", 3.5), row("b1", "B", 4), row("c1", "C", 5)]) == ["b1", "c1"]
    # Nobody recorded (the command line): first come, first served, as before.
    assert fair_order([row("x2", None, 2), row("x1", None, 1)]) == ["x1", "x2"]
    # A paused run (it has trained) goes after the runs that have not started yet.
    assert fair_order([{**row("p1", "P", 1), "started_at": 1.5}, row("q2", "Q", 2)]) == ["q2", "p1"]
    # A damaged queue position or time does not break the queue.
    damaged = {**row("bad", None, 9), "queue_order": "??", "created_at": "yesterday"}
    assert fair_order([row("x1", None, 1), damaged]) == ["bad", "x1"]


# -- the service enforces them ---------------------------------------------------------
def test_the_service_refuses_another_students_run_and_lets_the_teacher_act(
        make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1)
    blocker = manager.submit(fake_config(steps=500, epochs=10), ALICE)
    waiting = manager.submit(fake_config(), ALICE)
    assert manager.get_run(waiting).started_by == ALICE.student_id
    for action, what in ((manager.cancel, "stop"), (manager.delete, "delete"), (manager.resume, "resume")):
        with pytest.raises(PermissionError, match=f"You can only {what} your own runs; run {waiting[:8]} was started"):
            action(waiting, BOB)
    assert manager.get_run(waiting).status is RunStatus.QUEUED  # nothing happened
    manager.cancel(waiting, ALICE)
    manager.resume(waiting, TEACHER)
    manager.cancel(blocker, TEACHER)
    manager.delete(waiting, TEACHER)
    assert [r.run_id for r in manager.list_runs()] == [blocker]
    manager.delete(blocker, LAB_OWNER)  # the command line and a single-user lab act on everything


def test_a_student_may_queue_two_runs_at_once_and_is_told_so(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1)
    blocker = manager.submit(fake_config(steps=500, epochs=10), TEACHER)
    wait_status(manager, blocker, RunStatus.RUNNING)
    first, second = manager.submit(fake_config(), ALICE), manager.submit(fake_config(), ALICE)
    with pytest.raises(QueueFull, match="You already have 2 runs waiting in the queue"):
        manager.submit(fake_config(), ALICE)
    manager.submit(fake_config(), BOB)  # another student is not held back
    manager.submit(fake_config(), TEACHER)  # nor is the teacher
    manager.cancel(second, ALICE)
    with pytest.raises(QueueFull, match="2 runs waiting"):  # resuming queues it again: the same limit
        manager.submit(fake_config(), ALICE) and manager.resume(second, ALICE)
    assert manager.get_run(first).status is RunStatus.QUEUED
    manager.cancel(blocker)


def test_thirty_students_first_runs_start_before_anyones_second(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1)
    manager.set_class_rules(ClassRules(max_queued_per_student=5))
    blocker = manager.submit(fake_config(steps=500, epochs=10), TEACHER)
    wait_status(manager, blocker, RunStatus.RUNNING)
    greedy = [manager.submit(fake_config(steps=1, epochs=1), ALICE) for _ in range(3)]
    polite = manager.submit(fake_config(steps=1, epochs=1), BOB)
    assert [manager.get_run(run_id).queue_position for run_id in (*greedy, polite)] == [1, 3, 4, 2]
    manager.cancel(blocker)
    for run_id in (*greedy, polite):
        wait_status(manager, run_id, RunStatus.FINISHED)
    started = sorted((manager.get_run(run_id).started_at, run_id) for run_id in (*greedy, polite))
    assert [run_id for _, run_id in started] == [greedy[0], polite, greedy[1], greedy[2]]


def test_the_teachers_caps_bind_students_and_survive_a_restart(make_manager: Callable[..., JobManager],
                                                               tmp_path: Path) -> None:
    manager = make_manager()
    with pytest.raises(PermissionError, match="Only the teacher can change the class's limits"):
        manager.set_class_rules(ClassRules(max_epochs=1), ALICE)
    manager.set_class_rules(ClassRules(max_epochs=3, max_train_examples=1000), TEACHER)
    with pytest.raises(ValueError, match="num_epochs must be at most 3 in this class"):
        manager.submit(fake_config(epochs=4), ALICE)
    assert manager.list_runs() == []  # nothing was queued
    manager.submit(fake_config(epochs=4), TEACHER)
    manager.shutdown()
    assert make_manager().class_rules() == ClassRules(max_epochs=3, max_train_examples=1000)


def test_a_store_from_before_ownership_gains_the_column_and_keeps_its_runs(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run_id = store.create_run(TrainConfig())
    with sqlite3.connect(tmp_path / "lab.sqlite3") as db:
        db.execute("ALTER TABLE runs DROP COLUMN started_by")
    reopened = RunStore(tmp_path)
    assert reopened.get_run(run_id).started_by is None
    assert reopened.started_by(reopened.create_run(TrainConfig(), started_by="d" * 32)) == "d" * 32


def paused_for(manager: JobManager, config: TrainConfig, long_epochs: int = 30) -> tuple[str, str]:
    """Alice's long run (``long_epochs`` of 0.4 s) trains, then Bob submits ``config``: return both ids once Alice's
    run paused."""
    long = manager.submit(fake_config(steps=20, epochs=long_epochs), ALICE)
    wait_status(manager, long, RunStatus.RUNNING)
    waiting = manager.submit(config, BOB)
    wait_for(lambda: manager.get_run(long).is_paused, "the long run to pause")
    return long, waiting


def test_running_runs_pause_at_an_epoch_end_so_that_a_waiting_run_starts(
        make_any_manager: Callable[..., JobManager]) -> None:
    manager = make_any_manager(max_concurrent=1, warm_workers=1)
    # The long run pauses at its next epoch end, checkpointed, and reads as paused.
    # Ten epochs: it pauses at its first epoch end after Bob's submit, with nine to go after (it is waited
    # for to the end, so thirty cost 8 s more for the same check).
    long, short = paused_for(manager, fake_config(steps=2, epochs=1), long_epochs=10)
    assert manager.get_run(long).progress["epoch"] >= 1
    assert wait_status(manager, short, RunStatus.FINISHED) == RunStatus.FINISHED
    # Then it goes on from its checkpoint, and nothing of it is recorded twice.
    assert wait_status(manager, long, RunStatus.FINISHED, timeout=60) == RunStatus.FINISHED
    epochs = [row.epoch for row in manager.metrics_since(long) if row.kind == "epoch" and row.key == "loss"]
    assert epochs == list(range(1, 11))
    assert manager.get_run(short).started_at < manager.get_run(long).finished_at


def test_a_paused_run_asked_to_stop_stops_and_a_paused_run_pauses_no_one(
        make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1)
    first, second = paused_for(manager, fake_config(steps=20, epochs=30))
    wait_status(manager, second, RunStatus.RUNNING)
    # The first run now waits, paused: it does not make the second one pause in turn.
    progress = manager.get_run(second).progress.get("epoch", 0)
    wait_for(lambda: manager.get_run(second).progress.get("epoch", 0) >= progress + 3, "three more epochs")
    assert manager.get_run(second).status is RunStatus.RUNNING
    manager.cancel(first, ALICE)  # a paused run is QUEUED: it stops at once
    assert (manager.get_run(first).status, manager.get_run(first).message) == (RunStatus.CANCELLED,
                                                                              "Cancelled by request.")
    manager.cancel(second, BOB)
    assert wait_status(manager, second, RunStatus.CANCELLED) == RunStatus.CANCELLED


def test_workers_pause_for_the_waiting_runs_no_free_or_starting_worker_will_take() -> None:
    def worker(ready: bool = True, busy: bool = True, stopping: bool = False) -> SimpleNamespace:
        return SimpleNamespace(ready=ready, busy=busy, stop_requested_at=1.0 if stopping else None)

    busy = [worker(), worker()]
    assert workers_to_pause(busy, max_workers=2, waiting_new=1) == busy[:1]
    assert workers_to_pause(busy, max_workers=2, waiting_new=5) == busy
    assert workers_to_pause(busy, max_workers=2, waiting_new=0) == []
    assert workers_to_pause(busy, max_workers=3, waiting_new=1) == []  # a third worker will be started for it
    assert workers_to_pause(busy, max_workers=3, waiting_new=2) == busy[:1]
    starting = [worker(), worker(ready=False, busy=False)]
    assert workers_to_pause(starting, max_workers=2, waiting_new=1) == []  # the starting one takes it
    assert workers_to_pause(starting, max_workers=2, waiting_new=28) == starting[:1]  # but not all 28
    stopping = [worker(stopping=True), worker()]
    assert workers_to_pause(stopping, max_workers=2, waiting_new=2) == stopping[1:]
