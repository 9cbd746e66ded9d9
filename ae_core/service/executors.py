"""The executor seam: which machines train the runs the supervisor hands out.

* ``local`` (the default): warm worker processes on this machine (``WorkerPool``);
* ``ray``: actors on a Ray cluster (``RayPool``), for a class or a department that outgrows one
  machine. ``$AE_LAB_RAY_ADDRESS`` names the cluster: ``auto``, ``host:6379``,
  ``ray://host:10001`` (Ray Client), or empty to start a Ray instance on this machine.

The supervisor, the queue, the store, the trainer and the pages are the same for both. Ray is
imported only when it is chosen, so the local lab never pays for it.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ae_core.checks import check_choice, check_int
from ae_core.errors import ExecutorUnavailable
from ae_core.service.pool import WorkerPool
from ae_core.service.worker_setup import WorkerSettings

THREADS_ENV = "AE_LAB_THREADS_PER_RUN"
MAX_CONCURRENT_ENV = "AE_LAB_MAX_CONCURRENT"
EXECUTOR_ENV = "AE_LAB_EXECUTOR"
# GPUs each Ray actor reserves where the cluster has them (the worker image then needs the
# ``tensorflow`` wheel with CUDA, not ``tensorflow-cpu``); the local pool uses what TensorFlow finds.
GPUS_ENV = "AE_LAB_GPUS_PER_RUN"
RAY_ADDRESS_ENV = "AE_LAB_RAY_ADDRESS"
EXECUTORS = ("local", "ray")
DEFAULT_EXECUTOR = "local"


def resolve_executor(executor: str | None) -> str:
    """``executor``, else ``$AE_LAB_EXECUTOR``, else ``local``, checked.

    Raises:
        ValueError: for a name that is not ``local`` or ``ray`` (naming where it came from).
    """
    if executor is not None:
        check_choice("executor", executor, EXECUTORS)
        return executor
    chosen = os.environ.get(EXECUTOR_ENV, "").strip().lower() or DEFAULT_EXECUTOR
    check_choice(EXECUTOR_ENV, chosen, EXECUTORS)
    return chosen


def make_pool(executor: str, settings: WorkerSettings, ray_address: str | None = None) -> WorkerPool:
    """The worker pool of ``executor`` (see the module docstring); nothing is started or connected yet.

    Args:
        executor: ``local`` or ``ray`` (``resolve_executor``).
        settings: for every worker.
        ray_address: the Ray cluster (default ``$AE_LAB_RAY_ADDRESS``); ignored for ``local``.

    Raises:
        ExecutorUnavailable: for ``ray`` where Ray is not installed.
    """
    if executor == "ray":
        try:
            from ae_core.service.ray_pool import RayPool  # imports ray: only for this executor
        except ImportError as error:
            raise ExecutorUnavailable(f"The Ray executor needs Ray, which is not installed here ({error}): "
                                      "pip install -r requirements-cluster.txt, or unset AE_LAB_EXECUTOR.") from error

        address = os.environ.get(RAY_ADDRESS_ENV, "") if ray_address is None else ray_address
        return RayPool(settings, address.strip())
    return WorkerPool(settings)


def positive(name: str, value: Any) -> int:
    """``value``, a whole number of at least 1. Raises ValueError naming ``name`` otherwise."""
    check_int(name, value, 1)
    return value


def _from_env(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    return positive(name, int(text) if text.isdigit() else text)


def default_threads_per_run() -> int:
    """``$AE_LAB_THREADS_PER_RUN``, else half the cores, between 1 and 4.

    Small autoencoders gain little beyond four threads, and a classroom gains
    more from running more runs at once than from making one faster.
    """
    return _from_env(THREADS_ENV) or min(4, max(1, (os.cpu_count() or 1) // 2))


def max_concurrent_for(executor: str, threads_per_run: int, max_concurrent: int | None) -> int | None:
    """The most runs that train at once: ``max_concurrent``, else ``$AE_LAB_MAX_CONCURRENT``, else for the
    local executor the cores // ``threads_per_run`` (at least 1). None for Ray: the cluster's free CPUs decide.

    Raises:
        ValueError: naming the setting, for a value that is not a whole number of at least 1.
    """
    if max_concurrent is None:
        max_concurrent = _from_env(MAX_CONCURRENT_ENV)
    if max_concurrent is None and executor == "local":
        max_concurrent = max(1, (os.cpu_count() or 1) // threads_per_run)
    return None if max_concurrent is None else positive("max_concurrent", max_concurrent)


def gpus_per_run() -> float:
    """``$AE_LAB_GPUS_PER_RUN``: a number from 0 to 8 (default 0). Raises ValueError naming it otherwise."""
    text = os.environ.get(GPUS_ENV, "").strip() or "0"
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 8:
        raise ValueError(f"{GPUS_ENV} must be a number from 0 to 8; got {text!r}")
    return value


def executor_from_command_line(argv: list[str] | None = None) -> None:
    """``streamlit run serve.py -- --executor ray [--ray-address ADDRESS]``: the same as setting
    ``AE_LAB_EXECUTOR`` and ``AE_LAB_RAY_ADDRESS`` (what is not ours, Streamlit's own options, is left alone).

    Raises:
        SystemExit: with argparse's message, for an executor that is not ``local`` or ``ray``.
    """
    parser = argparse.ArgumentParser(prog="streamlit run serve.py --")
    parser.add_argument("--executor", choices=EXECUTORS, help="local worker processes (default) or a Ray cluster")
    parser.add_argument("--ray-address", help="the Ray cluster: auto, HOST:6379, ray://HOST:10001; empty starts one here")
    options, _ = parser.parse_known_args(argv)
    if options.executor is not None:
        os.environ[EXECUTOR_ENV] = options.executor
    if options.ray_address is not None:
        os.environ[RAY_ADDRESS_ENV] = options.ray_address
