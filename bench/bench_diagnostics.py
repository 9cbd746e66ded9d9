"""Do the diagnostics stay quiet on healthy runs, and speak on bad ones?

Trains the Train page's defaults and every preset on the offline sample (as a worker
trains them, one math thread), runs ``diagnose`` after every epoch on what a watcher would
have seen by then (the metric rows and the latest snapshots), and prints each finding with
the epoch it first appeared (and its sentence), plus the figures the thresholds are compared with: the
smallest reconstruction spread ratio, the most dead code units, the VAE's smallest
per-dimension KL, the loss's fraction of its first batch, and the epochs the loss rose.
``--bad`` trains crafted bad setups instead, each of which should trigger its check.

Usage: python bench/bench_diagnostics.py [--bad] [WORD ...]   (WORD picks the setups whose name has it)
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ae_core.service.worker_setup import configure_threads  # noqa: E402

configure_threads(1)

import numpy as np  # noqa: E402

from ae_core.analysis import diagnostics  # noqa: E402
from ae_core.store import MetricRow  # noqa: E402
from ae_core.training import train  # noqa: E402
from ae_lab_ui import form  # noqa: E402

DEFAULTS = "(defaults)"
# Crafted bad setups (form values on top of the defaults) and the check each should trigger.
BAD = {
    "SGD at 1e-4 (too low)": {"optimizer": "sgd", "learning_rate": 1e-4, "num_epochs": 3},
    "Adam at 0.1 (far too high)": {"learning_rate": 1e-1, "num_epochs": 6},
    "RMSprop at 0.1 (far too high)": {"optimizer": "rmsprop", "learning_rate": 1e-1, "num_epochs": 6},
    "Adam at 0.1, deep, elu (far too high)": {"arch": "deep", "hidden_layers": 2, "learning_rate": 1e-1,
                                              "activation": "elu", "num_epochs": 8},
    "VAE, 32-D code, beta 10": {"arch": "vae", "latent_dim": 32, "hidden_layers": 1, "beta": 10.0, "num_epochs": 5},
    "Deep, 500 examples, 40 epochs (overfits)": {"arch": "deep", "latent_dim": 64, "hidden_layers": 2,
                                                   "example_limit": 500, "num_epochs": 40},
}


def measure(name: str, values: dict) -> None:
    config = form.build_config("mnist_sample", values)
    rows: list[MetricRow] = []
    latest: dict[str, dict] = {}
    first_seen: dict[str, int] = {}
    figures: dict[str, list[float]] = {"spread": [], "dead": [], "min_kl": [], "fraction": []}
    start = time.perf_counter()

    def on_event(event: dict) -> None:
        kind = event["type"]
        if kind == "batch":
            rows.append(MetricRow(len(rows) + 1, "batch", "loss", event["loss"], event["epoch"], event["step"], 0.0))
        elif kind in ("latent", "reconstruction"):
            latest[kind] = event
        elif kind == "epoch":
            rows.extend(MetricRow(len(rows) + 1, "epoch", key, value, event["epoch"], event["step"], 0.0)
                        for key, value in event["metrics"].items())
        if kind != "latent" or not rows or rows[-1].kind != "epoch":
            return
        # Judged at each epoch end, with its metrics and its own snapshots.
        evidence = diagnostics.evidence_from_rows(config, rows, latest.get("latent"), latest.get("reconstruction"))
        for finding in diagnostics.diagnose(evidence):
            if finding.kind not in first_seen:
                first_seen[finding.kind] = evidence.epochs_done
                print(f"    epoch {evidence.epochs_done}: {finding.sentence}", flush=True)
        snapshot, codes = latest["reconstruction"], event["codes"]
        if snapshot["step"] >= diagnostics.MIN_STEPS_FOR_MEAN_IMAGE:  # as the check judges it
            figures["spread"].append(diagnostics.spread_ratio(snapshot["originals"], snapshot["reconstructions"]))
        figures["dead"].append(float(np.sum(np.max(np.abs(codes), axis=0) <= diagnostics.DEAD_CODE_TOLERANCE)))
        if "log_var" in event:
            figures["min_kl"].append(float(np.min(diagnostics.kl_per_dimension(codes, event["log_var"]))))
        if evidence.epochs_done and evidence.batch_losses:
            figures["fraction"].append(evidence.series("loss")[-1] / evidence.batch_losses[0])

    result = train(config, on_event)
    seconds = time.perf_counter() - start
    losses = diagnostics.evidence_from_rows(config, rows).series("loss")
    rises = sum(b > a * (1 + diagnostics.RISE_TOLERANCE) for a, b in zip(losses, losses[1:]))
    shown = ", ".join(f"{kind} (from epoch {epoch})" for kind, epoch in first_seen.items()) or "nothing"
    print(f"{name}: {result.status}, {len(losses)} epochs in {seconds:.0f} s; findings: {shown}")
    low = {key: min(values) for key, values in figures.items() if values}
    after = figures["fraction"][diagnostics.MIN_EPOCHS_FOR_LOW_LR - 1:] or [math.nan]
    print(f"    smallest spread ratio from step {diagnostics.MIN_STEPS_FOR_MEAN_IMAGE} "
          f"{low.get('spread', math.nan):.2f} · most dead units {max(figures['dead'], default=0):.0f} of "
          f"{config.model.latent_dim} · smallest KL per dimension {low.get('min_kl', math.nan):.3f} · "
          f"loss/first batch after epoch {diagnostics.MIN_EPOCHS_FOR_LOW_LR} {after[0]:.2f} · "
          f"epochs the loss rose {rises}", flush=True)


def main(argv: list[str]) -> None:
    words = [word for word in argv if word != "--bad"]
    if "--bad" in argv:
        setups = {name: {**form.DEFAULTS, **values} for name, values in BAD.items()}
    else:
        setups = {DEFAULTS: dict(form.DEFAULTS), **{name: form.preset_values(name) for name in form.PRESETS}}
    for name, values in setups.items():
        if not words or any(word in name for word in words):
            measure(name, values)


if __name__ == "__main__":
    main(sys.argv[1:])
