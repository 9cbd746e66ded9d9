"""Benchmark: how long the server takes to project 2,000 latent codes to 2-D, on one thread.

The server draws the latent map with one math thread (it shares the CPU with the training
workers), so that is how it is timed here. Each slow method (t-SNE, UMAP) is timed against
PCA measured in the same run, after one small call that pays the imports and UMAP's numba
compile (the server's warm-up pays those once). Target: t-SNE and UMAP each ≤ 5 s, so that a
live map switched to them shows within the Train page's budget.

    python bench/bench_projection.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from ae_core.analysis.projection import project  # noqa: E402

NUM_CODES, LATENT_DIM, TARGET_SECONDS = 2000, 32, 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = np.arange(NUM_CODES) % 10
    codes = rng.normal(scale=4.0, size=(10, LATENT_DIM))[labels] + rng.normal(size=(NUM_CODES, LATENT_DIM))
    times: dict[str, list[float]] = {}
    with threadpool_limits(1):
        for method in ("pca", "tsne", "umap"):
            project(codes[:60], method)  # imports and compilation, paid once by the server's warm-up
        for _ in range(args.repeats):
            for method in ("pca", "tsne", "umap"):
                start = time.perf_counter()
                project(codes, method)
                times.setdefault(method, []).append(time.perf_counter() - start)
    pca = statistics.median(times["pca"])
    print(f"{NUM_CODES} codes of {LATENT_DIM} dimensions, one thread, median of {args.repeats}:")
    for method, seconds in times.items():
        median = statistics.median(seconds)
        verdict = "" if method == "pca" else ("  ok" if median <= TARGET_SECONDS else f"  over {TARGET_SECONDS:g} s")
        print(f"  {method:5s} {median:7.3f} s  ({median / pca:8.1f} x PCA){verdict}")


if __name__ == "__main__":
    main()
