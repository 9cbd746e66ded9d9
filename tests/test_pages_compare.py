"""AppTest checks of the Compare page and the sweep helpers, with the fake job manager."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.models.zoo import build_autoencoder, save_autoencoder
from ae_core.store.records import RunStatus
from ae_lab_ui import compare, views
from tests.app_elements import charts
from tests.fake_jobs import FakeJobManager
from tests.fragment_spy import FragmentSpy, fragments  # noqa: F401 - the fixture

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "compare.py")
BASE = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=8), num_epochs=3)




def with_latent(config: TrainConfig, size: int) -> TrainConfig:
    return config.replace(model=dataclasses.replace(config.model, latent_dim=size))


def finished(fake: FakeJobManager, tmp_path: Path, config: TrainConfig, mse: float = 0.02) -> str:
    run_id = fake.add_run(config, status=RunStatus.FINISHED, result={"test_mse": mse, "test_psnr": 17.0})
    for _ in range(3):
        fake.advance(run_id)
    path = tmp_path / f"{run_id}.keras"
    save_autoencoder(build_autoencoder(config.model, config.image_shape, seed=0), path)
    fake.model_files[run_id] = path
    return run_id


def assert_clean(app: AppTest) -> None:
    assert not app.exception, [item.value for item in app.exception]
    assert not app.error, [item.value for item in app.error]


def test_sweep_helpers_group_runs_by_everything_but_the_latent_size(fake: FakeJobManager) -> None:
    configs = compare.sweep_configs(BASE)
    assert [config.model.latent_dim for config in configs] == [2, 4, 8, 16, 32, 64]
    assert all(with_latent(config, 8) == BASE for config in configs)
    ids = {size: fake.add_run(with_latent(BASE, size), status=RunStatus.FINISHED, result={"test_mse": 0.1 / size})
           for size in (16, 2, 4)}
    fake.add_run(with_latent(BASE, 32), status=RunStatus.RUNNING)
    fake.add_run(BASE.replace(num_epochs=4), status=RunStatus.FINISHED, result={"test_mse": 0.5})  # another config
    members = compare.sweep_members(fake.list_runs(), BASE)
    assert list(members) == [2, 4, 16, 32] and members[2].run_id == ids[2]
    assert compare.sweep_points(members) == ([2, 4, 16], [0.05, 0.025, 0.1 / 16])
    with pytest.raises(ValueError, match="latent_dim must be a whole number from 1 to 1024"):
        compare.sweep_configs(BASE, (0,))


def test_two_runs_side_by_side(fake: FakeJobManager, tmp_path: Path) -> None:
    first = finished(fake, tmp_path, BASE)
    second = finished(fake, tmp_path, with_latent(BASE, 2).replace(model=ModelConfig(arch="vae", latent_dim=2,
                                                                                     hidden_sizes=(16,))))
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert_clean(app)
    assert set(app.multiselect(key="compare_runs").value) == {first, second}
    found = charts(app)
    # Both runs' train and validation losses share one figure.
    assert len(found["compare_loss"]["data"]) == 4
    assert {"compare_latent_1", "compare_latent_2"} <= set(found)
    assert len(app.get("image")) == 2  # one reconstruction grid per run, of the same images
    assert {trace["name"].rsplit(" · ", 1)[-1] for trace in found["compare_loss"]["data"]} == {"train", "validation"}
    assert found["compare_loss"]["layout"]["yaxis"]["title"]["text"] == "mse"
    app.toggle(key="compare_log_scale").set_value(True).run()
    app.segmented_control(key="compare_metric").set_value("loss").run()
    assert_clean(app)
    loss = charts(app)["compare_loss"]
    assert loss["layout"]["yaxis"]["type"] == "log" and loss["layout"]["yaxis"]["title"]["text"] == "loss"


def test_fewer_than_two_finished_runs_are_explained(fake: FakeJobManager, tmp_path: Path) -> None:
    finished(fake, tmp_path, BASE)
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not app.exception
    assert "Finish at least two runs" in app.info[0].value


def test_the_sweep_queues_the_missing_latent_sizes_and_plots_the_finished(fake: FakeJobManager,
                                                                          tmp_path: Path) -> None:
    base_id = finished(fake, tmp_path, BASE, mse=0.03)
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert_clean(app)
    assert app.selectbox(key="compare_sweep_base").value == base_id
    app.button(key="compare_sweep_start").click().run()
    assert_clean(app)
    # Latent size 8 has its run already; the other five are queued with otherwise equal settings.
    assert sorted(config.model.latent_dim for config in fake.submitted) == [2, 4, 16, 32, 64]
    assert all(with_latent(config, 8) == BASE for config in fake.submitted)
    sweep = charts(app)["compare_sweep_chart"]
    assert sweep["data"][0]["x"] == [8]
    queued = {config.model.latent_dim: run_id for run_id, record in fake.runs.items()
              for config in [record.config] if record.status is RunStatus.QUEUED}
    fake.set_status(queued[2], RunStatus.FINISHED, result={"test_mse": 0.06})
    app.run()
    assert charts(app)["compare_sweep_chart"]["data"][0]["x"] == [2, 8]
    app.button(key="compare_sweep_start").click().run()
    assert len(fake.submitted) == 5  # nothing queued twice


def test_classifier_runs_are_not_offered_for_comparison_or_sweeps(fake: FakeJobManager, tmp_path: Path) -> None:
    from ae_lab_ui import run_models

    autoencoder = finished(fake, tmp_path, BASE)
    cnn = fake.add_run(TrainConfig(task="classify"), status=RunStatus.RUNNING)
    fake.finish_classifier(cnn, accuracy=0.9)
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert_clean(app)
    # One autoencoder is not enough to compare: the finished classifier does not count.
    assert "Finish at least two runs" in app.info[0].value
    assert len(app.selectbox(key="compare_sweep_base").options) == 1  # the autoencoder's settings only
    assert [record.run_id for record in run_models.explorable(fake.list_runs())] == [autoencoder]


def test_the_sweep_polls_from_the_moment_it_is_queued_until_its_last_run_ends(
        fake: FakeJobManager, tmp_path: Path, fragments: FragmentSpy) -> None:
    finished(fake, tmp_path, BASE, mse=0.03)
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert fragments.intervals("sweep_status") == [None]  # nothing of the sweep is active: no polling
    fragments.clear()
    app.button(key="compare_sweep_start").click().run()
    assert_clean(app)
    # The page run that queued the sweep already polls (it once read the runs before queueing them).
    assert fragments.intervals("sweep_status") == [2.0]
    table = app.dataframe[-1].value
    assert list(table["status"]) == ["Queued", "Queued", "Finished", "Queued", "Queued", "Queued"]
    assert list(table["test MSE"]) == ["—", "—", "0.03000", "—", "—", "—"]
    queued = {record.config.model.latent_dim: run_id for run_id, record in fake.runs.items()
              if record.status is RunStatus.QUEUED}
    fake.advance(queued[2])
    fake.set_status(queued[4], RunStatus.FINISHED, result={"test_mse": 0.04})
    reads = len(fake.called("get_run"))
    app.run()
    table = app.dataframe[-1].value
    assert list(table["status"])[:2] == ["Training", "Finished"] and list(table["epochs"])[0] == "1 / 3"
    assert charts(app)["compare_sweep_chart"]["data"][0]["x"] == [4, 8]
    # The sweep's status comes from one read per run, not from listing every run again.
    assert len(fake.called("get_run")) - reads >= 6
    for run_id in queued.values():
        fake.set_status(run_id, RunStatus.FINISHED, result={"test_mse": 0.01})
    fragments.clear()
    app.run()
    assert fragments.intervals("sweep_status") == [None]  # all ended: the polling stops
    assert charts(app)["compare_sweep_chart"]["data"][0]["x"] == [2, 4, 8, 16, 32, 64]


def test_the_pickers_label_each_run_uniquely(fake: FakeJobManager, tmp_path: Path) -> None:
    first = finished(fake, tmp_path, BASE)
    second = finished(fake, tmp_path, BASE)  # the same settings twice
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert_clean(app)
    labels = app.selectbox(key="compare_sweep_base").options
    assert labels == [views.run_label(fake.runs[second]), views.run_label(fake.runs[first])]
    assert len(set(labels)) == 2
    assert set(app.multiselect(key="compare_runs").options) == set(labels)
