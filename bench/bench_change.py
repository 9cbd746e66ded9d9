"""Benchmark: how soon does a change made on the Train page reach training, through the job service?

Starts a ``JobManager`` with one real worker, trains the default run on the offline
``mnist_sample`` (batches of 32, learning rate 3e-3), and asks ``--changes`` times for a new
learning rate, as the Train page's "Change while training" does. For each it prints the
seconds until the change is in the run's ``config.json``: handed to the worker, applied at its
next call of ``STEPS_PER_EXECUTION`` = 4 batches, sent back as an event and recorded by the store.

    python bench/bench_change.py --changes 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ae_core.config import TrainConfig  # noqa: E402
from ae_core.service import JobManager  # noqa: E402
from ae_core.store import RunStatus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=5)
    args = parser.parse_args()
    rates = (1e-3, 3e-4, 1e-3, 3e-3, 1e-4, 3e-4, 1e-3)
    with tempfile.TemporaryDirectory() as home, JobManager(home, max_concurrent=1, warm_workers=1,
                                                           threads_per_run=1) as manager:
        run_id = manager.submit(TrainConfig(num_epochs=50))
        while not manager.metrics_since(run_id):
            time.sleep(0.05)
        seconds = []
        for index in range(args.changes):
            time.sleep(1.0)
            record = manager.get_run(run_id)
            if record.status is not RunStatus.RUNNING:
                sys.exit(f"the run stopped: {record.message}")
            asked = time.perf_counter()
            manager.change(run_id, "learning_rate", rates[index % len(rates)])
            while len(manager.get_run(run_id).config.changes) <= index:
                time.sleep(0.005)
            seconds.append(time.perf_counter() - asked)
            print(f"change {index + 1}: in config.json after {seconds[-1]:.3f} s")
        manager.cancel(run_id)
    print(f"median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s")


if __name__ == "__main__":
    main()
