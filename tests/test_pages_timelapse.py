"""AppTest checks of the time-lapse on the Train page (an ended run) and the Runs page (any run)."""

from __future__ import annotations

import threading

import pytest

from ae_core.analysis.projection import project_frames
from ae_core.config import ModelConfig, TrainConfig
from ae_core.store.records import RunStatus
from ae_lab_ui import timelapse
from ae_lab_ui.timelapse_jobs import TimelapseProjections
from tests.app_elements import charts
from tests.fake_jobs import FakeJobManager
from tests.test_app import assert_clean, run_app, texts, training_run

CONFIG = TrainConfig(model=ModelConfig(arch="dense", latent_dim=8, hidden_sizes=(64,)))


def ended_run(fake: FakeJobManager, snapshots: int = 4) -> str:
    run_id = training_run(fake, CONFIG, steps=snapshots)
    fake.set_status(run_id, RunStatus.FINISHED, result={"test_mse": 0.02, "test_psnr": 17.0})
    return run_id


def progress_texts(app) -> str:  # noqa: ANN001 - an AppTest
    return " ".join(bar.proto.text for bar in app.get("progress"))


def test_an_ended_run_on_the_train_page_replays_its_snapshots(fake: FakeJobManager) -> None:
    run_id = ended_run(fake, snapshots=4)
    app = run_app({"run_id": run_id})
    assert_clean(app)
    figure = charts(app)["train_timelapse_chart"]
    assert len(figure["frames"]) == 4 and len(figure["layout"]["sliders"][0]["steps"]) == 4
    assert figure["layout"]["title"]["text"].startswith("Time-lapse · PCA · epoch 4")
    assert app.segmented_control(key="train_timelapse_method_nd").options == ["PCA", "t-SNE", "UMAP"]
    assert app.get("download_button")[0].proto.label == "Download as GIF"


def test_a_training_run_has_no_time_lapse_on_the_train_page_yet(fake: FakeJobManager) -> None:
    app = run_app({"run_id": training_run(fake, CONFIG)})
    assert_clean(app)
    assert "train_timelapse_chart" not in charts(app) and "train_latent_chart" in charts(app)


def test_the_runs_page_shows_any_runs_time_lapse_and_says_when_there_is_none(fake: FakeJobManager) -> None:
    old = fake.add_run(CONFIG, status=RunStatus.FINISHED)  # trained before the time-lapse existed
    fake.fail("snapshot_history", OSError("the disk is gone"))
    app = run_app()
    app.switch_page("app_pages/runs.py").run()
    app.selectbox(key="runs_selected").set_value(old).run()
    assert_clean(app)
    assert "Could not read the time-lapse" in texts(app.error)
    fake.fail("snapshot_history", None)
    app.run()
    assert "kept no time-lapse" in texts(app.info)
    active = training_run(fake, CONFIG)
    app.run()
    app.selectbox(key="runs_selected").set_value(active).run()
    assert "appears here once it has ended" in texts(app.info) and "runs_timelapse_chart" not in charts(app)
    fake.set_status(active, RunStatus.CANCELLED)  # a stopped run has a time-lapse of what it trained
    app.run()
    assert len(charts(app)["runs_timelapse_chart"]["frames"]) == 2


def test_a_slow_projection_is_computed_in_the_background_and_picked_up_when_ready(
        fake: FakeJobManager, monkeypatch: pytest.MonkeyPatch) -> None:
    release, calls = threading.Event(), []

    def slow(frames, method, *, on_frame):  # noqa: ANN001 - project_frames's signature
        calls.append(method)
        release.wait(10)
        return project_frames(frames, "pca")

    projections = TimelapseProjections(slow)
    monkeypatch.setattr(timelapse, "shared_projections", lambda: projections)
    run_id = ended_run(fake, snapshots=3)
    app = run_app()
    app.switch_page("app_pages/runs.py").run()
    app.selectbox(key="runs_selected").set_value(run_id).run()
    app.segmented_control(key="runs_timelapse_method_nd").set_value("tsne").run()
    assert_clean(app)
    # Meanwhile: how far it got, and the PCA time-lapse.
    assert "Computing the t-SNE of all 3 frames in the background: 0 done" in progress_texts(app)
    assert "· PCA ·" in charts(app)["runs_timelapse_chart"]["layout"]["title"]["text"]
    app.run()  # another look (a second session would do the same) starts nothing new
    release.set()
    path = fake.projection_cache_path(run_id, "tsne")
    assert next(iter(projections._jobs.values())).finished.wait(10) and path.is_file()
    app.run()
    assert_clean(app)
    assert "· t-SNE ·" in charts(app)["runs_timelapse_chart"]["layout"]["title"]["text"]
    assert calls == ["tsne"] and "Computing" not in progress_texts(app)
