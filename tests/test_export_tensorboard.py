"""TensorBoard logs: a real run (paused and resumed) read back with TensorFlow's own event reader."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.export.tensorboard import (BATCH_TAG, DESCRIPTION_TAG, EPOCH_TAG_PREFIX, RECONSTRUCTION_TAG,
                                        TensorBoardSink, log_dir, run_name)
from ae_core.service.sinks import SinkClosed, StoreSink
from ae_core.service.worker import Job, run_job
from ae_core.store import RunFolder, RunStatus, RunStore
from ae_core.store.layout import (PROJECTOR_CONFIG_FILENAME, PROJECTOR_METADATA_FILENAME, PROJECTOR_SPRITE_FILENAME,
                                  PROJECTOR_TENSORS_FILENAME)
from ae_core.training import train


def read_events(directory: Path) -> dict[str, dict[int, Any]]:
    """tag -> step -> value (a float, or the image's PNG bytes) from every event file, with TF's reader."""
    import tensorflow as tf

    values: dict[str, dict[int, Any]] = {}
    for path in sorted(directory.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                plugin = value.metadata.plugin_data.plugin_name
                # A later file (the resumed run) overrides what it repeats, as the store's resume marker does.
                values.setdefault(value.tag, {})[event.step] = (
                    float(array) if plugin == "scalars" else array.tolist() if plugin == "images" else array.item().decode())
    return values


@pytest.mark.slow
def test_a_paused_and_resumed_run_logs_every_store_metric_and_its_pictures(tmp_path: Path) -> None:
    config = TrainConfig(model=ModelConfig(arch="dense", latent_dim=4, loss="mse"), num_epochs=2, batch_size=16,
                         train_limit=64, validation_fraction=0.05)
    store = RunStore(tmp_path / "home")
    run_id = store.create_run(config, owner="me")
    folder = store.folder(run_id)
    job = Job(run_id=run_id, token=1, config=config.to_dict(), run_dir=str(folder.path))
    assert store.lifecycle.claim(run_id, "me", None)
    first = TensorBoardSink(StoreSink(store), folder.tensorboard_dir, config)
    assert run_job(job, train, first, lambda: False, should_pause=lambda: True) == "paused"
    first.close()  # as the worker does after each job
    # A bare StoreSink records a pause's end as failed (the supervisor requeues it instead): queue it again.
    assert store.lifecycle.requeue(run_id, "me", [RunStatus.FAILED]) and store.lifecycle.claim(run_id, "me", None)
    second = TensorBoardSink(StoreSink(store), folder.tensorboard_dir, config)
    assert run_job(job, train, second, lambda: False) == "finished"
    second.close()

    directory = log_dir(folder.tensorboard_dir, config)
    assert directory == folder.path / "tensorboard" / "mnist_sample-dense-latent4"
    assert len(list(directory.glob("events.out.tfevents.*"))) == 2  # the resumed run appended a file
    logged = read_events(directory)
    rows = store.metrics_since(run_id)
    batch_rows = {row.step: row.value for row in rows if row.kind == "batch"}
    assert batch_rows and logged[BATCH_TAG] == pytest.approx(batch_rows)
    epoch_keys = {row.key for row in rows if row.kind == "epoch"}
    assert epoch_keys == {"loss", "mse", "val_loss", "val_mse"}
    for key in epoch_keys:
        expected = {row.epoch: row.value for row in rows if row.kind == "epoch" and row.key == key}
        assert set(expected) == {1, 2}
        assert logged[EPOCH_TAG_PREFIX + key] == pytest.approx(expected)
    assert set(logged) == {BATCH_TAG, DESCRIPTION_TAG, RECONSTRUCTION_TAG} | {EPOCH_TAG_PREFIX + k for k in epoch_keys}
    assert run_id in logged[DESCRIPTION_TAG][0] and "latent_dim" in logged[DESCRIPTION_TAG][4]
    width, height, png = logged[RECONSTRUCTION_TAG][max(logged[RECONSTRUCTION_TAG])]
    assert png.startswith(b"\x89PNG") and int(width) > int(height) > 28  # 16 digits wide, 2 rows high

    latent = store.read_snapshot(run_id, "latent")
    codes = np.loadtxt(directory / PROJECTOR_TENSORS_FILENAME, delimiter="\t", ndmin=2)
    assert codes.shape == latent["codes"].shape and np.allclose(codes, latent["codes"], atol=1e-4)
    metadata = (directory / PROJECTOR_METADATA_FILENAME).read_text().splitlines()
    assert metadata[0] == "label\tclass" and [int(line.split("\t")[0]) for line in metadata[1:]] == \
        latent["labels"].tolist()
    projector = (directory / PROJECTOR_CONFIG_FILENAME).read_text()
    side = math.ceil(math.sqrt(len(codes))) * 28
    assert f'tensor_path: "{PROJECTOR_TENSORS_FILENAME}"' in projector and "single_image_dim: 28" in projector
    from PIL import Image

    assert Image.open(directory / PROJECTOR_SPRITE_FILENAME).size == (side, side)


class Closed:
    def emit(self, run_id: str, event: dict[str, Any]) -> None:
        raise SinkClosed("gone")


class Recording:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, run_id: str, event: dict[str, Any]) -> None:
        self.events.append(dict(event))


def test_the_log_follows_the_store_and_a_broken_log_never_stops_the_run(tmp_path: Path) -> None:
    config = TrainConfig()
    gone = TensorBoardSink(Recording(), tmp_path / "deleted-run" / "tensorboard", config)
    gone.emit("a" * 32, {"type": "batch", "epoch": 0, "step": 1, "loss": 0.5})
    gone.close()
    assert gone.broken and not (tmp_path / "deleted-run").exists()  # a deleted run's folder does not come back
    closed = TensorBoardSink(Closed(), tmp_path / "closed", config)
    with pytest.raises(SinkClosed, match="gone"):
        closed.emit("a" * 32, {"type": "batch", "epoch": 0, "step": 1, "loss": 0.5})
    assert not (tmp_path / "closed").exists()  # nothing logged that the store did not get
    (tmp_path / "file").write_text("not a folder")
    inner = Recording()
    broken = TensorBoardSink(inner, tmp_path / "file", config)
    for step in (1, 2):
        broken.emit("a" * 32, {"type": "batch", "epoch": 0, "step": step, "loss": 0.5})
    broken.close()
    assert broken.broken and [event["step"] for event in inner.events] == [1, 2]


def test_run_names_say_what_a_run_trains_in_file_safe_words() -> None:
    vae = TrainConfig(model=ModelConfig(arch="conv_vae", latent_dim=2, beta=4.0, noise="gaussian", noise_level=0.3),
                      exclude_class=7)
    assert run_name(vae) == "mnist_sample-conv_vae-latent2-gaussian0.3-beta4-without7"
    assert run_name(TrainConfig(task="classify", augment=("flip",))) == "mnist_sample-classify-cnn-flip"
