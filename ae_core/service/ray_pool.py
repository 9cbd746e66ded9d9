"""The Ray executor's pool: training workers as actors on a Ray cluster (``ray_worker.TrainingWorker``).

The supervisor drives a ``RayPool`` exactly as the local ``WorkerPool``: it waits on each
worker's event connection and death sentinel, reads its messages, dispatches, stops, pauses
and reaps. So each actor is dressed as a local worker: a thread of this process (its "pump")
long-polls the actor's messages and writes them into a local pipe, and when the actor is gone
(killed, or its node died) the pump closes that pipe and marks the worker's ``ActorLife`` dead
with the reason in words. Jobs, stops, pauses and changes are remote calls.

Nothing crosses through a shared filesystem: a dispatch ships the run's checkpoint (a resumed
run, to whichever node takes it) and a classifier's source model as bytes, and the files the
worker writes come back as ``file`` events (``ae_core.store.transfer``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, RayError

from ae_core.errors import ExecutorUnavailable
from ae_core.service.pool import JOIN_SECONDS, WorkerHandle, WorkerPool
from ae_core.service.executors import GPUS_ENV, gpus_per_run
from ae_core.service.ray_worker import MAX_CONCURRENCY, TrainingWorker
from ae_core.service.worker import Job
from ae_core.service.worker_setup import WorkerSettings
from ae_core.store import RunFolder
from ae_core.store.transfer import read_checkpoint

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
CAPACITY_SECONDS = 2.0
CONNECT_SECONDS = 5.0
# How long an actor may be unreachable before its run is given up on. Ray says "unavailable" at
# once (the task "may or may not have been executed"), and "died" only after the node's health
# checks fail (15 s by default), with the cause; a blip in the network ends nothing.
UNAVAILABLE_SECONDS = 120.0
# An actor that is told to go (it retired, or the lab shuts down) ends "cleanly"; one killed by us,
# "by SIGKILL", as a local worker killed after the cancel grace; any other end is a crash.
EXITED, KILLED, CRASHED = 0, -int(signal.SIGKILL), 1


class ActorLife:
    """The part of a ``multiprocessing.Process`` the supervisor uses, for an actor: pid, sentinel,
    exit code, ``is_alive``, ``join``, ``close``. The pump thread ends it (``end``)."""

    def __init__(self) -> None:
        self.pid: int | None = None  # the actor's process id on its node, once it says ready
        self.exitcode: int | None = None
        self.reason = ""
        self.asked: int | None = None  # set when we end the actor: how its end counts (EXITED or KILLED)
        self._ended = threading.Event()
        # Readable (end of file) once the actor is gone, for the supervisor's wait().
        self.sentinel, self._sentinel_write = os.pipe()

    def end(self, exitcode: int, reason: str) -> None:
        self.exitcode, self.reason = exitcode, reason
        self._ended.set()
        os.close(self._sentinel_write)

    def is_alive(self) -> bool:
        return not self._ended.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._ended.wait(timeout)

    def close(self) -> None:
        os.close(self.sentinel)


@dataclass(eq=False)
class RayWorkerHandle(WorkerHandle):
    """A worker of the Ray pool: its ``process`` is an ``ActorLife`` and its jobs go to ``actor``."""

    actor: Any = None


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (empty: start a Ray instance on this machine), once per process.

    Raises:
        ExecutorUnavailable: if the cluster cannot be reached, in words that name the address.
    """
    if ray.is_initialized():
        return
    local = not address or address == "local"
    try:
        _check_reachable(address)
        if local:
            ray.init(address="local", include_dashboard=False, log_to_driver=False, namespace="ae_lab")
        else:
            ray.init(address=address, log_to_driver=False, namespace="ae_lab")
    except Exception as error:  # noqa: BLE001 (ConnectionError, a bad address, a version mismatch...: all the same to a user)
        where = "on this machine" if local else f"at {address}"
        raise ExecutorUnavailable(
            f"The Ray cluster {where} could not be reached ({type(error).__name__}: {str(error)[:300]}), so no run "
            "can train now. Runs already saved can still be viewed, explored and compared. Check that the "
            "cluster is up (ray status) and that AE_LAB_RAY_ADDRESS names it; the next Train tries again.") from error


def _check_reachable(address: str) -> None:
    """Refuse at once a ``host:port`` (or ``ray://host:port``) that nothing listens on: ``ray.init``
    would retry it for minutes. ``auto`` is checked where Ray would look; an empty address starts Ray here.

    Raises:
        OSError: when the port cannot be reached within ``CONNECT_SECONDS``.
    """
    if address == "auto":  # where Ray itself looks: $RAY_ADDRESS, else the cluster last started on this machine
        latest = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        address = os.environ.get("RAY_ADDRESS") or (latest.read_text().strip() if latest.is_file() else "")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if host and port.isdigit():
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()


