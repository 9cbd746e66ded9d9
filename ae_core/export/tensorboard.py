"""TensorBoard logs of a run, written in the worker from the events the trainer already sends.

``TensorBoardSink`` wraps a worker's ``EventSink``: each event goes on to the store first, then
into the run's TensorBoard folder, ``runs/<run_id>/tensorboard/<name>/``, where ``<name>`` says
what the run trains (``run_name``: ``mnist_sample-dense-latent32``), because TensorBoard names a
run by its folder under ``--logdir``. What it writes:

    batch/loss              the live batch loss, at the global step (as the store's ``batch`` rows)
    epoch/<key>             every epoch metric (loss, val_loss, mse, ...), at the epochs done
    reconstruction          the reconstruction grid (originals above reconstructions) at each snapshot
    run/description         the run's id, setup and config.json, as text, at the step it started from
    projector files         at the end: the last latent codes, their labels and a sprite of their images

A resumed run opens a new event file in the same folder, so its logs append (TensorBoard reads
every event file of a folder). Writing never fails a run: an error is logged once and the log
stops. TensorFlow is imported here only when a log is opened, so the web server never loads it.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ae_core.config import TrainConfig
from ae_core.export.pictures import png_bytes, reconstruction_picture, sprite_picture
from ae_core.store.layout import (PROJECTOR_CONFIG_FILENAME, PROJECTOR_METADATA_FILENAME, PROJECTOR_SPRITE_FILENAME,
                                  PROJECTOR_TENSORS_FILENAME)

if TYPE_CHECKING:  # the worker imports this module, and ae_core.service imports the worker
    from ae_core.service.sinks import EventSink

logger = logging.getLogger(__name__)

BATCH_TAG = "batch/loss"
EPOCH_TAG_PREFIX = "epoch/"
RECONSTRUCTION_TAG = "reconstruction"
DESCRIPTION_TAG = "run/description"
PROJECTOR_TENSOR_NAME = "latent_codes"
# Event files are flushed at every epoch end and snapshot as well, so TensorBoard follows a run live.
FLUSH_MILLIS = 10_000


def run_name(config: TrainConfig) -> str:
    """The folder name TensorBoard shows for a run: what it trains, in file-safe words."""
    if config.task == "classify":
        parts = [config.dataset, "classify", config.classifier] + list(config.augment)
    else:
        model = config.model
        parts = [config.dataset, model.arch, f"latent{model.latent_dim}"]
        if model.noise != "none":
            parts.append(f"{model.noise}{model.noise_level:g}")
        if model.is_variational and model.beta != 1.0:
            parts.append(f"beta{model.beta:g}")
        if config.exclude_class is not None:
            parts.append(f"without{config.exclude_class}")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


def log_dir(tensorboard_dir: Path, config: TrainConfig) -> Path:
    """The folder of a run's event and projector files, inside its ``RunFolder.tensorboard_dir``."""
    return Path(tensorboard_dir) / run_name(config)


def _metadata(plugin_name: str, data_class: str) -> Any:
    """The SummaryMetadata TensorBoard's plugins read (what ``tf.summary.scalar`` and friends write,
    built here because those need the ``tensorboard`` package, which tensorflow-cpu no longer brings)."""
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name),
                                       data_class=getattr(summary_pb2, data_class))


