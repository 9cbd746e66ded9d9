"""AppTest checks of the diagnostics on the Train and Runs pages, with the fake job manager."""

from __future__ import annotations

from ae_core.config import ModelConfig, TrainConfig
from ae_core.store.records import RunStatus
from tests.fake_jobs import FakeJobManager
from tests.test_app import assert_clean, run_app, texts, training_run

DEAD = "24 of 32 code dimensions are dead"


def kill_most_of_the_code(fake: FakeJobManager, run_id: str) -> None:
    latent = fake.snapshots[(run_id, "latent")]
    latent["codes"][:, :24] = 0.0


def test_the_train_page_says_a_finding_in_plain_words(fake: FakeJobManager) -> None:
    run_id = training_run(fake, TrainConfig())
    app = run_app({"run_id": run_id})
    assert_clean(app)
    assert DEAD not in texts(app.warning)  # a healthy run: nothing
    fake.advance(run_id)
    kill_most_of_the_code(fake, run_id)
    app.run()
    assert_clean(app)
    warning = texts(app.warning)
    assert f"{DEAD}: zero for every validation image" in warning
    assert "leaky_relu" in warning  # what to try comes with it


def test_findings_are_judged_again_only_when_an_epoch_ends(fake: FakeJobManager) -> None:
    run_id = training_run(fake, TrainConfig())
    app = run_app({"run_id": run_id})
    reads = len(fake.called("latest_snapshot"))
    app.run()
    # A rerun with nothing new reads only the two snapshots the pictures show.
    assert len(fake.called("latest_snapshot")) - reads == 2
    kill_most_of_the_code(fake, run_id)  # the same epoch's snapshot changed: not judged again yet
    app.run()
    assert DEAD not in texts(app.warning)
    fake.advance(run_id, batches=2, end_epoch=False)
    kill_most_of_the_code(fake, run_id)
    app.run()
    assert DEAD not in texts(app.warning)
    fake.set_status(run_id, RunStatus.FINISHED)  # the run's end is judged with its last snapshots
    app.run()
    assert DEAD in texts(app.warning)


def test_the_identity_risk_shows_from_the_start_and_on_the_runs_page(fake: FakeJobManager) -> None:
    copier = TrainConfig(model=ModelConfig(latent_dim=1024))
    run_id = fake.add_run(copier)
    app = run_app({"run_id": run_id})
    assert_clean(app)
    assert "it can copy pixels without learning anything" in texts(app.warning)
    fake.set_status(run_id, RunStatus.FINISHED)
    app.switch_page("app_pages/runs.py").run()
    assert_clean(app)
    assert "it can copy pixels without learning anything" in texts(app.warning)


def test_a_classifier_run_gets_no_autoencoder_diagnostics(fake: FakeJobManager) -> None:
    run_id = training_run(fake, TrainConfig(model=ModelConfig(latent_dim=1024), task="classify"))
    app = run_app({"run_id": run_id})
    assert_clean(app)
    assert not app.warning
