"""The instrumented trainer and its live callbacks: events, throttling, stop, NaN, determinism, resume."""

from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.store import Checkpoint
from ae_core.store.layout import CHECKPOINT_MODEL_FILENAME, CHECKPOINT_STATE_FILENAME
from ae_core.training.callbacks import (BATCH_EVENTS_PER_SECOND, DIVERGED, DIVERGENCE_FACTOR, ENCODE_BATCH,
                                        MSE_LIMIT, SNAPSHOT_SECONDS,
                                        YOUNG_RUN_SECONDS, YOUNG_SNAPSHOT_SECONDS,
                                        MetricEvents, RunState, SnapshotEvents, StopOnRequestOrDivergence)
from ae_core.training.fit import EpochCheckpoint
from ae_core.training.autoencoder import NUM_RECONSTRUCTIONS, psnr_from_mse
from tests.collect import run


def tiny(**changes) -> TrainConfig:
    """A run that takes a second or two: 256 real digits, a small dense model."""
    model = changes.pop("model", ModelConfig(arch="dense", latent_dim=4))
    base = dict(dataset="mnist_sample", model=model, num_epochs=2, batch_size=32, train_limit=256, seed=3)
    base.update(changes)
    return TrainConfig(**base)


def test_events_come_in_order_with_the_documented_fields() -> None:
    result, events = run(tiny())
    kinds = [event["type"] for event in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("epoch") == 2
    start = events[0]
    assert start["steps_per_epoch"] == 8 and start["num_epochs"] == 2 and start["image_shape"] == [28, 28, 1]
    # Every epoch event is followed by a reconstruction and a latent snapshot.
    for index, kind in enumerate(kinds):
        if kind == "epoch":
            assert kinds[index + 1:index + 3] == ["reconstruction", "latent"]
    steps = [event["step"] for event in events if "step" in event]
    assert steps == sorted(steps) and steps[-1] == 16
    epoch = next(event for event in events if event["type"] == "epoch")
    assert {"loss", "val_loss", "mse", "val_mse"} <= set(epoch["metrics"])
    recon = next(event for event in events if event["type"] == "reconstruction")
    assert recon["originals"].shape == recon["reconstructions"].shape == (NUM_RECONSTRUCTIONS, 28, 28, 1)
    assert recon["reconstructions"].dtype == np.uint8 and recon["inputs"] is None
    latent = next(event for event in events if event["type"] == "latent")
    # The sample's validation split holds 400 images (10% of 4,000), all of them mapped.
    assert latent["codes"].shape == (400, 4) and latent["codes"].dtype == np.float32
    assert latent["labels"].shape == (400,) and set(latent["labels"]) == set(range(10))
    assert events[-1] == {**events[-1], "status": "finished", "result": result.metrics}
    assert result.status == "finished" and result.metrics["epochs_completed"] == 2
    assert 0 < result.metrics["test_mse"] < 0.3
    assert result.metrics["test_psnr"] == pytest.approx(psnr_from_mse(result.metrics["test_mse"]))
    assert result.metrics["samples_per_second"] > 0


def test_snapshots_follow_the_same_images_all_run() -> None:
    _, events = run(tiny())
    recons = [event for event in events if event["type"] == "reconstruction"]
    latents = [event for event in events if event["type"] == "latent"]
    assert all(np.array_equal(recons[0]["indices"], event["indices"]) for event in recons)
    assert all(np.array_equal(latents[0]["labels"], event["labels"]) for event in latents)
    assert not np.array_equal(recons[0]["reconstructions"], recons[-1]["reconstructions"])


def test_same_seed_gives_the_same_run_and_another_seed_does_not() -> None:
    first, _ = run(tiny())
    again, _ = run(tiny())
    other, _ = run(tiny(seed=4))
    assert first.metrics["test_loss"] == again.metrics["test_loss"]
    assert other.metrics["test_loss"] != first.metrics["test_loss"]


def test_stop_request_ends_the_run_cleanly_at_the_next_batches() -> None:
    calls = {"count": 0}

    def should_stop() -> bool:
        calls["count"] += 1
        return calls["count"] >= 2

    result, events = run(tiny(num_epochs=5), should_stop=should_stop)
    assert result.status == "stopped"
    assert events[-1]["status"] == "stopped"
    assert result.metrics["epochs_completed"] == 0
    assert "test_mse" not in result.metrics
    assert not [event for event in events if event["type"] == "epoch"]


def test_a_diverging_loss_fails_the_run_with_a_readable_message() -> None:
    exploding = ModelConfig(arch="dense", latent_dim=256, loss="mse", activation="linear", output_activation="linear")
    result, events = run(tiny(model=exploding, optimizer="sgd", learning_rate=10.0, batch_size=64, train_limit=512))
    assert result.status == "failed"
    assert re.search(r"The loss (became NaN|became infinite|grew to \S+) at epoch \d+, step \d+", result.message)
    assert "lower learning rate" in result.message
    assert events[-1]["status"] == "failed" and events[-1]["message"] == result.message


def test_a_loss_that_runs_away_but_stays_finite_fails_the_run() -> None:
    # Adam at learning rate 10 with a linear output stayed finite (test MSE 5.9e6) and used to
    # end as FINISHED.
    linear = ModelConfig(arch="dense", latent_dim=32, loss="mse", output_activation="linear")
    result, events = run(tiny(model=linear, optimizer="adam", learning_rate=10.0, num_epochs=3))
    assert result.status == "failed"
    assert re.fullmatch(rf"The reconstruction error \(MSE\) reached \S+ at epoch 1, step \d+, above 1, the most two "
                        rf"images with pixels between 0 and 1 can differ\. {re.escape(DIVERGED)}", result.message)
    assert events[-1]["status"] == "failed"


def test_the_divergence_bound_is_ten_times_the_first_loss() -> None:
    state, callbacks = _live([], _Clock())
    for batch, loss in enumerate((0.5, 0.2, 0.5 * DIVERGENCE_FACTOR)):  # up to the bound: still training
        callbacks.on_train_batch_end(batch, {"loss": loss})
    assert state.failure is None and not callbacks.model.stop_training
    callbacks.on_train_batch_end(3, {"loss": 5.01})
    assert callbacks.model.stop_training is True
    assert state.failure == (f"The loss grew to 5.01 at epoch 1, step 4, more than 10 times its first value (0.5). "
                             f"{DIVERGED}")
    # A reconstruction MSE above MSE_LIMIT has diverged whatever the loss did before.
    state, callbacks = _live([], _Clock())
    callbacks.on_train_batch_end(0, {"loss": 2e8, "mse": MSE_LIMIT})
    assert state.failure is None
    callbacks.on_train_batch_end(1, {"loss": 300.0, "mse": 300.0})
    assert state.failure.startswith("The reconstruction error (MSE) reached 300 at epoch 1, step 2, above 1,")


def test_denoising_snapshots_include_the_noisy_inputs() -> None:
    denoising = ModelConfig(arch="dense", latent_dim=4, noise="masking", noise_level=0.5)
    _, events = run(tiny(model=denoising, num_epochs=1))
    recon = next(event for event in events if event["type"] == "reconstruction")
    assert recon["inputs"].shape == recon["originals"].shape
    # Masking noise only ever turns pixels off.
    assert (recon["inputs"] <= recon["originals"]).all() and (recon["inputs"] < recon["originals"]).any()


def test_vae_epochs_report_reconstruction_and_kl_losses() -> None:
    vae = ModelConfig(arch="vae", latent_dim=2, hidden_sizes=(32,))
    result, events = run(tiny(model=vae, num_epochs=1))
    metrics = next(event for event in events if event["type"] == "epoch")["metrics"]
    assert {"reconstruction_loss", "kl_loss", "val_reconstruction_loss", "val_kl_loss"} <= set(metrics)
    assert result.status == "finished" and math.isfinite(result.metrics["test_mse"])


def test_checkpoints_each_epoch_and_resumes_from_the_last(tmp_path) -> None:
    first, _ = run(tiny(num_epochs=1), checkpoint_dir=tmp_path)
    assert (tmp_path / CHECKPOINT_MODEL_FILENAME).is_file() and (tmp_path / CHECKPOINT_STATE_FILENAME).is_file()
    resumed, events = run(tiny(num_epochs=3), checkpoint_dir=tmp_path, resume=True)
    assert events[0]["initial_epoch"] == 1
    assert [event["epoch"] for event in events if event["type"] == "epoch"] == [2, 3]
    assert resumed.metrics["epochs_completed"] == 3
    assert resumed.metrics["test_loss"] < first.metrics["test_loss"]


def test_a_pause_ends_the_run_after_an_epoch_and_its_checkpoint_and_it_goes_on_from_there(tmp_path) -> None:
    paused, events = run(tiny(num_epochs=3), checkpoint_dir=tmp_path, should_pause=lambda: True)
    assert (paused.status, paused.message) == ("paused", "Paused after epoch 1, so that a waiting run could start.")
    assert [event["epoch"] for event in events if event["type"] == "epoch"] == [1]
    assert json.loads((tmp_path / CHECKPOINT_STATE_FILENAME).read_text())["epoch"] == 1
    # Each slice goes on from the last; the last epoch end never pauses, so the run finishes.
    for status, epoch in (("paused", 2), ("finished", 3)):
        result, events = run(tiny(num_epochs=3), checkpoint_dir=tmp_path, resume=True, should_pause=lambda: True)
        assert result.status == status
        assert [event["epoch"] for event in events if event["type"] == "epoch"] == [epoch]
    assert result.metrics["epochs_completed"] == 3 and "test_mse" in result.metrics


# -- the live callbacks, one at a time, on a fake clock and a stand-in model ----------------------------
class _Clock:
    """Monotonic seconds that a test moves by hand."""

    now = 0.0

    def __call__(self) -> float:
        return self.now


def _model() -> SimpleNamespace:
    """Stands in for the Keras model a callback is set on: only ``stop_training`` is used."""
    return SimpleNamespace(stop_training=False)


class _Identity:
    """Stands in for the model bundle: reconstruction = input, code = the first 2 pixels.

    Each reconstruction moves ``clock`` on by ``cost`` seconds, as a big model would.
    """

    config = ModelConfig(latent_dim=2)

    def __init__(self, clock: _Clock | None = None, cost: float = 0.0) -> None:
        self.clock, self.cost = clock, cost

    def autoencoder(self, images, training=False):
        if self.clock is not None:
            self.clock.now += self.cost
        return images

    def encoder(self, images, training=False):
        return images.reshape(len(images), -1)[:, :2]


def _live(events: list, clock: _Clock, should_stop=lambda: False, *, steps_per_epoch: int = 1000,
          bundle: _Identity | None = None, images: np.ndarray | None = None,
          corrupt=None) -> tuple[RunState, keras.callbacks.CallbackList]:
    """A run's state and its three live callbacks, in the trainer's order, as ``fit`` calls them."""
    state = RunState(steps_per_epoch, clock=clock)
    images = np.zeros((20, 28, 28, 1), dtype=np.uint8) if images is None else images
    snapshots = SnapshotEvents(state, bundle or _Identity(), events.append, images=images,
                               labels=np.arange(len(images)) % 10, recon_indices=np.arange(16),
                               latent_indices=np.arange(len(images)), corrupt=corrupt)
    callbacks = [StopOnRequestOrDivergence(state, should_stop), MetricEvents(state, events.append), snapshots]
    return state, keras.callbacks.CallbackList(callbacks, model=_model())


def test_batch_events_are_throttled_and_snapshots_come_every_few_seconds() -> None:
    clock, events = _Clock(), []
    state, callbacks = _live(events, clock)
    for batch in range(1000):  # 10 simulated seconds of 10 ms batches
        clock.now += 0.01
        callbacks.on_train_batch_end(batch, {"loss": 1.0})
    batches = [event for event in events if event["type"] == "batch"]
    assert 10 * BATCH_EVENTS_PER_SECOND - 1 <= len(batches) <= 10 * BATCH_EVENTS_PER_SECOND + 1
    snapshots = [event for event in events if event["type"] == "latent"]
    times = [event["time"] for event in snapshots]
    # The first right after the first batch; every half second while young; then every 3 s.
    assert snapshots[0]["step"] == 1
    young = [t for t in times if t < YOUNG_RUN_SECONDS]
    assert len(young) == int(YOUNG_RUN_SECONDS / YOUNG_SNAPSHOT_SECONDS)
    assert all(later - earlier == pytest.approx(YOUNG_SNAPSHOT_SECONDS, abs=0.011)
               for earlier, later in zip(young, young[1:]))
    grown = [t for t in times if t >= YOUNG_RUN_SECONDS]  # at 6.01 s (half a second after 5.51 s), then 9.01 s
    assert len(grown) == 2 and grown[1] - grown[0] == pytest.approx(SNAPSHOT_SECONDS, abs=0.011)
    assert state.step == 1000 and batches[-1]["step"] >= 1000 - 100 / BATCH_EVENTS_PER_SECOND
    assert list(batches[0]) == ["type", "epoch", "step", "loss", "time"]
    assert (batches[0]["epoch"], batches[0]["step"], batches[0]["loss"]) == (0, 1, 1.0)
    assert batches[0]["time"] == pytest.approx(0.01)


def test_a_nan_batch_stops_training_through_stop_training() -> None:
    polls, events = [], []
    state, callbacks = _live(events, _Clock(), should_stop=lambda: polls.append(1) or False)
    callbacks.on_train_batch_end(0, {"loss": float("nan")})
    assert callbacks.model.stop_training is True
    assert "NaN" in state.failure
    assert state.failure == f"The loss became NaN (not a number) at epoch 1, step 1. {DIVERGED}"
    assert events == [] and polls == []  # a failed batch is not also a stop request
    callbacks.on_epoch_end(0, {"loss": float("nan")})
    assert events == [] and state.epochs_completed == 0 and "step 1." in state.failure


def test_the_step_is_derived_from_the_batch_index_and_clamped_to_the_epoch() -> None:
    # With 4 steps per execution and 10 batches an epoch, Keras reports batches 3, 7 and 11.
    state = RunState(10, clock=_Clock())
    stop = StopOnRequestOrDivergence(state, lambda: False)
    stop.set_model(_model())
    steps = []
    for epoch in range(2):
        stop.on_epoch_begin(epoch)
        for batch in (3, 7, 11):
            stop.on_train_batch_end(batch, {"loss": 0.5})
            steps.append(state.step)
        stop.on_epoch_end(epoch, {"loss": 0.5, "val_loss": 0.6})
    assert steps == [4, 8, 10, 14, 18, 20]
    assert state.epochs_completed == 2 and not state.ended_early and stop.model.stop_training is False


def test_a_stop_request_ends_the_epoch_without_counting_or_reporting_it() -> None:
    answers, events = iter([False, True]), []
    state, callbacks = _live(events, _Clock(), lambda: next(answers))
    callbacks.on_epoch_begin(0)
    callbacks.on_train_batch_end(0, {"loss": 1.0})
    sent = len(events)
    callbacks.on_train_batch_end(1, {"loss": 1.0})
    assert state.stopped and callbacks.model.stop_training is True and state.failure is None
    # Keras still validates and ends the epoch; a NaN there does not turn the stop into a failure.
    callbacks.on_epoch_end(0, {"loss": 1.0, "val_loss": float("nan")})
    # The first batch sent its batch event and the first snapshots; nothing came after the stop.
    assert [event["type"] for event in events] == ["batch", "reconstruction", "latent"]
    assert len(events) == sent and state.failure is None
    assert (state.step, state.epochs_completed) == (2, 0)


def test_a_non_finite_epoch_metric_fails_the_run_in_plain_words() -> None:
    events = []
    state, callbacks = _live(events, _Clock())
    callbacks.on_epoch_begin(2)
    callbacks.on_epoch_end(2, {"loss": 0.5, "val_loss": float("inf"), "mse": float("nan")})
    # The first bad metric by name is the one named.
    assert state.failure == f"The mse became NaN (not a number) at the end of epoch 3. {DIVERGED}"
    assert callbacks.model.stop_training is True and state.epochs_completed == 0 and events == []
    callbacks.on_epoch_end(3, {"loss": float("inf")})
    assert "mse" in state.failure  # the first failure stands


def test_the_run_state_starts_where_a_resumed_run_left_off_and_refuses_nonsense() -> None:
    clock = _Clock()
    clock.now = 100.0
    state = RunState(8, 2, clock=clock)
    assert (state.epoch, state.step, state.epochs_completed, state.stopped, state.failure) == (2, 16, 2, False, None)
    clock.now = 112.5
    assert state.elapsed() == 12.5
    with pytest.raises(ValueError, match=r"steps_per_epoch must be a whole number of at least 1; got 0"):
        RunState(0)
    with pytest.raises(ValueError, match=r"initial_epoch must be a whole number of at least 0; got -1"):
        RunState(8, -1)


def test_metric_events_send_each_good_epoch_with_its_scalar_metrics_only() -> None:
    clock, events = _Clock(), []
    state = RunState(8, clock=clock)
    metrics = MetricEvents(state, events.append)
    metrics.set_model(_model())
    state.step, clock.now = 8, 2.5
    metrics.on_epoch_end(0, {"loss": np.float32(0.25), "val_loss": 0.5, "confusion": np.zeros((2, 2))})
    assert events == [{"type": "epoch", "epoch": 1, "step": 8, "metrics": {"loss": 0.25, "val_loss": 0.5},
                       "time": 2.5}]
    assert list(events[0]) == ["type", "epoch", "step", "metrics", "time"]
    assert all(type(value) is float for value in events[0]["metrics"].values())
    state.failure = "diverged"
    metrics.on_epoch_end(1, {"loss": 0.2})
    metrics.on_train_batch_end(0, {"loss": 0.2})
    assert len(events) == 1


def test_snapshots_are_spaced_by_their_own_cost() -> None:
    # Batches every 1/8 s; each snapshot takes 0.5 s, so while the run is young the next
    # waits 8 x 0.5 = 4 s (not 0.5), and later 20 x 0.5 = 10 s (not 3).
    clock, events = _Clock(), []
    _, callbacks = _live(events, clock, bundle=_Identity(clock, cost=0.5))
    for batch in range(200):
        clock.now += 0.125
        callbacks.on_train_batch_end(batch, {"loss": 1.0})
    latents = [event for event in events if event["type"] == "latent"]
    assert [event["time"] for event in latents] == [0.625, 5.125, 9.625, 20.125]
    assert [event["step"] for event in latents] == [1, 33, 65, 145]  # the clock also moves by each snapshot's cost


def test_snapshots_follow_each_good_epoch_event_with_every_code() -> None:
    # More images than one encoder batch: the codes come back whole and in order.
    images = np.random.default_rng(0).integers(0, 256, (2 * ENCODE_BATCH + 200, 2, 2, 1), dtype=np.uint8)
    events = []
    _, callbacks = _live(events, _Clock(), images=images, corrupt=lambda batch: batch * 0.0)
    callbacks.on_epoch_begin(0)
    callbacks.on_epoch_end(0, {"loss": 0.5})
    assert [event["type"] for event in events] == ["epoch", "reconstruction", "latent"]
    _, recon, latent = events
    assert list(recon) == ["type", "epoch", "step", "indices", "originals", "inputs", "reconstructions", "time"]
    assert list(latent) == ["type", "epoch", "step", "indices", "codes", "labels", "time"]
    assert recon["epoch"] == latent["epoch"] == 1
    assert np.array_equal(recon["originals"], images[:16]) and np.array_equal(recon["indices"], np.arange(16))
    # The noisy inputs (all black here) go along, and are what the model reconstructs.
    assert recon["inputs"].dtype == np.uint8 and not recon["inputs"].any() and not recon["reconstructions"].any()
    expected = (images.reshape(len(images), -1)[:, :2] / 255.0).astype(np.float32)
    assert latent["codes"].dtype == np.float32 and np.allclose(latent["codes"], expected)
    assert np.array_equal(latent["labels"], np.arange(len(images)) % 10)


def test_the_checkpoint_is_saved_at_good_epoch_ends_only(tmp_path) -> None:
    state, checkpoint = RunState(8, clock=_Clock()), Checkpoint(tmp_path)
    saves = EpochCheckpoint(lambda path: path.write_text("model"), checkpoint, state)
    saves.on_epoch_end(0)
    assert checkpoint.epoch() == 1 and checkpoint.model_path.read_text() == "model"
    state.stopped = True
    saves.on_epoch_end(1)
    state.stopped, state.failure = False, "diverged"
    saves.on_epoch_end(1)
    assert checkpoint.epoch() == 1


def test_a_run_that_paused_here_goes_on_with_its_model_in_memory(tmp_path) -> None:
    paused, _ = run(tiny(num_epochs=3), checkpoint_dir=tmp_path, should_pause=lambda: True)
    finished, _ = run(tiny(num_epochs=3), checkpoint_dir=tmp_path, resume=True)
    assert finished.model is paused.model  # not loaded from the checkpoint again (nor traced again)
    assert finished.metrics["epochs_completed"] == 3
    # A checkpoint that moved on without this process (another worker) is loaded from disk.
    again, _ = run(tiny(num_epochs=4), checkpoint_dir=tmp_path, should_pause=lambda: True)
    run(tiny(num_epochs=4), checkpoint_dir=tmp_path, resume=True, should_pause=lambda: True)  # epoch 2, in memory
    (tmp_path / CHECKPOINT_STATE_FILENAME).write_text(json.dumps({"epoch": 3}))
    assert run(tiny(num_epochs=4), checkpoint_dir=tmp_path, resume=True)[0].model is not again.model