class TensorBoardLog:
    """One run's TensorBoard folder: write its events there, then ``close``.

    Args:
        directory: the folder for the event files (made if missing).
        config: the run's config, for its description.
        run_id: the run's id, for its description.
    """

    def __init__(self, directory: Path, config: TrainConfig, run_id: str) -> None:
        import tensorflow as tf  # the worker has it loaded already; the server never comes here

        self.tf, self.directory, self.config, self.run_id = tf, Path(directory), config, run_id
        self.directory.mkdir(parents=True, exist_ok=True)
        self.writer = tf.summary.create_file_writer(str(self.directory), flush_millis=FLUSH_MILLIS)
        self.scalar_metadata = _metadata("scalars", "DATA_CLASS_SCALAR")
        self.image_metadata = _metadata("images", "DATA_CLASS_BLOB_SEQUENCE")
        self.text_metadata = _metadata("text", "DATA_CLASS_TENSOR")
        self.class_names: list[str] = []
        self.latent: Mapping[str, Any] | None = None

    def write(self, event: Mapping[str, Any]) -> None:
        """Write one trainer event (see docs/DESIGN.md, "training"); other types are ignored."""
        kind = event.get("type")
        if kind == "start":
            self.class_names = [str(name) for name in event.get("class_names", ())]
            self._text(DESCRIPTION_TAG, self._description(), int(event["initial_epoch"]) * int(event["steps_per_epoch"]))
        elif kind == "batch":
            self._scalar(BATCH_TAG, event["loss"], event["step"])
        elif kind == "epoch":
            for key, value in dict(event.get("metrics") or {}).items():
                self._scalar(EPOCH_TAG_PREFIX + str(key), value, event["epoch"])
            self.writer.flush()
        elif kind == "reconstruction":
            self._image(RECONSTRUCTION_TAG, reconstruction_picture(event), event["step"])
            self.writer.flush()
        elif kind == "latent":
            self.latent = event  # only the last one is written, at the end
        elif kind == "end":
            self.writer.flush()

    def _scalar(self, tag: str, value: Any, step: Any) -> None:
        with self.writer.as_default():
            self.tf.summary.write(tag, self.tf.constant(float(value), self.tf.float32), step=int(step),
                                  metadata=self.scalar_metadata)

    def _image(self, tag: str, picture: np.ndarray, step: Any) -> None:
        height, width = picture.shape[:2]
        # The images plugin's format: width, height, then the encoded pictures, as strings.
        blobs = [str(width).encode(), str(height).encode(), png_bytes(picture)]
        with self.writer.as_default():
            self.tf.summary.write(tag, self.tf.constant(blobs), step=int(step), metadata=self.image_metadata)

    def _text(self, tag: str, markdown: str, step: int) -> None:
        with self.writer.as_default():
            self.tf.summary.write(tag, self.tf.constant(markdown), step=step, metadata=self.text_metadata)

    def _description(self) -> str:
        settings = json.dumps(self.config.to_dict(), indent=2)
        indented = "\n".join("    " + line for line in settings.splitlines())  # Markdown code block
        return f"**{run_name(self.config)}**, run `{self.run_id}`\n\nconfig.json:\n\n{indented}"

    def write_projector(self, images: np.ndarray | None) -> None:
        """Write the last latent codes for the Embedding Projector: codes, labels and (with images) a sprite.

        Args:
            images: the pictures of the coded examples (N, H, W, C) uint8, in the codes' order, or None.
        """
        if self.latent is None:
            return
        codes = np.asarray(self.latent["codes"], dtype=np.float32)
        labels = np.asarray(self.latent["labels"]).astype(int)
        np.savetxt(self.directory / PROJECTOR_TENSORS_FILENAME, codes, delimiter="\t", fmt="%.6g")
        names = self.class_names
        rows = ["label\tclass"] + [f"{label}\t{names[label] if 0 <= label < len(names) else label}" for label in labels]
        (self.directory / PROJECTOR_METADATA_FILENAME).write_text("\n".join(rows) + "\n", encoding="utf-8")
        sprite = ""
        if images is not None and len(images) == len(codes):
            (self.directory / PROJECTOR_SPRITE_FILENAME).write_bytes(png_bytes(sprite_picture(images)))
            height, width = images.shape[1:3]
            sprite = (f'  sprite {{\n    image_path: "{PROJECTOR_SPRITE_FILENAME}"\n'
                      f"    single_image_dim: {width}\n    single_image_dim: {height}\n  }}\n")
        (self.directory / PROJECTOR_CONFIG_FILENAME).write_text(
            f'embeddings {{\n  tensor_name: "{PROJECTOR_TENSOR_NAME}"\n'
            f'  tensor_path: "{PROJECTOR_TENSORS_FILENAME}"\n  metadata_path: "{PROJECTOR_METADATA_FILENAME}"\n'
            f"{sprite}}}\n", encoding="utf-8")

    def close(self) -> None:
        self.writer.close()


def _sprite_images(config: TrainConfig, indices: Any) -> np.ndarray | None:
    """The validation images a latent snapshot coded (the trainer's split, cached in this process)."""
    from ae_core.data import load_dataset

    splits = load_dataset(config.dataset, validation_fraction=config.validation_fraction, grayscale=config.grayscale,
                          download=False)
    return np.asarray(splits.x_val[np.asarray(indices, dtype=np.int64)])


class TensorBoardSink:
    """An ``EventSink`` that passes events on to ``inner``, then writes them to the run's TensorBoard log.

    The log opens at the first event and closes at ``end`` (writing the projector's files
    then) or at ``close``. A failure to write is logged once and ends the log, never the run.

    Args:
        inner: the sink the events are for (the store's, over the pipe).
        tensorboard_dir: the run's ``RunFolder.tensorboard_dir``.
        config: the run's config.
    """

    def __init__(self, inner: EventSink, tensorboard_dir: Path, config: TrainConfig) -> None:
        self.inner, self.tensorboard_dir, self.config = inner, Path(tensorboard_dir), config
        self.log: TensorBoardLog | None = None
        self.broken = False

    def emit(self, run_id: str, event: Mapping[str, Any]) -> None:
        self.inner.emit(run_id, event)  # the store first: SinkClosed stops here, before any logging
        if self.broken:
            return
        try:
            if self.log is None:
                self.log = TensorBoardLog(log_dir(self.tensorboard_dir, self.config), self.config, run_id)
            self.log.write(event)
            if event.get("type") == "end":
                self._finish()
        except Exception:  # noqa: BLE001 (a full disk or a bad event costs the log, not the run)
            logger.warning("Run %s: TensorBoard logging stopped:", run_id, exc_info=True)
            self.broken = True
            self.close()

    def _finish(self) -> None:
        log = self.log
        if log is not None and log.latent is not None:
            try:
                images = _sprite_images(self.config, log.latent["indices"])
            except Exception:  # noqa: BLE001 (the projector still works without pictures)
                logger.info("No sprite for the projector: the dataset could not be read", exc_info=True)
                images = None
            log.write_projector(images)
        self.close()

    def close(self) -> None:
        """Close the log (idempotent); a later event opens a new event file in the same folder."""
        log, self.log = self.log, None
        if log is not None:
            log.close()
