"""The classifier trainer and the classify fields of TrainConfig."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.errors import RunNotFound
from ae_core.service.sinks import _plain
from tests.collect import run

SOURCE_ID = "ab" * 16


def tiny(**changes) -> TrainConfig:
    """A classify run of a second or two: 256 real digits, batches of 32."""
    base = dict(dataset="mnist_sample", task="classify", num_epochs=1, batch_size=32, train_limit=256, seed=1)
    base.update(changes)
    return TrainConfig(**base)


# -- config ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("changes", "message"), [
    ({"task": "segment"}, r"task must be one of 'reconstruct', 'classify'; got 'segment'"),
    ({"task": "classify", "classifier": "svm"}, r"classifier must be one of 'cnn', 'encoder_head'"),
    ({"task": "classify", "augment": ("zoom",)}, r"augment must be a list of distinct names drawn from 'crop'"),
    ({"task": "classify", "augment": ("flip", "flip")}, r"augment must be a list of distinct names"),
    ({"task": "classify", "augment": "flip"}, r"augment must be a list"),
    ({"task": "classify", "classifier": "encoder_head", "source_run_id": "../etc"},
     r"source_run_id must be a run id of 32 lowercase hex digits"),
    ({"task": "classify", "classifier": "encoder_head"}, r"source_run_id must be the id of a finished autoencoder run"),
    ({"task": "classify", "source_run_id": SOURCE_ID}, r"source_run_id must be null for classifier 'cnn'"),
    ({"augment": ("crop",)}, r"augment must be empty for task 'reconstruct'"),
    ({"source_run_id": SOURCE_ID}, r"source_run_id must be null for task 'reconstruct'"),
    ({"task": "classify", "exclude_class": 3}, r"exclude_class must be null for task 'classify'"),
])
def test_bad_classify_settings_name_the_field_and_the_allowed_values(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_classify_configs_round_trip_and_old_configs_still_load() -> None:
    config = TrainConfig(task="classify", classifier="encoder_head", source_run_id=SOURCE_ID, augment=("crop", "flip"))
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.augment == ("crop", "flip")
    old = TrainConfig().to_dict()
    for name in ("task", "classifier", "augment", "source_run_id"):
        del old[name]
    loaded = TrainConfig.from_dict(old)
    assert (loaded.task, loaded.classifier, loaded.augment, loaded.source_run_id) == ("reconstruct", "cnn", (), None)


def test_a_confusion_matrix_survives_the_way_to_the_store_as_whole_numbers() -> None:
    plain = _plain({"test_accuracy": np.float32(0.5), "confusion": np.array([[3, 1], [0, 4]])})
    assert plain == {"test_accuracy": 0.5, "confusion": [[3, 1], [0, 4]]}
    assert json.loads(json.dumps(plain)) == plain


# -- the trainer ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("trainer", "task", "other"), [
    ("train_classifier", "classify", "reconstruct"), ("train_autoencoder", "reconstruct", "classify")])
def test_each_trainer_refuses_the_other_task(trainer: str, task: str, other: str) -> None:
    import ae_core.training

    with pytest.raises(ValueError, match=f"task must be '{task}' for {trainer}; got '{other}'"):
        getattr(ae_core.training, trainer)(tiny(task=other))


def test_the_cnn_trains_with_live_events_and_a_confusion_matrix() -> None:
    result, events = run(tiny(augment=("crop", "flip", "rotate")))
    kinds = [event["type"] for event in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 1
    assert set(kinds) <= {"start", "batch", "epoch", "end"}  # a classifier has no snapshots
    assert kinds.index("batch") < kinds.index("epoch")
    assert events[0]["steps_per_epoch"] == 8 and events[0]["image_shape"] == [28, 28, 1]
    epoch = next(event for event in events if event["type"] == "epoch")
    assert set(epoch["metrics"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.status == "finished" and events[-1]["status"] == "finished"
    metrics = events[-1]["result"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_loss"] > 0
    confusion = np.asarray(metrics["confusion"])
    # The sample's test split holds 1,000 images; the matrix counts each once, and its
    # diagonal is the accuracy.
    assert confusion.shape == (10, 10) and confusion.sum() == metrics["num_test"] == 1000
    assert np.trace(confusion) / 1000 == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert metrics["epochs_completed"] == 1 and metrics["num_train"] == 256 and metrics["samples_per_second"] > 0
    assert result.model.name == "reference_cnn"


def test_a_stop_request_ends_the_classifier_cleanly() -> None:
    calls = {"count": 0}

    def should_stop() -> bool:
        calls["count"] += 1
        return calls["count"] >= 2

    result, events = run(tiny(num_epochs=3), should_stop=should_stop)
    assert result.status == "stopped" and "Stopped by request" in result.message
    assert "test_accuracy" not in result.metrics and result.metrics["epochs_completed"] == 0
    assert [event["type"] for event in events if event["type"] in ("epoch", "end")] == ["end"]


def test_a_diverging_classifier_fails_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from ae_core.models import classifier
    from ae_core.training import classifier as classify_training

    # Keras clips the cross-entropy of a softmax, so no learning rate makes the CNN's loss
    # NaN quickly; a classifier whose output bias is NaN from the start does, at once.
    def broken(image_shape, num_classes, **options):
        model = keras.Sequential([keras.Input(image_shape), keras.layers.Flatten(), keras.layers.Dense(
            num_classes, activation="softmax", bias_initializer=keras.initializers.Constant(float("nan")))])
        return classifier._compile(model, options["learning_rate"])

    monkeypatch.setattr(classify_training, "build_cnn", broken)
    result, events = run(tiny(num_epochs=2))
    assert result.status == "failed" and "Training diverged" in result.message
    assert events[-1]["status"] == "failed" and "test_accuracy" not in events[-1]["result"]


def test_the_checkpoint_lets_a_classifier_resume(tmp_path: Path) -> None:
    first, _ = run(tiny(), checkpoint_dir=tmp_path)
    assert json.loads((tmp_path / "checkpoint.json").read_text()) == {"epoch": 1}
    result, events = run(tiny(num_epochs=2), checkpoint_dir=tmp_path, resume=True)
    assert events[0]["initial_epoch"] == 1
    assert [event["epoch"] for event in events if event["type"] == "epoch"] == [2]
    assert result.status == "finished" and result.metrics["epochs_completed"] == 2


def test_the_encoder_head_fine_tunes_a_saved_autoencoders_encoder(tmp_path: Path) -> None:
    from ae_core.models.zoo import build_autoencoder, load_autoencoder, save_autoencoder

    source = TrainConfig(model=ModelConfig(arch="dense", latent_dim=8, hidden_sizes=()))
    path = tmp_path / "model.keras"
    save_autoencoder(build_autoencoder(source.model, source.image_shape, seed=0), path)
    before = [w.copy() for w in load_autoencoder(path).encoder.get_weights()]
    config = tiny(classifier="encoder_head", source_run_id=SOURCE_ID)
    result, events = run(config, source_model=path)
    assert result.status == "finished" and result.model.name == "encoder_classifier"
    assert 0.0 <= events[-1]["result"]["test_accuracy"] <= 1.0
    after = load_autoencoder(path).encoder.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))  # the source file is untouched
    with pytest.raises(RunNotFound, match=f"autoencoder run {SOURCE_ID} .* no saved model"):
        run(config, source_model=tmp_path / "gone.keras")
    colour = tiny(dataset="cifar10", classifier="encoder_head", source_run_id=SOURCE_ID)
    with pytest.raises(ValueError, match=r"source_run_id must name a run trained on \(32, 32, 3\) images"):
        from ae_core.training.classifier import _build

        _build(colour, 10, path)
