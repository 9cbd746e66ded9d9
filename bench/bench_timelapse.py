"""Measure the time-lapse of a real run: its disk per run, and how long each view of it takes.

Trains one run through the job service (as the app does, in a worker process), then reports:
the frames kept and the bytes of ``history/`` in its folder; the seconds to project every
frame with PCA, t-SNE and UMAP on one math thread (as the page's background thread does);
the seconds to build the animated figure and the GIF, and their sizes.

Usage: python bench/bench_timelapse.py [--dataset mnist_sample] [--epochs 10] [--latent-dim 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from threadpoolctl import threadpool_limits  # noqa: E402

from ae_core.analysis.projection import project_frames  # noqa: E402
from ae_core.config import ModelConfig, TrainConfig  # noqa: E402
from ae_core.data import DATASETS  # noqa: E402
from ae_core.service import JobManager  # noqa: E402
from ae_core.store import RunStatus  # noqa: E402
from ae_lab_ui import figures  # noqa: E402
from ae_lab_ui.timelapse_figure import timelapse_figure, timelapse_frames  # noqa: E402
from ae_lab_ui.timelapse_gif import timelapse_gif  # noqa: E402


def _timed(work):  # noqa: ANN001, ANN202
    start = time.perf_counter()
    result = work()
    return result, round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist_sample")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--latent-dim", type=int, default=32)
    args = parser.parse_args()
    config = TrainConfig(dataset=args.dataset, model=ModelConfig(latent_dim=args.latent_dim), num_epochs=args.epochs)
    with tempfile.TemporaryDirectory() as home:
        manager = JobManager(home, max_concurrent=1, warm_workers=1)
        try:
            run_id, train_seconds = _timed(lambda: _train(manager, config))
            history = manager.store.folder(run_id).history_dir("latent").parent
            disk = sum(path.stat().st_size for path in history.rglob("*") if path.is_file())
            latent = manager.snapshot_history(run_id, "latent")
            timelapse = timelapse_frames(latent, manager.snapshot_history(run_id, "reconstruction"))
            report = {"dataset": args.dataset, "epochs": args.epochs, "latent_dim": args.latent_dim,
                      "train_seconds": train_seconds, "frames": len(timelapse),
                      "codes_per_frame": len(timelapse.labels), "history_kib": round(disk / 1024),
                      "load_average": round(os.getloadavg()[0], 1)}
            class_names = DATASETS[args.dataset].class_names
            for method in ("pca", "tsne", "umap"):
                with threadpool_limits(1):
                    points, seconds = _timed(lambda: project_frames(timelapse.codes, method))
                report[f"{method}_seconds"] = seconds
            spec, report["figure_seconds"] = _timed(lambda: timelapse_figure(
                timelapse, points, class_names, run_id=run_id, method_title="UMAP"))
            report["figure_kib"] = round(len(json.dumps(figures.typed_arrays(spec), default=str)) / 1024)
            gif, report["gif_seconds"] = _timed(lambda: timelapse_gif(timelapse, points, method_title="UMAP"))
            report["gif_kib"] = round(len(gif) / 1024)
        finally:
            manager.shutdown()
    print(json.dumps(report, indent=2))


def _train(manager: JobManager, config: TrainConfig) -> str:
    run_id = manager.submit(config)
    while manager.get_run(run_id).status.is_active:
        time.sleep(0.5)
    if manager.get_run(run_id).status is not RunStatus.FINISHED:
        raise SystemExit(f"the run ended {manager.get_run(run_id).status.value}: {manager.get_run(run_id).message}")
    return run_id


if __name__ == "__main__":
    main()
