"""``bench_service.py --executor ray``: the local pool and the Ray executor side by side, in one run.

A real two-node Ray cluster starts on this machine (``ray.cluster_utils.Cluster``, one CPU per
node), and one ``JobManager`` of each executor serves the same work, one run per core:

1. submit -> first loss point with warm workers (median of ``--latency-repeats``, alternating);
2. throughput of one run, as the trainer's ``samples_per_second``, against plain ``model.fit``
   of the same model in a process of its own, alternating plain / local / Ray;
3. eight runs queued at once: submit -> all FINISHED.

Targets (issue "the job service on a Ray cluster"): Ray's throughput at least 0.90 of the local
pool's, and its warm first point within 2 s.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from ae_core.config import ModelConfig, TrainConfig
from ae_core.data import is_available_offline
from ae_core.service import JobManager

QUEUED_RUNS = 8


def _cluster() -> Any:
    import ray
    from ray.cluster_utils import Cluster

    repo = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, namespace="ae_lab")
    return cluster


def compare_executors(args: Any, home: Path, report: dict[str, Any], helpers: Any) -> None:
    """Measure both executors; ``helpers`` is ``bench_service`` (its waits, configs and plain baseline)."""
    import ray

    started = time.perf_counter()
    cluster = _cluster()
    print(f"  a two-node Ray cluster started in {time.perf_counter() - started:.1f} s", flush=True)
    settings = {"threads_per_run": 1, "warm_workers": 2}
    managers = {"local": JobManager(home / "local", max_concurrent=2, **settings),
                "ray": JobManager(home / "ray", executor="ray", ray_address=cluster.address, **settings)}
    try:
        for name, manager in managers.items():
            print(f"  {name}: workers ready in {helpers.wait_ready(manager, 2):.1f} s "
                  f"(max_concurrent {manager.max_concurrent})", flush=True)
        _latency(args, managers, report, helpers)
        _throughput(args, managers, report, helpers)
        _queue(args, managers, report, helpers)
    finally:
        for manager in managers.values():
            manager.shutdown()
        ray.shutdown()
        cluster.shutdown()
    print("\n                      local pool     Ray (2 nodes)")
    print(f"first point (warm)    {report['local_first_loss_median']:8.2f} s    {report['ray_first_loss_median']:8.2f} s"
          "   (target: Ray <= 2 s)")
    print(f"throughput / plain    {report['local_throughput_ratio']:8.3f}      {report['ray_throughput_ratio']:8.3f}")
    print(f"{QUEUED_RUNS} queued runs         {report['local_queue_seconds']:8.1f} s    "
          f"{report['ray_queue_seconds']:8.1f} s")
    print(f"Ray / local throughput: {report['ray_vs_local_throughput']:.3f} (target >= 0.90)")


def _latency(args: Any, managers: dict[str, JobManager], report: dict[str, Any], helpers: Any) -> None:
    config = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=16, hidden_sizes=(64,)),
                         num_epochs=1, batch_size=64, train_limit=1024)
    seconds: dict[str, list[float]] = {name: [] for name in managers}
    for seed in range(args.latency_repeats):
        for name, manager in managers.items():
            took, run_id = helpers.first_loss_seconds(manager, config.replace(seed=seed))
            seconds[name].append(took)
            helpers.wait(manager, run_id)
            print(f"  {name:5}: first loss point {took:.2f} s after submit", flush=True)
    for name, values in seconds.items():
        report[f"{name}_first_loss_median"] = statistics.median(values)


def _throughput(args: Any, managers: dict[str, JobManager], report: dict[str, Any], helpers: Any) -> None:
    dataset = "mnist" if is_available_offline("mnist") else "mnist_sample"
    limit = args.train_limit if dataset == "mnist" else None
    speeds: dict[str, list[float]] = {"plain": [], **{name: [] for name in managers}}
    for seed in range(args.repeats):
        speeds["plain"].append(helpers.run_plain(1, dataset, limit, args.epochs, seed))
        print(f"  plain model.fit: {speeds['plain'][-1]:9.0f} samples/s", flush=True)
        for name, manager in managers.items():
            record = helpers.wait(manager, manager.submit(helpers.reference_config(dataset, limit, args.epochs, seed)))
            speeds[name].append(record.result["samples_per_second"])
            print(f"  {name:5}          : {speeds[name][-1]:9.0f} samples/s (test MSE "
                  f"{record.result['test_mse']:.5f})", flush=True)
    plain = statistics.median(speeds["plain"])
    for name in managers:
        report[f"{name}_throughput_ratio"] = statistics.median(speeds[name]) / plain
    report["ray_vs_local_throughput"] = statistics.median(speeds["ray"]) / statistics.median(speeds["local"])
    report.update(throughput_dataset=dataset, throughput_train_limit=limit, plain_samples_per_second=plain)


def _queue(args: Any, managers: dict[str, JobManager], report: dict[str, Any], helpers: Any) -> None:
    dataset = "mnist" if is_available_offline("mnist") else "mnist_sample"
    for name, manager in managers.items():
        started = time.perf_counter()
        run_ids = [manager.submit(helpers.reference_config(dataset, args.queue_limit, 1, seed))
                   for seed in range(QUEUED_RUNS)]
        for run_id in run_ids:
            helpers.wait(manager, run_id)
        report[f"{name}_queue_seconds"] = time.perf_counter() - started
        print(f"  {name:5}: {QUEUED_RUNS} queued runs finished in {report[f'{name}_queue_seconds']:.1f} s", flush=True)
