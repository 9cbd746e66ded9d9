"""What the first press of Train teaches: the defaults and every preset on the offline sample.

For each setup, trained as a worker trains it (one math thread, checkpoints on), prints
the seconds to the first batch, the MSE of each reconstruction snapshot over time, the
test MSE at the end and how many snapshots a watcher saw. The first setup also pays the
process's TensorFlow start-up; the others run warm, as in a worker.

Usage: python bench/bench_presets.py [PRESET ...]   (no name: the defaults and every preset)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ae_core.service.worker_setup import configure_threads  # noqa: E402

configure_threads(1)

from ae_core.training import train  # noqa: E402
from ae_lab_ui import figures, form  # noqa: E402

DEFAULTS = "(defaults)"


def measure(name: str) -> None:
    values = form.DEFAULTS if name == DEFAULTS else form.preset_values(name)
    config = form.build_config("mnist_sample", values)
    start = time.perf_counter()
    first_batch: list[float] = []
    snapshots: list[tuple[float, float]] = []

    def on_event(event: dict) -> None:
        now = time.perf_counter() - start
        if event["type"] == "batch" and not first_batch:
            first_batch.append(now)
        if event["type"] == "reconstruction":
            snapshots.append((round(now, 1), round(figures.snapshot_mse(event), 3)))

    with tempfile.TemporaryDirectory() as folder:
        result = train(config, on_event, checkpoint_dir=folder)
    print(f"{name}: {time.perf_counter() - start:.1f} s in all, first batch at {first_batch[0]:.2f} s, "
          f"test MSE {result.metrics.get('test_mse', float('nan')):.4f}, {len(snapshots)} snapshots", flush=True)
    print(f"    (seconds, snapshot MSE): {snapshots[:8]} ... {snapshots[-2:]}", flush=True)


if __name__ == "__main__":
    for preset in sys.argv[1:] or [DEFAULTS, DEFAULTS, *form.PRESETS]:
        measure(preset)
