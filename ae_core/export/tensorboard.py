"""TensorBoard logs of a run, written in the worker from the events the trainer already sends.

``TensorBoardSink`` wraps a worker's ``EventSink``: each event goes on to the store first, then
(written by a thread of its own) into the run's TensorBoard folder, ``runs/<run_id>/tensorboard/<name>/``, where ``<name>`` says
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

import itertools
import json
import logging
import os
import queue
import re
import socket
import threading
import time
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
EVENT_FILE_PREFIX = "events.out.tfevents."
# Numbers the event files of this process, so that a run paused and resumed in one worker
# within a second opens a new file rather than the one it wrote.
_FILE_COUNTER = itertools.count()


def run_name(config: TrainConfig) -> str:
    """The folder name TensorBoard shows for a run: what it trains, in file-safe words."""
    if config.task == "classify":
        parts = [config.dataset, "classify", config.classifier] + list(config.augment)
    else:
        parts = [config.dataset, config.model.arch, f"latent{config.model.latent_dim}"]
        spelt = {"noise": lambda noise: f"{noise[0]}{noise[1]:g}", "beta": lambda beta: f"beta{beta:g}",
                 "exclude_class": lambda label: f"without{label}"}
        parts += [spelt[name](value) for name, value in config.distinctions().items()]
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


class EventFile:
    """One TensorBoard event file: ``Event`` protos in TFRecord framing, as ``tf.summary``'s writer makes.

    Written with protobuf and TensorFlow's record writer, not with summary ops, so that no
    TensorFlow op runs beside the training (the first summary ops of a process cost about a second).
    """

    def __init__(self, directory: Path) -> None:
        import tensorflow as tf  # the worker has it loaded already; the server never comes here
        from tensorflow.core.framework import summary_pb2
        from tensorflow.core.util import event_pb2

        self.tf, self.event_pb2, self.summary_pb2 = tf, event_pb2, summary_pb2
        name = f"{EVENT_FILE_PREFIX}{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_FILE_COUNTER)}.v2"
        self.writer = tf.io.TFRecordWriter(str(Path(directory) / name))
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def add(self, tag: str, value: Any, step: int, metadata: Any) -> None:
        """Add one summary value (a NumPy value, turned into a tensor proto) at ``step``."""
        summary = self.summary_pb2.Summary(value=[self.summary_pb2.Summary.Value(
            tag=tag, metadata=metadata, tensor=self.tf.make_tensor_proto(value))])
        self._write(self.event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def _write(self, event: Any) -> None:
        self.writer.write(event.SerializeToString())

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class TensorBoardLog:
    """One run's TensorBoard folder: write its events there, then ``close``.

    Args:
        directory: the folder for the event files, inside the run's ``tensorboard`` folder (both
            made if missing, but not the run's folder).
        config: the run's config, for its description.
        run_id: the run's id, for its description.
    """

    def __init__(self, directory: Path, config: TrainConfig, run_id: str) -> None:
        self.directory, self.config, self.run_id = Path(directory), config, run_id
        # Not ``parents=True``: a run deleted while it trains must not get its folder back.
        self.directory.parent.mkdir(exist_ok=True)
        self.directory.mkdir(exist_ok=True)
        self.file = EventFile(self.directory)
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
            step = int(event["initial_epoch"]) * int(event["steps_per_epoch"])
            self.file.add(DESCRIPTION_TAG, np.array(self._description(), dtype=object), step, self.text_metadata)
        elif kind == "batch":
            self.file.add(BATCH_TAG, np.float32(event["loss"]), event["step"], self.scalar_metadata)
        elif kind == "epoch":
            for key, value in dict(event.get("metrics") or {}).items():
                self.file.add(EPOCH_TAG_PREFIX + str(key), np.float32(value), event["epoch"], self.scalar_metadata)
            self.file.flush()
        elif kind == "reconstruction":
            picture = reconstruction_picture(event)
            height, width = picture.shape[:2]
            # The images plugin's format: width, height, then the encoded pictures, as strings.
            blobs = np.array([str(width).encode(), str(height).encode(), png_bytes(picture)], dtype=object)
            self.file.add(RECONSTRUCTION_TAG, blobs, event["step"], self.image_metadata)
            self.file.flush()
        elif kind == "latent":
            self.latent = event  # only the last one is written, at the end
        elif kind == "end":
            self.file.flush()

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
        self.file.close()


def _sprite_images(config: TrainConfig, indices: Any) -> np.ndarray | None:
    """The validation images a latent snapshot coded (the trainer's split, cached in this process)."""
    from ae_core.data import load_dataset

    splits = load_dataset(config.dataset, validation_fraction=config.validation_fraction, grayscale=config.grayscale,
                          download=False)
    return np.asarray(splits.x_val[np.asarray(indices, dtype=np.int64)])


class TensorBoardSink:
    """An ``EventSink`` that passes events on to ``inner``, and has them written to the run's TensorBoard log.

    The writing happens on a thread of its own, so a training step never waits for a PNG or
    a file; ``close`` waits until everything sent is written. The log opens at the first event
    and closes at ``end`` (writing the projector's files then). A failure to write is logged
    once and ends the log, never the run.

    Args:
        inner: the sink the events are for (the store's, over the pipe).
        tensorboard_dir: the run's ``RunFolder.tensorboard_dir``.
        config: the run's config.
    """

    def __init__(self, inner: EventSink, tensorboard_dir: Path, config: TrainConfig) -> None:
        self.inner, self.tensorboard_dir, self.config = inner, Path(tensorboard_dir), config
        self.log: TensorBoardLog | None = None
        self.broken = False
        self.events: queue.SimpleQueue[Mapping[str, Any] | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None

    def emit(self, run_id: str, event: Mapping[str, Any]) -> None:
        self.inner.emit(run_id, event)  # the store first: SinkClosed stops here, before any logging
        if self.thread is None:
            self.thread = threading.Thread(target=self._write_all, args=(run_id,), name="tensorboard-log",
                                           daemon=True)
            self.thread.start()
        self.events.put(event)

    def _write_all(self, run_id: str) -> None:
        while (event := self.events.get()) is not None:
            if self.broken:
                continue
            try:
                if self.log is None:
                    self.log = TensorBoardLog(log_dir(self.tensorboard_dir, self.config), self.config, run_id)
                self.log.write(event)
                if event.get("type") == "end":
                    self._finish()
            except Exception:  # noqa: BLE001 (a full disk or a bad event costs the log, not the run)
                logger.warning("Run %s: TensorBoard logging stopped:", run_id, exc_info=True)
                self.broken = True
                self._close_log()
        self._close_log()

    def _finish(self) -> None:
        log = self.log
        if log is not None and log.latent is not None:
            try:
                images = _sprite_images(self.config, log.latent["indices"])
            except Exception:  # noqa: BLE001 (the projector still works without pictures)
                logger.info("No sprite for the projector: the dataset could not be read", exc_info=True)
                images = None
            log.write_projector(images)
        self._close_log()

    def _close_log(self) -> None:
        log, self.log = self.log, None
        if log is not None:
            log.close()

    def close(self) -> None:
        """Write everything sent so far, then close the log (idempotent; a later event opens a new file)."""
        thread, self.thread = self.thread, None
        if thread is not None:
            self.events.put(None)
            thread.join()
