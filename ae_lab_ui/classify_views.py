"""Classifier runs in the UI: their configs, accuracy curve, confusion matrix and the four-way table.

A classifier run (``TrainConfig.task == "classify"``) trains in the job service like an
autoencoder run, so the Train and Runs pages show it with the shared views; these helpers
draw what differs (accuracy instead of reconstructions and a latent map), and give the
Classify page the runs that belong to one autoencoder run. No TensorFlow is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ae_core.config import TrainConfig
from ae_core.datasets import DATASETS
from ae_core.runs import RunRecord, RunStatus
from ae_lab_ui import figures
from ae_lab_ui.live import MetricHistory

CLASSIFIERS = ("cnn", "encoder_head")
# The keys of the same two methods in ae_core.codes_study (imported there with TensorFlow).
STUDY_METHODS = {"encoder_head": "encoder_finetuned", "cnn": "cnn"}
PLOT_CONFIG = {"displaylogo": False}


def classify_config(source: RunRecord, classifier: str, *, num_epochs: int, batch_size: int,
                    augment: Sequence[str], train_limit: int | None) -> TrainConfig:
    """A classify run on the data of autoencoder run ``source`` (whose encoder ``encoder_head`` fine-tunes).

    Raises:
        ValueError: naming the field, for a setting the core rejects.
    """
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {', '.join(map(repr, CLASSIFIERS))}; got {classifier!r}")
    return TrainConfig(dataset=source.config.dataset, grayscale=source.config.grayscale, task="classify",
                       classifier=classifier, augment=tuple(augment), num_epochs=int(num_epochs),
                       batch_size=int(batch_size), train_limit=train_limit or None,
                       source_run_id=source.run_id if classifier == "encoder_head" else None)


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


def table_row(title: str, record: RunRecord | None, num_features: int) -> dict[str, Any]:
    """One row of the Classify page's table for a neural classifier, trained or not."""
    result = (record.result or {}) if record is not None else {}
    state = "not trained yet" if record is None else "finished"
    return {"method": title, "numbers per image": num_features, "test accuracy": result.get("test_accuracy"),
            "training images": int(result["num_train"]) if "num_train" in result else None,
            "test images": int(result["num_test"]) if "num_test" in result else None,
            "seconds": round(float(result["seconds"]), 1) if "seconds" in result else None, "run": state}


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


def confusion_figure(confusion: np.ndarray, class_names: Sequence[str], title: str) -> go.Figure:
    """A heatmap of counts, true classes down and predicted classes across."""
    figure = go.Figure(go.Heatmap(z=confusion, x=list(class_names), y=list(class_names), colorscale="Blues",
                                  hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
                                  texttemplate="%{z}", showscale=False))
    figure.update_layout(title=title, height=460, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         xaxis={"title": "predicted", "type": "category"},
                         yaxis={"title": "true", "autorange": "reversed", "type": "category"})
    return figure


def render_accuracy(history: MetricHistory, *, key_prefix: str) -> None:
    """The accuracy curve (from the first finished epoch on)."""
    with st.container(key=f"{key_prefix}_accuracy_curve"):
        if not history.epochs.get("accuracy"):
            st.info("The accuracy curve starts when the first epoch ends.", icon=":material/percent:")
            return
        st.plotly_chart(go.Figure(accuracy_figure(history), _validate=False), key=f"{key_prefix}_accuracy_chart",
                        config=PLOT_CONFIG)


def render_confusion(record: RunRecord, *, key_prefix: str) -> None:
    """A finished classifier's test confusion matrix; nothing before it has one."""
    confusion = confusion_of(record.result)
    if confusion is not None:
        st.plotly_chart(confusion_figure(confusion, DATASETS[record.config.dataset].class_names,
                                         "Test confusion matrix"), key=f"{key_prefix}_confusion_chart")