class RayPool(WorkerPool):
    """Training workers as Ray actors (see the module docstring).

    Args:
        settings: for every worker (its ``threads_per_run`` is the CPUs each actor reserves).
        address: the Ray cluster (``ae_core.service.executors``); connected at the first ``spawn``.

    Raises:
        ValueError: for a bad ``$AE_LAB_GPUS_PER_RUN``.
    """

    def __init__(self, settings: WorkerSettings, address: str) -> None:
        super().__init__(settings)
        self.address = address
        self.gpus_per_run = gpus_per_run()
        self._capacity: tuple[float, int | None] = (0.0, None)
        self._remote_class: Any = None

    def spawn(self) -> WorkerHandle:
        """Start one actor where the cluster has its CPUs free; it says ``ready`` once TensorFlow is imported.

        Raises:
            ExecutorUnavailable: if the cluster cannot be reached.
        """
        connect(self.address)
        if self._remote_class is None:
            self._remote_class = ray.remote(TrainingWorker).options(
                num_cpus=self.settings.threads_per_run, num_gpus=self._gpus_per_actor(),
                max_concurrency=MAX_CONCURRENCY, max_restarts=0)
        actor = self._remote_class.remote(self.settings)
        events, pump_end = Pipe(duplex=False)
        worker = RayWorkerHandle(process=ActorLife(), jobs=None, events=events, stop_token=None, actor=actor)
        actor.start.remote()
        threading.Thread(target=self._pump, args=(worker, pump_end), name="ae-lab-ray-pump", daemon=True).start()
        self.workers.append(worker)
        logger.info("Started a training actor on the Ray cluster")
        return worker

    def _gpus_per_actor(self) -> float:
        """``$AE_LAB_GPUS_PER_RUN`` (a fraction shares a GPU) where the cluster has GPUs, else 0.

        Asked of a cluster with no GPU, it would leave every actor waiting for one forever.
        """
        wanted = self.gpus_per_run
        if wanted and not ray.cluster_resources().get("GPU"):
            logger.warning("%s=%s, but the Ray cluster has no GPU: training on CPUs", GPUS_ENV, wanted)
            return 0.0
        return wanted

    def _pump(self, worker: RayWorkerHandle, pipe: Connection) -> None:
        """Copy the actor's messages into the worker's pipe until the actor is gone, then end its life.

        A retired actor (it said ``retiring``, then ``done``) is ended here: unlike a process, an
        actor does not exit by itself.
        """
        life: ActorLife = worker.process
        exitcode, reason, retiring = CRASHED, "", False
        unreachable_since: float | None = None
        try:
            while True:
                try:
                    messages = ray.get(worker.actor.next_messages.remote(POLL_SECONDS))
                except ActorUnavailableError:  # not known dead (yet): ask again, up to UNAVAILABLE_SECONDS
                    unreachable_since = unreachable_since or time.monotonic()
                    if life.asked is not None or time.monotonic() - unreachable_since > UNAVAILABLE_SECONDS:
                        raise
                    time.sleep(POLL_SECONDS)
                    continue
                unreachable_since = None
                for message in messages:
                    if message[0] == "ready":
                        life.pid = int(message[1])
                    retiring = retiring or message[0] == "retiring"
                    pipe.send(message)
                    if retiring and message[0] == "done":
                        self._end(worker, EXITED, wait=False)
        except RayError as error:
            words = str(error).lower()
            if "node" in words and "died" in words:
                reason = "its node of the Ray cluster died"
            elif life.asked is not None:
                exitcode = life.asked
            else:
                reason = f"the Ray actor died: {str(error).strip().splitlines()[0][:200]}"
        except (OSError, ValueError):  # the pipe was closed: the pool forgot this worker
            exitcode = EXITED
        finally:
            pipe.close()
            life.end(exitcode, reason)

    def exit_words(self, worker: WorkerHandle) -> str:
        return worker.process.reason or super().exit_words(worker)

    def capacity(self) -> int | None:
        """Runs the cluster can train at once: its free CPUs plus this pool's own, over each run's threads
        (looked up at most every ``CAPACITY_SECONDS``; None before the cluster is joined)."""
        checked_at, capacity = self._capacity
        if not ray.is_initialized() or time.monotonic() - checked_at < CAPACITY_SECONDS:
            return capacity
        try:
            free = ray.available_resources().get("CPU", 0.0)
        except Exception:  # noqa: BLE001 (a cluster that does not answer keeps the last figure)
            return capacity
        # Ready actors hold their CPUs; one not placed yet (the cluster is full) holds none.
        mine = sum(w.ready and w.process.is_alive() for w in self.workers) * self.settings.threads_per_run
        capacity = max(1, int((free + mine) // self.settings.threads_per_run))
        self._capacity = (time.monotonic(), capacity)
        return capacity

    def _send_job(self, worker: WorkerHandle, job: Job) -> None:
        """Send a job to an idle actor, with the run's checkpoint and source model as bytes (the server's
        paths in ``job`` mean nothing on the actor's node).

        Raises:
            OSError: if the store's files cannot be read (the supervisor requeues the run).
        """
        files = read_checkpoint(RunFolder(Path(job.run_dir)))
        source = Path(job.source_model).read_bytes() if job.source_model else None
        worker.actor.run.remote(replace(job, run_dir="", source_model=None), files, source)

    def _send_stop(self, worker: WorkerHandle, token: int) -> None:
        (worker.actor.request_stop if token > 0 else worker.actor.request_pause).remote(abs(token))

    def post_change(self, worker: WorkerHandle, field: str, value: float) -> None:
        if worker.busy:
            worker.actor.post_change.remote(field, value)

    def kill(self, worker: WorkerHandle) -> None:
        """Stop an actor at once and wait until its pump saw it go."""
        self._end(worker, KILLED)

    def ask_to_exit(self, worker: WorkerHandle) -> None:
        """End an idle actor (the lab shuts down): it counts as a clean exit."""
        self._end(worker, EXITED)

    def _end(self, worker: WorkerHandle, how: int, *, wait: bool = True) -> None:
        life = worker.process
        if life.is_alive() and life.asked is None:
            life.asked = how
            try:
                ray.kill(worker.actor, no_restart=True)
            except Exception:  # noqa: BLE001 (already gone, or the cluster is: the pump ends it either way)
                logger.info("Could not kill a training actor; it is gone already", exc_info=True)
        if wait:
            life.join(JOIN_SECONDS)
