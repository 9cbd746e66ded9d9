"""The instrumented trainer: events, throttling, stop, NaN, determinism, resume."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.live_fit import CHECKPOINT_FILE, CHECKPOINT_STATE_FILE
from ae_core.progress import BATCH_EVENTS_PER_SECOND, SNAPSHOT_SECONDS, LiveProgress
from ae_core.training import NUM_RECONSTRUCTIONS, psnr_from_mse
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
    assert "NaN" in result.message or "infinite" in result.message
    assert "lower learning rate" in result.message
    assert events[-1]["status"] == "failed" and events[-1]["message"] == result.message


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
    assert (tmp_path / CHECKPOINT_FILE).is_file() and (tmp_path / CHECKPOINT_STATE_FILE).is_file()
    resumed, events = run(tiny(num_epochs=3), checkpoint_dir=tmp_path, resume=True)
    assert events[0]["initial_epoch"] == 1
    assert [event["epoch"] for event in events if event["type"] == "epoch"] == [2, 3]
    assert resumed.metrics["epochs_completed"] == 3
    assert resumed.metrics["test_loss"] < first.metrics["test_loss"]


class _Identity:
    """Stands in for the model bundle: reconstruction = input, code = the first 2 pixels."""

    def autoencoder(self, images, training=False):
        return images

    def encoder(self, images, training=False):
        return images.reshape(len(images), -1)[:, :2]


def _live_progress(events: list, clock) -> LiveProgress:
    images = np.zeros((20, 28, 28, 1), dtype=np.uint8)
    progress = LiveProgress(_Identity(), events.append, lambda: False, steps_per_epoch=1000,
                            recon_images=images[:16], recon_indices=np.arange(16), latent_images=images,
                            latent_labels=np.zeros(20, dtype=int), latent_indices=np.arange(20), clock=clock)
    progress.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    return progress


def test_batch_events_are_throttled_and_snapshots_come_every_few_seconds() -> None:
    now = {"t": 0.0}
    events: list[dict] = []
    progress = _live_progress(events, lambda: now["t"])
    for batch in range(1000):  # 10 simulated seconds of 10 ms batches
        now["t"] += 0.01
        progress.on_train_batch_end(batch, {"loss": 1.0})
    batches = [event for event in events if event["type"] == "batch"]
    assert 10 * BATCH_EVENTS_PER_SECOND - 1 <= len(batches) <= 10 * BATCH_EVENTS_PER_SECOND + 1
    snapshots = [event for event in events if event["type"] == "latent"]
    assert len(snapshots) == int(10 / SNAPSHOT_SECONDS)
    assert progress.step == 1000 and batches[-1]["step"] >= 1000 - 100 / BATCH_EVENTS_PER_SECOND


def test_a_nan_batch_stops_training_through_stop_training() -> None:
    events: list[dict] = []
    progress = _live_progress(events, lambda: 0.0)
    progress.on_train_batch_end(0, {"loss": float("nan")})
    assert progress.model.stop_training is True
    assert "NaN" in progress.failure
    assert events == []
