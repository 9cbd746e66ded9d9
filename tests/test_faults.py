"""A real store damaged in every way we have seen: each page still renders, every healthy run still lists.

Each test builds a store of healthy runs with ``RunStore``, damages it (a config.json that
cannot be parsed, metric rows and results that are not numbers, a timestamp that is text,
a lost ``lab.sqlite3``, leftover partial files of a killed save), then opens a real
``JobManager`` on it (no worker is started: nothing is queued) and visits every page
with ``AppTest``. A person must never see an exception, and one bad run must never hide
the others.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so a spawned worker could import fake_trainer

from ae_core.config import ModelConfig, TrainConfig  # noqa: E402
from ae_core.service.jobs import JobManager  # noqa: E402
from ae_core.store import RunStatus, RunStore  # noqa: E402
from ae_core.store.store import DB_FILENAME  # noqa: E402
from ae_lab_ui import services  # noqa: E402
from tests.fake_jobs import FakeJobManager  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
# Explore, Compare and Classify first: the Train and Runs pages put the opened run in the URL.
PAGES = ("app_pages/explore.py", "app_pages/compare.py", "app_pages/classify.py", "app_pages/train.py",
         "app_pages/runs.py")
OWNER = "cd" * 16
AUTOENCODER = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=4, hidden_sizes=(8,)),
                          num_epochs=2, batch_size=32, train_limit=128)
CLASSIFIER = TrainConfig(dataset="mnist_sample", task="classify", num_epochs=2, batch_size=32, train_limit=128)
RESULT = {"test_loss": 0.1, "test_mse": 0.01, "test_psnr": 20.0, "seconds": 3.0, "samples_per_second": 90.0,
          "epochs_completed": 2.0}


def ended(store: RunStore, config: TrainConfig = AUTOENCODER, status: RunStatus = RunStatus.FINISHED,
          result: dict | None = None) -> str:
    """A run that trained two epochs (with its metric rows) and ended with ``status``."""
    run_id = store.create_run(config, owner=OWNER)
    assert store.lifecycle.claim(run_id, OWNER, worker_pid=None)
    second = "accuracy" if config.task == "classify" else "mse"
    for epoch in (1, 2):
        store.append_metrics(run_id, [{"kind": "batch", "key": "loss", "value": 0.3 / epoch, "epoch": epoch - 1,
                                       "step": 4 * epoch, "time": 0.1 * epoch}] + [
            {"kind": "epoch", "key": key, "value": 0.2 / epoch, "epoch": epoch, "step": 4 * epoch,
             "time": 0.1 * epoch} for key in ("loss", "val_loss", second, "val_" + second)],
            progress={"epoch": epoch, "step": 4 * epoch, "num_epochs": 2, "steps_per_epoch": 4})
    assert store.lifecycle.finish(run_id, status, "" if status is RunStatus.FINISHED else "It stopped.",
                                  result if result is not None else (RESULT if status is RunStatus.FINISHED else None))
    return run_id


def sql(store: RunStore, statement: str, *args: object) -> None:
    with sqlite3.connect(store.db.path) as db:
        db.execute(statement, args)


# --- the damages: each makes one or more runs and damages them; it returns the ids to open ---------

def config_bytes(raw: bytes) -> Callable[[RunStore], list[str]]:
    def damage(store: RunStore) -> list[str]:
        run_id = ended(store)
        store.folder(run_id).config_path.write_bytes(raw)
        return [run_id]
    return damage


def _config_with(key: str, raw: str) -> bytes:
    data = AUTOENCODER.to_dict()
    return json.dumps(data).replace(f'"{key}": {json.dumps(data[key])}', f'"{key}": {raw}').encode()


def missing_config(store: RunStore) -> list[str]:
    run_id = ended(store)
    store.folder(run_id).config_path.unlink()
    return [run_id]


def text_created_at(store: RunStore) -> list[str]:
    run_id = ended(store)
    sql(store, "UPDATE runs SET created_at = 'abc', started_at = 'x', finished_at = 'y' WHERE run_id = ?", run_id)
    return [run_id]


def unknown_status(store: RunStore) -> list[str]:
    run_id = ended(store)
    sql(store, "UPDATE runs SET status = 'EXPLODED' WHERE run_id = ?", run_id)
    return [run_id]


def bad_metric_rows(store: RunStore) -> list[str]:
    run_id = ended(store)
    for seq, value, epoch, step, when in ((90, "abc", 0, 9, 0.9), (91, 0.1, "x", 9, 0.9), (92, 0.1, 0, "s", 0.9),
                                          (93, 0.1, 0, 9, "later"), (94, 0.1, 2, 9, 0.9)):
        sql(store, "INSERT INTO metrics VALUES (?, ?, 'epoch', 'val_loss', ?, ?, ?, ?)",
            run_id, seq, value, epoch, step, when)
    sql(store, "INSERT INTO metrics VALUES (?, 'x', 'batch', 'loss', 0.1, 0, 9, 0.9)", run_id)
    return [run_id]


def bad_results(store: RunStore) -> list[str]:
    autoencoder = ended(store)
    sql(store, "UPDATE runs SET result = ? WHERE run_id = ?",
        '{"test_mse": "abc", "test_psnr": "abc", "test_loss": [1], "seconds": "x"}', autoencoder)
    classifier = ended(store, CLASSIFIER)
    sql(store, "UPDATE runs SET result = ? WHERE run_id = ?",
        '{"test_accuracy": "abc", "test_loss": "x", "confusion": [["a", 1], [2]], "num_train": "x", '
        '"num_test": "y", "seconds": "z"}', classifier)
    return [autoencoder, classifier]


def bad_progress(store: RunStore) -> list[str]:
    running_once = ended(store, status=RunStatus.INTERRUPTED)
    sql(store, "UPDATE runs SET progress = ? WHERE run_id = ?",
        '{"epoch": "abc", "step": "x", "num_epochs": "ten", "steps_per_epoch": [4]}', running_once)
    unreadable = ended(store)
    sql(store, "UPDATE runs SET progress = '{not json' WHERE run_id = ?", unreadable)
    return [running_once, unreadable]


def leftover_partials(store: RunStore) -> list[str]:
    run_id = ended(store, status=RunStatus.INTERRUPTED)
    checkpoint = store.folder(run_id).checkpoint
    checkpoint.save(lambda path: path.write_bytes(b"model of epoch 1"), 1)
    for name in ("partial-checkpoint.keras", ".partial-checkpoint.partial.keras"):
        (checkpoint.directory / name).write_bytes(b"half a model")
    return [run_id]


# name: (damage, whether its runs still list among the healthy ones)
DAMAGES: dict[str, tuple[Callable[[RunStore], list[str]], bool]] = {
    "config: a 400-digit learning rate": (config_bytes(_config_with("learning_rate", "1" * 400)), False),
    "config: 100,000-deep JSON": (config_bytes(b"[" * 100_000 + b"]" * 100_000), False),
    "config: a deep value": (config_bytes(_config_with("seed", "{\"a\": " * 30_000 + "1" + "}" * 30_000)), False),
    "config: an enormous file": (config_bytes(b'{"dataset": "' + b"x" * 3_000_000 + b'"}'), False),
    "config: not JSON": (config_bytes(b"\xff{ not json"), False),
    "config: missing": (missing_config, False),
    "created_at is text": (text_created_at, False),
    "an unknown status": (unknown_status, False),
    "metric rows that are not numbers": (bad_metric_rows, True),
    "results that are not numbers": (bad_results, True),
    "progress that is not numbers": (bad_progress, True),
    "leftover partial files": (leftover_partials, True),
}


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], JobManager]]:
    """``open_lab()`` starts a real manager on ``tmp_path`` and puts it behind the app; shut down after."""
    from ae_core.data import datasets

    monkeypatch.setattr(datasets, "is_available_offline", lambda name: name == "mnist_sample")
    managers: list[JobManager] = []

    def open_lab() -> JobManager:
        managers.append(JobManager(home=tmp_path, warm_workers=0, max_concurrent=1, trainer="fake_trainer:train",
                                   warmup=False))
        services.inject_manager(managers[-1])
        return managers[-1]

    yield open_lab
    services.inject_manager(None)
    for manager in managers:
        manager.shutdown()


def visit(app: AppTest, page: str, run_id: str | None) -> AppTest:
    if run_id is not None and page in ("app_pages/train.py", "app_pages/runs.py"):
        app.query_params["run_id"] = run_id
    app.switch_page(page).run()
    shown = [str(element.value) for kind in ("error", "warning", "info", "markdown", "caption")
             for element in app.get(kind)]
    assert not app.exception, (page, [item.value for item in app.exception])
    assert not [text for text in shown if "Could not list the runs" in text or "Traceback" in text], (page, shown)
    return app


def visit_every_page(open_run: str | None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    for page in PAGES:
        visit(app, page, open_run)
    return app


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_every_page_renders_and_the_healthy_runs_still_list(lab: Callable[[], JobManager], tmp_path: Path,
                                                            damage: str) -> None:
    store = RunStore(tmp_path)
    healthy = [ended(store), ended(store, status=RunStatus.FAILED), ended(store, CLASSIFIER, result={
        "test_loss": 0.3, "test_accuracy": 0.9, "confusion": [[5, 1], [0, 4]], "num_train": 128.0, "num_test": 10.0,
        "seconds": 2.0})]
    make, still_listed = DAMAGES[damage]
    damaged = make(store)  # the newest runs, so each page opens one of them by default
    manager = lab()
    expected = healthy + damaged if still_listed else healthy
    app = visit_every_page(damaged[0])
    assert len(app.dataframe[0].value) == len(expected)  # the Runs table: every readable run
    assert {r.run_id for r in manager.list_runs()} == set(expected)
    assert {run_id for run_id, _ in manager.damaged_runs()} == (set() if still_listed else set(damaged))
    unreadable = [expander for expander in app.expander if "cannot be read" in expander.label]
    if still_listed:
        assert not unreadable
    else:  # a damaged run is named on the Runs page with its reason, so it can be deleted there
        named = "\n".join(str(element.value) for element in unreadable[0].markdown)
        assert all(run_id in named for run_id in damaged) and str(tmp_path) not in named
    if len(damaged) > 1:
        visit(app, "app_pages/runs.py", damaged[1])
        visit(app, "app_pages/train.py", damaged[1])


def test_a_damaged_run_is_deleted_from_the_runs_page(lab: Callable[[], JobManager], tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    healthy = ended(store)
    bad_config, bad_status = ended(store), ended(store, status=RunStatus.FAILED)
    store.folder(bad_config).config_path.write_bytes(b"[" * 100_000)
    sql(store, "UPDATE runs SET status = 'EXPLODED' WHERE run_id = ?", bad_status)
    manager = lab()
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    visit(app, "app_pages/runs.py", None)
    page_text = "\n".join(str(element.value) for element in app.get("markdown"))
    assert bad_config in page_text and bad_status in page_text and "config.json" in page_text
    assert str(tmp_path) not in page_text  # no server paths in the browser
    for run_id in (bad_config, bad_status):
        app.button(key=f"runs_damaged_delete_{run_id}").click().run()
        assert not app.exception
        app.button(key="runs_damaged_yes").click().run()
        assert not app.exception and not app.error, [e.value for e in app.error]
        assert not store.folder(run_id).path.exists()
    assert manager.damaged_runs() == [] and [r.run_id for r in manager.list_runs()] == [healthy]
    assert not app.get("expander") or all("damaged" not in str(e.label) for e in app.get("expander"))


def test_a_lost_database_is_rebuilt_and_every_page_renders(lab: Callable[[], JobManager], tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    finished, stopped, failed, no_config = ended(store), ended(store), ended(store, CLASSIFIER), ended(store)
    store.folder(finished).model_path.write_bytes(b"not really a model")
    store.folder(stopped).checkpoint.save(lambda path: path.write_bytes(b"model"), 1)
    store.folder(no_config).config_path.unlink()
    store.db.close()
    for name in (DB_FILENAME, f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    manager = lab()
    statuses = {r.run_id: r.status for r in manager.list_runs()}
    assert statuses == {finished: RunStatus.FINISHED, stopped: RunStatus.INTERRUPTED, failed: RunStatus.FAILED}
    assert [run_id for run_id, _ in manager.damaged_runs()] == [no_config]
    app = visit_every_page(stopped)
    assert len(app.dataframe[0].value) == 3
    assert "rebuilt" in "\n".join(str(element.value) for element in app.get("markdown") + app.get("caption")
                                  + app.get("warning") + app.get("info") + app.get("error"))
    assert manager.latest_model_path(stopped) == store.folder(stopped).checkpoint.model_path  # so it can resume


def test_the_damaged_runs_section_asks_before_deleting_and_shows_a_refusal(fake: FakeJobManager) -> None:
    healthy = fake.add_run(AUTOENCODER, status=RunStatus.FINISHED, result=RESULT)
    damaged = fake.add_damaged("config.json is not a valid config: learning_rate must be at most 10; got *1e9*")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    visit(app, "app_pages/runs.py", None)
    [section] = [expander for expander in app.expander if expander.label == "1 run cannot be read"]
    assert "got \\*1e9\\*" in section.markdown[0].value  # a quoted value is not markdown
    app.button(key=f"runs_damaged_delete_{damaged}").click().run()
    app.button(key="runs_damaged_keep").click().run()
    assert fake.called("delete") == [] and app.button(key=f"runs_damaged_delete_{damaged}") is not None
    fake.fail("delete", OSError("disk is read-only"))
    app.button(key=f"runs_damaged_delete_{damaged}").click().run()
    app.button(key="runs_damaged_yes").click().run()
    assert not app.exception and "Could not delete the damaged run" in app.error[0].value
    fake.fail("delete", None)
    app.button(key=f"runs_damaged_delete_{damaged}").click().run()
    app.button(key="runs_damaged_yes").click().run()
    assert fake.called("delete")[-1] == (damaged,) and fake.damaged_runs() == []
    assert not [expander for expander in app.expander if "cannot be read" in expander.label]
    assert [r.run_id for r in fake.list_runs()] == [healthy]
