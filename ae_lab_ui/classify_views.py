"""Classifier runs in the UI: their configs, accuracy curve, confusion matrix and the four-way table.

A classifier run (``TrainConfig.task == "classify"``) trains in the job service like an
autoencoder run, so the Train and Runs pages show it with the shared views; these helpers
draw what differs (accuracy instead of reconstructions and a latent map), and give the
Classify page the runs that belong to one autoencoder run. Figures are plain-dict specs
drawn by ``views.plot``, like every chart of the app. No TensorFlow is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import streamlit as st

from ae_core.analysis.probe import ProbeResult
from ae_core.config import CLASSIFIERS, TrainConfig
from ae_core.data import DATASETS
from ae_core.store import RunRecord, RunStatus
from ae_lab_ui import figures
from ae_lab_ui.history import MetricHistory


def classify_config(source: RunRecord, classifier: str, *, num_epochs: int, batch_size: int,
                    augment: Sequence[str], train_limit: int | None) -> TrainConfig:
    """The form's classify run on autoencoder run ``source`` (see ``TrainConfig.classifier_run``).

    Raises:
        ValueError: naming the field, for a setting ``TrainConfig`` rejects (an unknown classifier included).
    """
    return source.config.classifier_run(source.run_id, classifier, num_epochs=int(num_epochs),
                                        batch_size=int(batch_size), augment=augment, train_limit=train_limit)


def related_runs(runs: Sequence[RunRecord], source: RunRecord) -> list[RunRecord]:
    """Classifier runs comparable with autoencoder run ``source``: CNNs on its data, and heads on its encoder."""
    return [record for record in runs if record.config.task == "classify"
            and record.config.dataset == source.config.dataset and record.config.grayscale == source.config.grayscale
            and (record.config.classifier == "cnn" or record.config.source_run_id == source.run_id)]


def newest(runs: Sequence[RunRecord], *, finished: bool) -> dict[str, RunRecord]:
    """The newest run of each classifier (only finished ones if ``finished``), CNN first; ``runs`` newest first."""
    chosen: dict[str, RunRecord] = {}
    for record in runs:
        if finished and (record.status is not RunStatus.FINISHED or "test_accuracy" not in (record.result or {})):
            continue
        chosen.setdefault(record.config.classifier, record)
    return {kind: chosen[kind] for kind in CLASSIFIERS if kind in chosen}


def confusion_of(result: Mapping[str, Any] | None) -> np.ndarray | None:
    """The confusion matrix (true x predicted) of a finished classifier run's result, or None."""
    rows = (result or {}).get("confusion")
    if not isinstance(rows, list) or not rows:
        return None
    return np.asarray(rows, dtype=np.float64).astype(np.int64)


# What an empty cell of the table says: a dash, where a bare None would read as "None".
MISSING = "—"


def _cell(value: Any, form: str) -> str:
    return MISSING if value is None else format(value, form)


def probe_row(title: str, probe: ProbeResult) -> dict[str, str]:
    """One row of the Classify page's table for a logistic-regression probe fitted here."""
    return {"method": title, "numbers per image": _cell(probe.num_features, ","),
            "test accuracy": _cell(probe.accuracy, ".1%"), "training images": _cell(probe.num_train, ","),
            "test images": _cell(probe.num_test, ","), "seconds": _cell(probe.seconds, ".1f"), "run": "fitted here"}


def table_row(title: str, record: RunRecord | None, num_features: int) -> dict[str, str]:
    """One row of the Classify page's table for a neural classifier, trained or not (its unknowns a dash)."""
    result = (record.result or {}) if record is not None else {}
    state = "not trained yet" if record is None else "finished"
    def number(name: str, form: str) -> str:
        return _cell(float(result[name]) if name in result else None, form)

    return {"method": title, "numbers per image": _cell(num_features, ","),
            "test accuracy": number("test_accuracy", ".1%"), "training images": number("num_train", ",.0f"),
            "test images": number("num_test", ",.0f"), "seconds": number("seconds", ".1f"), "run": state}


def accuracy_figure(history: MetricHistory) -> figures.Figure:
    """Train and validation accuracy per epoch, on a 0-1 axis."""
    traces = []
    for metric_key, name, colour in (("accuracy", "train accuracy", "#4e79a7"),
                                     ("val_accuracy", "validation accuracy", "#f28e2b")):
        series = history.epochs.get(metric_key, [])
        traces.append({"type": "scatter", "x": [epoch for epoch, _, _ in series], "y": [v for *_, v in series],
                       "mode": "lines+markers", "name": name, "line": {"width": 3, "color": colour},
                       "marker": {"size": 8}, "hovertemplate": f"{name} %{{y:.1%}}<extra></extra>"})
    return figures.figure_spec(traces, "Accuracy", f"accuracy-{history.run_id}", hovermode="x unified",
                               xaxis={"title": {"text": "epoch"}, "rangemode": "tozero"},
                               yaxis={"title": {"text": "accuracy"}, "range": [0, 1], "tickformat": ".0%"})


def confusion_figure(confusion: np.ndarray, class_names: Sequence[str], title: str) -> figures.Figure:
    """A heatmap of counts, true classes down and predicted classes across.

    Args:
        confusion: counts (true x predicted), one row and column per class.
        class_names: the classes' names, in label order.
        title: the figure's title (the method whose matrix it is).

    Returns:
        A plain-dict Plotly spec for ``views.plot``.
    """
    # Category axes, so digit names "0".."9" are labels and not numbers to interpolate between.
    names = [str(name) for name in class_names]
    heatmap = {"type": "heatmap", "z": np.asarray(confusion).tolist(), "x": names, "y": names,
               "colorscale": "Blues", "showscale": False, "texttemplate": "%{z}",
               "hovertemplate": "true %{y}, predicted %{x}: %{z}<extra></extra>"}
    return figures.figure_spec([heatmap], title, f"confusion-{title}", height=460,
                               xaxis={"title": {"text": "predicted"}, "type": "category"},
                               yaxis={"title": {"text": "true"}, "autorange": "reversed", "type": "category"})


def render_accuracy(history: MetricHistory, *, key_prefix: str) -> None:
    """The accuracy curve (from the first finished epoch on)."""
    from ae_lab_ui.views import plot  # views imports this module to draw classifier runs, so not at the top

    with st.container(key=f"{key_prefix}_accuracy_curve"):
        if not history.epochs.get("accuracy"):
            st.info("The accuracy curve starts when the first epoch ends.", icon=":material/percent:")
            return
        plot(accuracy_figure(history), key=f"{key_prefix}_accuracy_chart")


def render_confusion(record: RunRecord, *, key_prefix: str) -> None:
    """A finished classifier's test confusion matrix; nothing before it has one."""
    from ae_lab_ui.views import plot  # see render_accuracy

    confusion = confusion_of(record.result)
    if confusion is not None:
        plot(confusion_figure(confusion, DATASETS[record.config.dataset].class_names, "Test confusion matrix"),
             key=f"{key_prefix}_confusion_chart")
