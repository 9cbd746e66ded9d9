"""Benchmark the background training service (``ae_core.service.jobs.JobManager``).

Measures, in one run of this script:

1. submit -> first loss point in the store, with a warm worker pool (the
   worker imported TensorFlow and warmed up before the submit) and cold
   (``warm_workers=0``: the submit pays a fresh spawn and the TensorFlow import);
2. throughput of a run through the service vs plain ``model.fit`` of the same
   model (system D: 784 -> Dense(64, relu) -> 784, BCE, Adam 1e-3, batch 256,
   validation on the test split), alternating, with the same thread budget;
   the service's figure is the trainer's ``samples_per_second`` (training
   samples / wall seconds of ``fit``), and the baseline's is the same quantity;
3. memory: this process's RSS (it plays the server) while 2 runs train and 30
   threads poll like live pages (the time of one poll is reported too), and a
   worker's peak RSS training ``conv`` on CIFAR-10.

Real data comes from ``$AE_LAB_DATA_DIR`` (``python ../shared/datasets/prepare.py
/tmp/ae_data``); without it the throughput part falls back to the bundled MNIST
sample and the CIFAR-10 part is skipped.

    AE_LAB_DATA_DIR=/tmp/ae_data python bench/bench_service.py           # full (~5 min on 2 cores)
    AE_LAB_DATA_DIR=/tmp/ae_data python bench/bench_service.py --quick   # ~1.5 min
    AE_LAB_DATA_DIR=/tmp/ae_data python bench/bench_service.py --executor ray   # local pool vs Ray, ~6 min
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # service_executors, beside this script

from ae_core.config import ModelConfig, TrainConfig  # noqa: E402
from ae_core.data import is_available_offline  # noqa: E402
from ae_core.service import JobManager  # noqa: E402
from ae_core.store import RunStatus  # noqa: E402

LATENT_DIM, BATCH_SIZE, LEARNING_RATE = 64, 256, 1e-3
STUDENTS = 30


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc (Linux)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def wait(manager: JobManager, run_id: str, timeout: float = 900.0) -> Any:
    deadline = time.monotonic() + timeout
    while manager.get_run(run_id).status.is_active:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} did not end within {timeout:.0f} s")
        time.sleep(0.05)
    record = manager.get_run(run_id)
    if record.status != RunStatus.FINISHED:
        raise RuntimeError(f"run {run_id} ended {record.status.value}: {record.message}")
    return record


def first_loss_seconds(manager: JobManager, config: TrainConfig) -> tuple[float, str]:
    """Seconds from submit until the run's first metric row is readable in the store."""
    start = time.perf_counter()
    run_id = manager.submit(config)
    while not manager.metrics_since(run_id):
        if not manager.get_run(run_id).status.is_active:
            raise RuntimeError(f"run ended before any loss point: {manager.get_run(run_id).message}")
        time.sleep(0.005)
    return time.perf_counter() - start, run_id


def wait_ready(manager: JobManager, count: int) -> float:
    start = time.perf_counter()
    while sum(w.ready for w in manager.workers()) < count:
        time.sleep(0.05)
    return time.perf_counter() - start


def reference_config(dataset: str, train_limit: int | None, epochs: int, seed: int) -> TrainConfig:
    return TrainConfig(dataset=dataset, model=ModelConfig(arch="dense", latent_dim=LATENT_DIM, loss="bce"),
                       num_epochs=epochs, batch_size=BATCH_SIZE, optimizer="adam", learning_rate=LEARNING_RATE,
                       seed=seed, train_limit=train_limit, validation_fraction=0.0)


def plain_fit(threads: int, dataset: str, train_limit: int | None, epochs: int, seed: int, results: Any) -> None:
    """The baseline, in its own spawned process with the worker's thread budget: plain arrays and fit."""
    from ae_core.service import configure_threads

    configure_threads(threads)
    import keras

    from ae_core.data import load_dataset

    splits = load_dataset(dataset, train_limit=train_limit, validation_fraction=0.0)
    x_train = splits.x_train.reshape(len(splits.x_train), -1).astype("float32") / 255.0
    x_test = splits.x_test.reshape(len(splits.x_test), -1).astype("float32") / 255.0
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(784,))
    outputs = keras.layers.Dense(784, activation="sigmoid")(keras.layers.Dense(LATENT_DIM, activation="relu")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="binary_crossentropy", metrics=["mse"])
    start = time.perf_counter()
    model.fit(x_train, x_train, epochs=epochs, batch_size=BATCH_SIZE, shuffle=True,
              validation_data=(x_test, x_test), verbose=0)
    results.put(len(x_train) * epochs / (time.perf_counter() - start))


