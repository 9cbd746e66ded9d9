"""Putting runs side by side: shared loss axes, and the latent-size sweep. No streamlit here.

A sweep is not a stored object: it is every run whose config equals a base config in
everything but the latent size. So the Compare page finds a sweep's runs again after a
reload, or from runs queued by hand, without the job service knowing about sweeps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from ae_core.config import TrainConfig
from ae_core.store import MetricRow, RunRecord, RunStatus
from ae_lab_ui.figures import CLASS_COLOURS, Figure, figure_spec

SWEEP_LATENT_SIZES = (2, 4, 8, 16, 32, 64)


def sweep_configs(base: TrainConfig, latent_sizes: Sequence[int] = SWEEP_LATENT_SIZES) -> list[TrainConfig]:
    """The base config once per latent size (each validated, so a bad size raises ValueError)."""
    return [base.replace(model=dataclasses.replace(base.model, latent_dim=size)) for size in latent_sizes]


def _without_latent(config: TrainConfig) -> TrainConfig:
    return config.replace(model=dataclasses.replace(config.model, latent_dim=2))


def sweep_members(runs: Sequence[RunRecord], base: TrainConfig) -> dict[int, RunRecord]:
    """For each latent size, the newest run that is ``base`` but for its latent size."""
    key = _without_latent(base)
    members: dict[int, RunRecord] = {}
    for record in sorted(runs, key=lambda record: record.created_at):
        if _without_latent(record.config) == key:
            members[record.config.model.latent_dim] = record
    return dict(sorted(members.items()))


def sweep_points(members: dict[int, RunRecord]) -> tuple[list[int], list[float]]:
    """(latent sizes, test MSE) of the sweep runs that have finished, in order of size."""
    done = [(size, record.result["test_mse"]) for size, record in members.items()
            if record.status is RunStatus.FINISHED and record.result and record.result.get("test_mse") is not None]
    return [size for size, _ in done], [float(mse) for _, mse in done]


def sweep_table(members: dict[int, RunRecord], status_word: Callable[[RunRecord], str]) -> list[dict[str, Any]]:
    """The sweep's table: one row per latent size, with its state, epochs done and test MSE.

    Args:
        members: latent size -> run, as ``sweep_members`` gives them.
        status_word: the run's state in words (``views.status_word``).

    Returns:
        Rows for ``st.dataframe``; a value not known yet is an em dash, not an empty "None".
    """
    rows = []
    for size, record in members.items():
        progress = record.progress or {}
        done, total = progress.get("epoch"), progress.get("num_epochs") or record.config.num_epochs
        mse = (record.result or {}).get("test_mse")
        rows.append({"latent size": size, "status": status_word(record),
                     "epochs": f"{done} / {total}" if done is not None else "—",
                     "test MSE": f"{float(mse):.5f}" if mse is not None else "—"})
    return rows


def epoch_series(rows: Sequence[MetricRow], metric_key: str) -> tuple[list[int], list[float]]:
    """The end-of-epoch values of one Keras log key: (epochs, values)."""
    chosen = [(row.epoch, row.value) for row in rows if row.kind == "epoch" and row.key == metric_key]
    return [epoch for epoch, _ in chosen], [value for _, value in chosen]


def loss_comparison_figure(series: dict[str, Sequence[MetricRow]], *, metric_key: str = "mse",
                           log_scale: bool = False) -> Figure:
    """Train (dashed) and validation (solid) values per epoch of several runs on one set of axes.

    Args:
        series: run label -> that run's metric rows.
        metric_key: a Keras log key; ``mse`` compares any runs, while ``loss`` is in each run's own
            units (a VAE's summed loss is hundreds of times a dense model's mean BCE).
    """
    traces = []
    for index, (label, rows) in enumerate(series.items()):
        colour = CLASS_COLOURS[index % len(CLASS_COLOURS)]
        for key, dash, suffix in ((metric_key, "dash", "train"), (f"val_{metric_key}", "solid", "validation")):
            epochs, values = epoch_series(rows, key)
            if epochs:
                traces.append({"type": "scatter", "x": epochs, "y": values, "mode": "lines+markers",
                               "name": f"{label} · {suffix}", "legendgroup": label,
                               "line": {"color": colour, "dash": dash, "width": 2.5}})
    return figure_spec(traces, f"{metric_key} per epoch", None, xaxis={"title": {"text": "epoch"}},
                       yaxis={"title": {"text": metric_key}, "type": "log" if log_scale else "linear"},
                       legend={"orientation": "h", "y": -0.2})
