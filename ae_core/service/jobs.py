"""The job service: a queue of training runs over warm worker processes.

The app holds exactly one ``JobManager`` (through ``st.cache_resource``); any
number of Streamlit threads may call it at once. Its public methods only touch
the store (which is thread-safe) and wake the supervisor thread (see
``ae_core.service.supervisor``), which owns the worker processes. Training never runs
in the server process, so a crash or a runaway model cannot take it down, and
cancelling can always really stop the work by ending the worker.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ae_core.access import LAB_OWNER, Actor, ClassRules, default_max_queued
from ae_core.checks import check_float, fail, is_whole
from ae_core.config import TrainConfig
from ae_core.errors import QueueFull, RunNotFound
from ae_core.service.owners import OwnerLock, recover_orphans
from ae_core.service.pool import WorkerInfo
from ae_core.store.class_rules import read_class_rules, write_class_rules
from ae_core.store import DamagedRun, MetricRow, RunFolder, RunRecord, RunStatus, RunStore, validate_run_id
from ae_core.service.requests import check_may_act, check_may_change, check_source
from ae_core.service.supervisor import Supervisor
from ae_core.service.executors import (default_threads_per_run, make_pool, max_concurrent_for, positive,
                                      resolve_executor)
from ae_core.service.worker_setup import Trainer, WorkerSettings
from ae_core.training import train


class JobManager:
    """Submit, watch, cancel, delete and resume training runs.

    Args:
        home: the store's folder (default ``$AE_LAB_HOME`` or ``~/.ae_lab``).
        max_concurrent: runs training at once (default ``$AE_LAB_MAX_CONCURRENT``, else for the
            local executor cores // threads_per_run, at least 1, and for Ray what the cluster's free
            CPUs allow, followed as nodes join and leave); the rest wait QUEUED.
        warm_workers: workers started now, TensorFlow imported, so the first
            runs start at once (default min(max_concurrent, 2)); more are
            started on demand, up to ``max_concurrent``.
        threads_per_run: math threads of each worker (default ``default_threads_per_run()``).
        trainer: the function each run trains with (default ``ae_core.training.train``), or
            ``"module:function"`` naming one with its signature (tests pass a fast fake).
        warmup: let each new worker train a tiny model first, to pay Keras's one-time costs.
        jobs_per_worker: runs a worker trains before it is replaced by a fresh process.
        cancel_grace_seconds: how long a cancelled run may take to stop before its worker is killed.
        executor: ``"local"`` worker processes or ``"ray"`` actors (default ``$AE_LAB_EXECUTOR``,
            else local; ``ae_core.service.executors``).
        ray_address: the Ray cluster (default ``$AE_LAB_RAY_ADDRESS``; empty starts one here).

    Raises:
        ValueError: for a setting out of range.
    """

    def __init__(self, home: str | os.PathLike[str] | None = None, max_concurrent: int | None = None,
                 warm_workers: int | None = None, *, threads_per_run: int | None = None,
                 trainer: Trainer | str = train, warmup: bool = True, cancel_grace_seconds: float = 10.0,
                 jobs_per_worker: int = 20, executor: str | None = None, ray_address: str | None = None) -> None:
        self.executor = resolve_executor(executor)
        threads = positive("threads_per_run", default_threads_per_run() if threads_per_run is None else threads_per_run)
        limit = max_concurrent_for(self.executor, threads, max_concurrent)
        self.warm_workers = min(limit or 2, 2) if warm_workers is None else warm_workers
        if not is_whole(self.warm_workers) or not 0 <= self.warm_workers <= (limit or math.inf):
            fail("warm_workers", warm_workers, f"a whole number from 0 to max_concurrent ({limit})")
        check_float("cancel_grace_seconds", cancel_grace_seconds, 0.0, math.inf, open_low=True, open_high=True)
        positive("jobs_per_worker", jobs_per_worker)
        self.threads_per_run = threads
        self.cancel_grace_seconds = float(cancel_grace_seconds)
        self.store = RunStore(home)
        self._lock = threading.Lock()
        self._owner_lock = OwnerLock(self.store.locks_dir)
        self.owner = self._owner_lock.owner
        self._closed = False
        recover_orphans(self.store, self.owner)
        settings = WorkerSettings(threads_per_run=threads, trainer=trainer, warmup=warmup,
                                  jobs_per_worker=jobs_per_worker)
        self._supervisor = Supervisor(self.store, self.owner, make_pool(self.executor, settings, ray_address),
                                      max_concurrent=limit, warm_workers=self.warm_workers,
                                      cancel_grace_seconds=self.cancel_grace_seconds)
        self._supervisor.start()
        atexit.register(self.shutdown)

    # -- the reading and control API -------------------------------------------
    def submit(self, config: TrainConfig | Mapping[str, Any], actor: Actor = LAB_OWNER) -> str:
        """Queue a run for ``actor`` and return its id at once.

        A classifier that fine-tunes an encoder is checked against its source
        run here, so a wrong source is refused before anything is queued. A
        student of a class (an actor who is not a teacher) must keep within the
        class's rules (``class_rules``).

        Raises:
            ValueError: for an invalid config (nothing is queued), a config beyond
                the class's caps, or a ``source_run_id`` that is not a finished
                autoencoder run on images of the same shape.
            QueueFull: when a student already has as many runs queued as the class allows.
            RunNotFound: for a ``source_run_id`` the store does not know.
        """
        if isinstance(config, Mapping):
            config = TrainConfig.from_dict(config)
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig or a dict of its fields; got {type(config).__name__}")
        self._check_open()
        if config.source_run_id is not None:
            source = self.store.get_run(str(config.source_run_id))
            check_source(config, source, self.store.folder(source.run_id).model_path.is_file())
        rules = None if actor.is_teacher else self.class_rules()
        if rules is not None:
            rules.check(config)
        run_id = self.store.create_run(config, owner=self.owner, started_by=actor.student_id or None,
                                       max_queued=rules.max_queued_per_student if rules else None)
        self._supervisor.allow_retry()  # also wakes it: a broken worker start gets one more try per submit
        return run_id

    def list_runs(self) -> list[RunRecord]:
        """Every run, newest first; broken entries are logged and skipped."""
        return self.store.list_runs()

    def damaged_runs(self) -> list[DamagedRun]:
        """The runs ``list_runs`` skips because they cannot be read, each with the reason (newest first).

        They are never trained; ``delete`` removes them.
        """
        return self.store.damaged_runs()

    def get_run(self, run_id: str) -> RunRecord:
        """One run. Raises RunNotFound (ValueError for a malformed id)."""
        return self.store.get_run(run_id)

    def metrics_since(self, run_id: str, after_seq: int = 0) -> list[MetricRow]:
        """The run's metric rows with ``seq > after_seq``, oldest first. Raises RunNotFound."""
        return self.store.metrics_since(run_id, after_seq)

    def latest_snapshot(self, run_id: str, kind: str) -> dict[str, Any] | None:
        """The latest ``"reconstruction"`` or ``"latent"`` snapshot (the event's fields), or None."""
        return self.store.read_snapshot(run_id, kind)

    def snapshot_history(self, run_id: str, kind: str) -> list[dict[str, Any]]:
        """The run's time-lapse: its kept ``"reconstruction"`` or ``"latent"`` frames, oldest first.

        Raises:
            RunNotFound: for an unknown run.
        """
        return self.store.read_history(run_id, kind)

    def cancel(self, run_id: str, actor: Actor = LAB_OWNER) -> None:
        """Cancel a queued run at once, or stop a running one (at its next batch,
        or by killing its worker after ``cancel_grace_seconds``).

        Raises:
            RunNotFound: for an unknown run.
            PermissionError: if ``actor`` may not act on the run (another student's).
        """
        self._check_may_act(run_id, actor, "stop")
        if self.store.lifecycle.request_cancel(run_id) == RunStatus.RUNNING:
            self._supervisor.wake()

    def change(self, run_id: str, field: str, value: float, actor: Actor = LAB_OWNER) -> None:
        """Change a setting of a training run from its next batch (``ae_core.changes``).

        The worker applies it and sends a ``change`` event, which the store adds to the
        run's ``config.json`` (``TrainConfig.changes``); a resumed run replays it.

        Args:
            run_id: a RUNNING run.
            field: one of the run's ``ae_core.changes.changeable_fields``.
            value: the new value, within the config's rules for that field.

        Raises:
            RunNotFound: for an unknown run.
            PermissionError: if ``actor`` may not act on the run (another student's).
            ValueError: for a run that is not training now (queued, paused, stopping, ended),
                a field the run does not have, or a value out of range (naming the field).
        """
        self._check_may_act(run_id, actor, "change")
        value = check_may_change(self.store.get_run(run_id), field, value)
        self._supervisor.request_change(run_id, field, value)

    def delete(self, run_id: str, actor: Actor = LAB_OWNER) -> None:
        """Delete a run with its metrics and artifacts, cancelling it first if needed.

        A damaged run (see ``damaged_runs``) is deleted at once: a row whose status is not
        one a manager knows is trained by none.

        Raises:
            RunNotFound: for an unknown run.
            ValueError: for a malformed run id.
            PermissionError: if ``actor`` may not act on the run (another student's).
        """
        self._check_may_act(run_id, actor, "delete")
        try:
            status = self.store.lifecycle.request_cancel(run_id)
        except ValueError:  # the row's status is not a RunStatus: nothing trains it, so nothing to stop
            status = None
        if status == RunStatus.RUNNING:
            self._supervisor.wake()
            deadline = time.monotonic() + self.cancel_grace_seconds + 15.0
            while self.store.status(run_id) == RunStatus.RUNNING and time.monotonic() < deadline:
                time.sleep(0.05)
        self.store.delete_run(run_id)

    def resume(self, run_id: str, actor: Actor = LAB_OWNER) -> str:
        """Queue an INTERRUPTED or CANCELLED run again under the same id; it
        continues from its last epoch checkpoint (or starts over if it has none).

        Raises:
            RunNotFound: for an unknown run.
            ValueError: if the run is in another state.
            PermissionError: if ``actor`` may not act on the run (another student's).
            QueueFull: when a student already has as many runs queued as the class allows.
        """
        self._check_open()
        self._check_may_act(run_id, actor, "resume")
        if not actor.is_teacher:
            limit = self.class_rules().max_queued_per_student
            if self.store.lifecycle.queued_count(actor.student_id or None) >= limit:
                raise QueueFull(limit)
        status = self.store.status(run_id)
        resumable = [state for state in RunStatus if state.is_resumable]
        if not status.is_resumable or not self.store.lifecycle.requeue(run_id, self.owner, resumable):
            raise ValueError(f"run status must be INTERRUPTED or CANCELLED to resume; got {status.value}")
        self._supervisor.wake()
        return run_id

    def class_rules(self) -> ClassRules:
        """The limits on what a student of a class may ask for: the teacher's, else the defaults.

        Raises:
            ValueError: if ``$AE_LAB_MAX_QUEUED_PER_STUDENT`` is not a whole number from 1 to 100.
        """
        return read_class_rules(self.store.home) or ClassRules(max_queued_per_student=default_max_queued())

    def set_class_rules(self, rules: ClassRules, actor: Actor = LAB_OWNER) -> None:
        """Save the class's limits (kept across restarts).

        Raises:
            PermissionError: if ``actor`` is not a teacher.
        """
        if not actor.is_teacher:
            raise PermissionError("Only the teacher can change the class's limits.")
        write_class_rules(self.store.home, rules)

    def _check_may_act(self, run_id: str, actor: Actor, what: str) -> None:
        check_may_act(validate_run_id(run_id), self.store.started_by(run_id), actor, what)

    def model_path(self, run_id: str) -> Path | None:
        """The final ``model.keras`` of a finished run, else None. Raises RunNotFound."""
        path = self._folder(run_id).model_path
        return path if path.is_file() else None

    def latest_model_path(self, run_id: str) -> Path | None:
        """The final model, else the model at the run's last good epoch end, else None. Raises RunNotFound."""
        folder = self._folder(run_id)
        if folder.model_path.is_file():
            return folder.model_path
        return folder.checkpoint.model_path if folder.checkpoint.epoch() is not None else None

    def config_path(self, run_id: str) -> Path:
        """The run's ``config.json``. Raises RunNotFound."""
        return self._folder(run_id).config_path

    def projection_cache_path(self, run_id: str, method: str) -> Path:
        """Where the run's time-lapse projected with ``method`` is cached (it may not exist). Raises RunNotFound."""
        return self._folder(run_id).projection_cache_path(method)

    def _folder(self, run_id: str) -> RunFolder:
        if not self.store.exists(run_id):
            raise RunNotFound(f"No run with id {run_id}.")
        return self.store.folder(run_id)

    @property
    def max_concurrent(self) -> int:
        """The most runs training at once now (for Ray, it follows the cluster's free CPUs)."""
        return self._supervisor.max_concurrent

    def workers(self) -> list[WorkerInfo]:
        """The live workers (pid, ready, current run)."""
        return self._supervisor.workers()

    def problem(self) -> str | None:
        """Why no run can train now, in words for a banner (workers that cannot start, a cluster that
        cannot be reached), or None. The store's runs can still be read meanwhile."""
        return self._supervisor.problem()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the workers and the supervisor. Running runs are stopped and
        become INTERRUPTED (resumable); queued runs stay queued for the next
        manager on this store. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.shutdown)
        self._supervisor.stop(timeout)
        self._owner_lock.release()

    def __enter__(self) -> JobManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this JobManager has been shut down")