def run_plain(threads: int, dataset: str, train_limit: int | None, epochs: int, seed: int) -> float:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=plain_fit, args=(threads, dataset, train_limit, epochs, seed, results))
    process.start()
    speed = results.get(timeout=900)
    process.join()
    return float(speed)


def bench_latency(args: argparse.Namespace, home: Path, report: dict[str, Any]) -> None:
    config = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=16, hidden_sizes=(64,)),
                         num_epochs=1, batch_size=64, train_limit=1024)
    with JobManager(home / "warm", max_concurrent=1, warm_workers=1, threads_per_run=args.threads) as manager:
        report["worker_ready_seconds"] = wait_ready(manager, 1)
        warm = []
        for seed in range(args.latency_repeats):
            seconds, run_id = first_loss_seconds(manager, config.replace(seed=seed))
            warm.append(seconds)
            wait(manager, run_id)
            print(f"  warm: first loss point {seconds:.2f} s after submit", flush=True)
    cold = []
    for repeat in range(args.cold_repeats):
        with JobManager(home / f"cold{repeat}", max_concurrent=1, warm_workers=0,
                        threads_per_run=args.threads) as manager:
            seconds, run_id = first_loss_seconds(manager, config)
            cold.append(seconds)
            wait(manager, run_id)
            print(f"  cold: first loss point {seconds:.2f} s after submit", flush=True)
    report.update(warm_first_loss_median=statistics.median(warm), warm_first_loss_max=max(warm),
                  cold_first_loss_median=statistics.median(cold))


def bench_throughput(args: argparse.Namespace, home: Path, report: dict[str, Any]) -> None:
    dataset = "mnist" if is_available_offline("mnist") else "mnist_sample"
    limit = args.train_limit if dataset == "mnist" else None
    plain, service, wall = [], [], []
    with JobManager(home / "throughput", max_concurrent=1, warm_workers=1, threads_per_run=args.threads) as manager:
        wait_ready(manager, 1)
        for seed in range(args.repeats):
            speed = run_plain(args.threads, dataset, limit, args.epochs, seed)
            plain.append(speed)
            print(f"  plain model.fit    : {speed:9.0f} samples/s", flush=True)
            start = time.perf_counter()
            record = wait(manager, manager.submit(reference_config(dataset, limit, args.epochs, seed)))
            wall.append(time.perf_counter() - start)
            service.append(record.result["samples_per_second"])
            print(f"  through the service: {service[-1]:9.0f} samples/s  (submit -> FINISHED {wall[-1]:.1f} s, "
                  f"test MSE {record.result['test_mse']:.4f})", flush=True)
    report.update(throughput_dataset=dataset, throughput_train_limit=limit,
                  plain_samples_per_second=statistics.median(plain),
                  service_samples_per_second=statistics.median(service),
                  throughput_ratio=statistics.median(service) / statistics.median(plain),
                  service_wall_seconds=statistics.median(wall))


def poll_like_a_page(manager: JobManager, run_id: str, durations: list[float], offset: float) -> None:
    """What a live page does once a second: the run list, its run, new metric rows, the latest snapshots.

    Pages start ``offset`` seconds apart, as people do; thirty pollers firing in
    the same millisecond would only measure how long they queue for the GIL.
    """
    time.sleep(offset)
    after = 0
    while True:
        start = time.perf_counter()
        manager.list_runs()
        active = manager.get_run(run_id).status.is_active
        rows = manager.metrics_since(run_id, after)
        after = rows[-1].seq if rows else after
        manager.latest_snapshot(run_id, "reconstruction")
        manager.latest_snapshot(run_id, "latent")
        durations.append(time.perf_counter() - start)
        if not active:
            return
        time.sleep(max(0.0, 1.0 - (time.perf_counter() - start)))


