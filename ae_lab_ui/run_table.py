"""The Runs page's table: one row per run, in the words and formats a person reads."""

from __future__ import annotations

import datetime

import pandas as pd
import streamlit as st

from ae_core.store import RunRecord
from ae_lab_ui import form, views
from ae_lab_ui.history import format_seconds

RUNS_TABLE_COLUMNS = {
    "Test MSE": st.column_config.NumberColumn(format="%.5f"),
    "PSNR (dB)": st.column_config.NumberColumn(format="%.1f"),
    "Test accuracy": st.column_config.NumberColumn(format="percent"),
    "When": st.column_config.DatetimeColumn(format="distance"),
}


def runs_table(runs: list[RunRecord], student_id: str | None = None) -> pd.DataFrame:
    """One row per run; with ``student_id`` (a class), a "Started by" column says whose it is."""
    rows = []
    for record in runs:
        result = record.result or {}
        autoencoder = record.config.task == "reconstruct"
        whose = {} if student_id is None else {
            "Started by": "you" if record.started_by == student_id else "another student"}
        rows.append({**whose,
            "Status": views.status_word(record),
            "Dataset": form.dataset_title(record.config.dataset),
            "Architecture": form.architecture(record.config),
            "Latent size": record.config.model.latent_dim if autoencoder else None,
            "Test MSE": result.get("test_mse"),
            "PSNR (dB)": result.get("test_psnr"),
            "Test accuracy": result.get("test_accuracy"),
            "Duration": format_seconds(views.duration(record)),
            "When": datetime.datetime.fromtimestamp(record.created_at),
        })
    return pd.DataFrame(rows)
