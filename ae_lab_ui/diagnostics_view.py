"""What went wrong with a run, in plain words: the findings of ``ae_core.analysis.diagnostics`` on a page.

A live view reruns every quarter to whole second, but the checks only have something new
to judge when an epoch ends (their metrics and snapshots are judged in whole epochs) or the
run changes state. So the findings are kept per view in ``st.session_state``, stamped with
the run, its state and its epochs done, and computed again (two snapshot reads and a few
array sums) only when that stamp changes; until the snapshots of the epoch just done are in,
they are not kept. The findings sit in one keyed container that is always drawn, so a
warning that stays stays put instead of flickering.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ae_core.analysis import diagnostics
from ae_core.analysis.diagnostics import Finding, RunEvidence
from ae_core.store import RunRecord
from ae_lab_ui.history import MetricHistory
from ae_lab_ui.services import JobService, attempt

ICONS = {diagnostics.WARNING: ":material/warning:", diagnostics.INFO: ":material/lightbulb:"}


def evidence_of(record: RunRecord, history: MetricHistory, latent: dict[str, Any] | None,
                reconstruction: dict[str, Any] | None) -> RunEvidence:
    """The ``RunEvidence`` of a run from what a page's ``MetricHistory`` has read and its latest snapshots."""
    epoch_metrics = {key: tuple(value for _, _, value in series) for key, series in history.epochs.items()}
    return RunEvidence(record.config, tuple(history.batch_losses), epoch_metrics, latent, reconstruction)


def findings(manager: JobService, record: RunRecord, history: MetricHistory, *,
             key_prefix: str) -> tuple[Finding, ...]:
    """The run's findings, computed again only when an epoch ended or the run changed state since the last time."""
    state_key = f"{key_prefix}_diagnostics_findings"
    stamp = (record.run_id, record.status, len(history.epochs.get("loss", ())))
    kept = st.session_state.get(state_key)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    latent = attempt(lambda: manager.latest_snapshot(record.run_id, "latent"), what="read the latent codes")
    reconstruction = attempt(lambda: manager.latest_snapshot(record.run_id, "reconstruction"),
                             what="read the reconstructions")
    evidence = evidence_of(record, history, latent, reconstruction)
    found = diagnostics.diagnose(evidence)
    # Until the snapshots of the epoch just done arrive (a moment after its metrics), ask again at each rerun.
    if not evidence.epochs_done or all(diagnostics.is_current(snapshot, evidence.epochs_done)
                                       for snapshot in (latent, reconstruction)):
        st.session_state[state_key] = (stamp, found)
    return found


def render_findings(manager: JobService, record: RunRecord, history: MetricHistory, *, key_prefix: str) -> None:
    """Each finding of an autoencoder run as a warning or a tip: the sentence in bold, then what to try."""
    if record.config.task != "reconstruct":
        return  # a classifier has no codes or reconstructions, and its own curves
    with st.container(key=f"{key_prefix}_diagnostics"):
        for finding in findings(manager, record, history, key_prefix=key_prefix):
            show = st.warning if finding.severity == diagnostics.WARNING else st.info
            show(f"**{finding.sentence}** {finding.what_to_try}", icon=ICONS[finding.severity])