def bench_memory(args: argparse.Namespace, home: Path, report: dict[str, Any]) -> None:
    dataset = "mnist" if is_available_offline("mnist") else "mnist_sample"
    limit = args.train_limit if dataset == "mnist" else None
    with JobManager(home / "memory", max_concurrent=2, warm_workers=2, threads_per_run=1) as manager:
        wait_ready(manager, 2)
        idle = max(rss_mb(w.pid)[0] for w in manager.workers() if w.pid is not None)
        report["idle_worker_rss_mb"] = idle
        print(f"  an idle warm worker (TensorFlow imported, warmed up): {idle:.0f} MB", flush=True)
        run_ids = [manager.submit(reference_config(dataset, limit, args.epochs, seed)) for seed in range(2)]
        polls: list[float] = []
        students = [threading.Thread(target=poll_like_a_page, args=(manager, run_ids[n % 2], polls, n / STUDENTS))
                    for n in range(STUDENTS)]
        for student in students:
            student.start()
        peak = 0.0
        while any(manager.get_run(r).status.is_active for r in run_ids):
            if sum(w.run_id is not None for w in manager.workers()) == 2:
                peak = max(peak, rss_mb()[0])
            time.sleep(0.1)
        for student in students:
            student.join()
        polls.sort()
        report.update(server_rss_mb_two_runs=peak, page_poll_ms_median=1000 * polls[len(polls) // 2],
                      page_poll_ms_p95=1000 * polls[int(len(polls) * 0.95)])
        print(f"  server process RSS while 2 runs train: {peak:.0f} MB", flush=True)
        print(f"  {STUDENTS} simulated pages polling once a second ({len(polls)} polls): one poll takes "
              f"{report['page_poll_ms_median']:.1f} ms median, {report['page_poll_ms_p95']:.1f} ms p95", flush=True)
        if not is_available_offline("cifar10"):
            print("  CIFAR-10 not found in $AE_LAB_DATA_DIR: worker RSS on CIFAR-10 conv skipped")
            return
        config = TrainConfig(dataset="cifar10", model=ModelConfig(arch="conv", latent_dim=64, conv_filters=(32, 64)),
                             num_epochs=1, batch_size=128, train_limit=args.cifar_limit)
        run_id = manager.submit(config)
        pid, worker_peak = None, 0.0
        while manager.get_run(run_id).status.is_active:
            pid = next((w.pid for w in manager.workers() if w.run_id == run_id), pid)
            if pid is not None:
                try:
                    worker_peak = max(worker_peak, rss_mb(pid)[1])
                except (OSError, KeyError):
                    pass
            time.sleep(0.1)
        record = wait(manager, run_id)
        report["worker_peak_rss_mb_cifar10_conv"] = worker_peak
        print(f"  worker peak RSS, CIFAR-10 conv ({args.cifar_limit} images, 1 epoch, "
              f"{record.result['samples_per_second']:.0f} samples/s): {worker_peak:.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and less data")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads per run, for the service and the plain baseline alike (default: all cores)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="ray: the local pool and the Ray executor side by side on a local two-node cluster "
                             "(bench/service_executors.py)")
    args = parser.parse_args()
    args.latency_repeats, args.cold_repeats = (3, 1) if args.quick else (5, 2)
    args.repeats, args.epochs = (1, 2) if args.quick else (2, 3)
    args.train_limit = 20000 if args.quick else None
    args.cifar_limit = 2000 if args.quick else 10000
    args.queue_limit = 2000 if args.quick else 5000
    if args.executor == "ray":
        compare(args)
        return
    print(f"{os.cpu_count()} CPUs, {args.threads} threads per run, data {os.environ.get('AE_LAB_DATA_DIR', '(none)')}")
    report: dict[str, Any] = {"threads_per_run": args.threads, "quick": args.quick}
    with tempfile.TemporaryDirectory(prefix="ae_lab_bench_") as folder:
        home = Path(folder)
        print("1. submit -> first loss point in the store")
        bench_latency(args, home, report)
        print("2. throughput: service vs plain model.fit (same model, same threads)")
        bench_throughput(args, home, report)
        print("3. memory, and 30 polling pages")
        bench_memory(args, home, report)
    print(f"\nworker ready (spawn + TensorFlow import + warm-up): {report['worker_ready_seconds']:.1f} s")
    print(f"first loss point after submit: warm {report['warm_first_loss_median']:.2f} s median "
          f"(max {report['warm_first_loss_max']:.2f} s; target <= 2 s), cold {report['cold_first_loss_median']:.2f} s")
    print(f"throughput service/plain: {report['throughput_ratio']:.3f} (target >= 0.95)")
    if args.json:
        print(json.dumps(report))


def compare(args: argparse.Namespace) -> None:
    """``--executor ray``: both executors side by side (``bench/service_executors.py``)."""
    from service_executors import compare_executors

    report: dict[str, Any] = {"threads_per_run": 1, "quick": args.quick}
    print(f"{os.cpu_count()} CPUs, 1 thread per run, data {os.environ.get('AE_LAB_DATA_DIR', '(none)')}")
    with tempfile.TemporaryDirectory(prefix="ae_lab_bench_") as folder:
        compare_executors(args, Path(folder), report, sys.modules[__name__])
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
