"""A run as one zip: its config.json, model.keras, training script, metrics as CSV and last pictures as PNG.

``run_zip`` is a pure function of a ``RunContents`` (tested directly); ``gather`` reads those
contents through the job manager's reading API, so the Runs page and the command line build the
same zip. No TensorFlow: the web server builds it, only when someone asks for the download.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from ae_core.config import TrainConfig
from ae_core.export.pictures import latent_map_picture, png_bytes, reconstruction_picture
from ae_core.export.script import training_script
from ae_core.store.layout import CONFIG_FILENAME, MODEL_FILENAME
from ae_core.store.records import MetricRow

METRICS_CSV_FILENAME = "metrics.csv"
RECONSTRUCTION_PNG_FILENAME = "reconstruction.png"
LATENT_PNG_FILENAME = "latent_map.png"
METRICS_CSV_COLUMNS = ("kind", "key", "value", "epoch", "step", "time")


def script_filename(run_id: str) -> str:
    """The exported script's file name: ``train_<first 8 characters of the id>.py``."""
    return f"train_{run_id[:8]}.py"


def zip_filename(run_id: str) -> str:
    return f"run-{run_id[:8]}.zip"


class RunReader(Protocol):
    """The part of the job manager's API a zip needs (``JobManager`` and the tests' fake have it)."""

    def get_run(self, run_id: str) -> Any: ...
    def metrics_since(self, run_id: str, after_seq: int = 0) -> list[MetricRow]: ...
    def latest_snapshot(self, run_id: str, kind: str) -> dict[str, Any] | None: ...
    def model_path(self, run_id: str) -> Path | None: ...
    def config_path(self, run_id: str) -> Path: ...


@dataclass(frozen=True)
class RunContents:
    """What goes in a run's zip. ``model`` is the ``model.keras`` bytes (None before a run finished);
    ``reconstruction`` and ``latent`` are its last snapshots (None if it has none)."""

    run_id: str
    config: TrainConfig
    config_json: str
    metrics: Sequence[MetricRow]
    model: bytes | None = None
    reconstruction: Mapping[str, Any] | None = None
    latent: Mapping[str, Any] | None = None
    description: str | None = None


def metrics_csv(rows: Sequence[MetricRow]) -> str:
    """Metric rows as CSV, one row each: kind, key, value, epoch, step, time (seconds since the start)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METRICS_CSV_COLUMNS)
    for row in rows:
        writer.writerow([row.kind, row.key, repr(float(row.value)), row.epoch, row.step, round(float(row.time), 3)])
    return buffer.getvalue()


def run_zip(contents: RunContents) -> bytes:
    """The zip of a run: its files inside one folder named ``run-<id8>``.

    Returns:
        The zip's bytes. A classifier run has no script and no pictures; a run that has not
        finished has no model.
    """
    folder = zip_filename(contents.run_id).removesuffix(".zip")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def add(name: str, data: str | bytes) -> None:
            archive.writestr(f"{folder}/{name}", data)

        add(CONFIG_FILENAME, contents.config_json)
        if contents.model is not None:
            add(MODEL_FILENAME, contents.model)
        if contents.config.task == "reconstruct":
            add(script_filename(contents.run_id), training_script(contents.config, contents.run_id,
                                                                  contents.description))
        add(METRICS_CSV_FILENAME, metrics_csv(contents.metrics))
        if contents.reconstruction is not None:
            add(RECONSTRUCTION_PNG_FILENAME, png_bytes(reconstruction_picture(contents.reconstruction)))
        if contents.latent is not None:
            add(LATENT_PNG_FILENAME, png_bytes(latent_map_picture(contents.latent["codes"], contents.latent["labels"])))
    return buffer.getvalue()


def gather(reader: RunReader, run_id: str, description: str | None = None) -> RunContents:
    """Read a run's contents for its zip through the job manager's API.

    Raises:
        RunNotFound: for an unknown run.
        OSError: when a file of the run cannot be read.
    """
    record = reader.get_run(run_id)
    try:
        config_json = reader.config_path(run_id).read_text(encoding="utf-8")
    except OSError:  # the record holds the same config
        config_json = json.dumps(record.config.to_dict(), indent=2)
    model_path = reader.model_path(run_id)
    return RunContents(run_id=run_id, config=record.config, config_json=config_json,
                       metrics=reader.metrics_since(run_id), model=model_path.read_bytes() if model_path else None,
                       reconstruction=reader.latest_snapshot(run_id, "reconstruction"),
                       latent=reader.latest_snapshot(run_id, "latent"), description=description)
