"""An in-memory job manager with the API of ``ae_core.service.jobs.JobManager``, for UI tests.

It trains nothing: tests create runs, add metric rows and snapshots, and
change statuses by hand, then check what the pages draw and which calls they
made. ``fail(method, error)`` makes a method raise, to test error display.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ae_core.access import LAB_OWNER, Actor, ClassRules
from ae_core.changes import Change
from ae_core.config import TrainConfig
from ae_core.errors import QueueFull, RunNotFound
from ae_core.service.requests import check_may_act, check_may_change
from ae_core.store.records import DamagedRun, MetricRow, RunRecord, RunStatus, validate_run_id
from ae_core.store.layout import RunFolder

SNAPSHOT_KINDS = ("reconstruction", "latent")


class FakeJobManager:
    """Same methods and errors as the real manager; state lives in dicts."""

    def __init__(self, home: Path | None = None, steps_per_epoch: int = 10) -> None:
        self.home = home
        self.steps_per_epoch = steps_per_epoch
        self.runs: dict[str, RunRecord] = {}
        self.metrics: dict[str, list[MetricRow]] = {}
        self.snapshots: dict[tuple[str, str], dict[str, Any]] = {}
        self.history: dict[tuple[str, str], list[dict[str, Any]]] = {}  # time-lapse frames, oldest first
        self.model_files: dict[str, Path] = {}  # final models, as tests give them
        self.checkpoint_files: dict[str, Path] = {}  # the model of a run's last good epoch checkpoint
        self.damaged: dict[str, str] = {}  # runs the store cannot read: id -> reason, as add_damaged gives them
        self.submitted: list[TrainConfig] = []
        self.submitted_by: list[str | None] = []  # the student of each submit, as the pages passed it
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.errors: dict[str, BaseException] = {}
        self._lock = threading.Lock()
        self._clock = time.time() - 3600.0
        # The real service only records a cancel request; the worker stops a moment later.
        # False makes the fake do the same (the run shows "Stopping…" until set_status).
        self.cancel_stops_at_once = True
        self.rules = ClassRules()
        self.training_problem: str | None = None

    # --- the JobManager API -------------------------------------------------
    def submit(self, config: TrainConfig, actor: Actor = LAB_OWNER) -> str:
        self._enter("submit", config)
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig; got {type(config).__name__}")
        if not actor.is_teacher:  # the real manager's rules, from the one place they are written
            self.rules.check(config)
            waiting = sum(r.status is RunStatus.QUEUED and r.started_by == actor.student_id for r in self.runs.values())
            if waiting >= self.rules.max_queued_per_student:
                raise QueueFull(self.rules.max_queued_per_student)
        if config.source_run_id is not None:  # checked up front, as the real manager does
            source = self._record(config.source_run_id)
            if source.status is not RunStatus.FINISHED or source.config.task != "reconstruct":
                raise ValueError(f"source_run_id must name a FINISHED autoencoder run with a saved model; run "
                                 f"{config.source_run_id} is {source.status.value}")
        self.submitted.append(config)
        self.submitted_by.append(actor.student_id or None)
        return self.add_run(config, status=RunStatus.QUEUED, started_by=actor.student_id or None)

    def list_runs(self) -> list[RunRecord]:
        self._enter("list_runs")
        with self._lock:
            return sorted(self.runs.values(), key=lambda record: record.created_at, reverse=True)

    def damaged_runs(self) -> list[DamagedRun]:
        self._enter("damaged_runs")
        with self._lock:
            return [DamagedRun(run_id, reason) for run_id, reason in reversed(self.damaged.items())]

    def get_run(self, run_id: str) -> RunRecord:
        self._enter("get_run", run_id)
        return self._record(run_id)

    def metrics_since(self, run_id: str, after_seq: int = 0) -> list[MetricRow]:
        self._enter("metrics_since", run_id, after_seq)
        self._record(run_id)
        with self._lock:
            return [row for row in self.metrics.get(run_id, []) if row.seq > after_seq]

    def latest_snapshot(self, run_id: str, kind: str) -> dict[str, Any] | None:
        self._enter("latest_snapshot", run_id, kind)
        if kind not in SNAPSHOT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, SNAPSHOT_KINDS))}; got {kind!r}")
        self._record(run_id)
        return self.snapshots.get((run_id, kind))

    def snapshot_history(self, run_id: str, kind: str) -> list[dict[str, Any]]:
        self._enter("snapshot_history", run_id, kind)
        self.latest_snapshot(run_id, kind)  # the same checks
        return list(self.history.get((run_id, kind), []))

    def cancel(self, run_id: str, actor: Actor = LAB_OWNER) -> None:
        self._enter("cancel", run_id)
        record = self._record(run_id)
        self._check_may_act(record, actor, "stop")
        if record.status.is_active:
            self.set_status(run_id, RunStatus.CANCELLED if self.cancel_stops_at_once else record.status,
                            cancel_requested=True)

    def change(self, run_id: str, field: str, value: float, actor: Actor = LAB_OWNER) -> None:
        """The real rules (``check_may_change``); recorded at once, as the worker would at its next batch."""
        self._enter("change", run_id, field, value)
        record = self._record(run_id)
        self._check_may_act(record, actor, "change")
        value = check_may_change(record, field, value)
        change = Change(step=int(record.progress.get("step", 0)), epoch=int(record.progress.get("epoch", 0)),
                        field=field, value=value)
        self.set_status(run_id, record.status, config=record.config.replace(changes=record.config.changes + (change,)))

    def delete(self, run_id: str, actor: Actor = LAB_OWNER) -> None:
        self._enter("delete", run_id)
        with self._lock:
            if run_id in self.damaged:  # nobody is recorded as its owner
                check_may_act(run_id, None, actor, "delete")
            if self.damaged.pop(validate_run_id(run_id), None) is not None:
                return
        self._check_may_act(self._record(run_id), actor, "delete")
        with self._lock:
            del self.runs[run_id]
            self.metrics.pop(run_id, None)
            self.model_files.pop(run_id, None)
            self.checkpoint_files.pop(run_id, None)

    def resume(self, run_id: str, actor: Actor = LAB_OWNER) -> str:
        self._enter("resume", run_id)
        record = self._record(run_id)
        self._check_may_act(record, actor, "resume")
        if record.status not in (RunStatus.INTERRUPTED, RunStatus.CANCELLED):
            raise ValueError(f"run {run_id} is {record.status.value}; only an interrupted or cancelled run "
                             "can be resumed")
        self.set_status(run_id, RunStatus.RUNNING, cancel_requested=False)
        return run_id

    def model_path(self, run_id: str) -> Path | None:
        self._enter("model_path", run_id)
        self._record(run_id)
        return self.model_files.get(run_id)

    def latest_model_path(self, run_id: str) -> Path | None:
        self._enter("latest_model_path", run_id)
        self._record(run_id)
        return self.model_files.get(run_id) or self.checkpoint_files.get(run_id)

    def projection_cache_path(self, run_id: str, method: str) -> Path:
        self._enter("projection_cache_path", run_id, method)
        self._record(run_id)
        if self.home is None:
            raise RunNotFound(f"no folder for run {run_id}")
        (self.home / run_id).mkdir(exist_ok=True)  # a real run's folder exists from its submit
        return RunFolder(self.home / run_id).projection_cache_path(method)

    def config_path(self, run_id: str) -> Path:
        self._enter("config_path", run_id)
        record = self._record(run_id)
        if self.home is None:
            raise RunNotFound(f"no folder for run {run_id}")
        path = self.home / run_id / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record.config.to_dict(), indent=2), encoding="utf-8")
        return path

    def class_rules(self) -> ClassRules:
        self._enter("class_rules")
        return self.rules

    def set_class_rules(self, rules: ClassRules, actor: Actor = LAB_OWNER) -> None:
        self._enter("set_class_rules", rules)
        if not actor.is_teacher:
            raise PermissionError("Only the teacher can change the class's limits.")
        self.rules = rules

    def shutdown(self) -> None:
        self._enter("shutdown")

    def problem(self) -> str | None:
        """Why no run can train (as the real manager says it); tests set ``self.training_problem``."""
        return self.training_problem

    @staticmethod
    def _check_may_act(record: RunRecord, actor: Actor, what: str) -> None:
        check_may_act(record.run_id, record.started_by, actor, what)

    # --- helpers for tests ---------------------------------------------------
    def fail(self, method: str, error: BaseException | None) -> None:
        """Make ``method`` raise ``error`` from now on (None: stop failing)."""
        if error is None:
            self.errors.pop(method, None)
        else:
            self.errors[method] = error

    def called(self, method: str) -> list[tuple[Any, ...]]:
        """The arguments of every call to ``method`` so far."""
        return [args for name, args in self.calls if name == method]

    def add_run(self, config: TrainConfig | None = None, *, status: RunStatus = RunStatus.RUNNING,
                **fields: Any) -> str:
        """Create a run record directly and return its id."""
        config = config or TrainConfig()
        with self._lock:
            self._clock += 60.0
            run_id = uuid.uuid4().hex
            progress = {"epoch": 0, "step": 0, "num_epochs": config.num_epochs,
                        "steps_per_epoch": self.steps_per_epoch}
            values: dict[str, Any] = {"created_at": self._clock, "progress": progress}
            if status is not RunStatus.QUEUED:
                values["started_at"] = self._clock + 1.0
            values.update(fields)
            self.runs[run_id] = RunRecord(run_id=run_id, status=status, config=config, **values)
            self.metrics[run_id] = []
        return run_id

    def add_damaged(self, reason: str = "config.json is unreadable: it is nested too deeply") -> str:
        """Add a run the store cannot read (listed by ``damaged_runs`` only) and return its id."""
        run_id = uuid.uuid4().hex
        with self._lock:
            self.damaged[run_id] = reason
        return run_id

    def set_status(self, run_id: str, status: RunStatus, **fields: Any) -> None:
        with self._lock:
            record = self.runs[run_id]
            values = {**record.__dict__, "status": status, **fields}
            if not status.is_active and values.get("finished_at") is None:
                values["finished_at"] = (record.started_at or record.created_at) + 30.0
            self.runs[run_id] = RunRecord(**values)

    def advance(self, run_id: str, *, batches: int = 5, end_epoch: bool = True, seed: int = 0) -> None:
        """Pretend the run trained ``batches`` more batches (and maybe finished an epoch)."""
        record = self._record(run_id)
        rng = np.random.default_rng(seed + len(self.metrics[run_id]))
        with self._lock:
            rows = self.metrics[run_id]
            step = int(record.progress.get("step", 0))
            epoch = int(record.progress.get("epoch", 0))
            for _ in range(batches):
                step += 1
                rows.append(MetricRow(len(rows) + 1, "batch", "loss", 0.3 / step + 0.05, epoch, step, step * 0.1))
            if end_epoch:
                epoch += 1
                # A classifier reports accuracy where an autoencoder reports MSE, as the real trainers do.
                classify = record.config.task == "classify"
                second = ("accuracy", 1.0 - 0.5 / (epoch + 1)) if classify else ("mse", 0.05 / epoch)
                for metric_key, value in (("loss", 0.2 / epoch), ("val_loss", 0.22 / epoch), second,
                                          ("val_" + second[0], second[1] * 0.95)):
                    rows.append(MetricRow(len(rows) + 1, "epoch", metric_key, value, epoch, step, step * 0.1))
            progress = {**record.progress, "epoch": epoch, "step": step}
        self.set_status(run_id, RunStatus.RUNNING if record.status is RunStatus.QUEUED else record.status,
                        progress=progress)
        if record.config.task == "classify":
            return  # classifiers send no snapshots
        for kind, make in (("reconstruction", _reconstruction), ("latent", _latent)):
            self.snapshots[(run_id, kind)] = make(record.config, rng, epoch, step)
            # Like the store, every snapshot is also a time-lapse frame (not thinned: tests stay short).
            self.history.setdefault((run_id, kind), []).append(self.snapshots[(run_id, kind)])

    def finish_classifier(self, run_id: str, accuracy: float, num_classes: int = 10, num_test: int = 1000) -> None:
        """Mark a classifier run FINISHED with a result shaped like the real trainer's."""
        correct = int(round(accuracy * num_test))
        confusion = np.zeros((num_classes, num_classes), dtype=int)
        per_class = num_test // num_classes
        for label in range(num_classes):
            confusion[label, label] = per_class
        confusion[0, 0] -= num_test - correct  # the misses all go to one cell: (true 0, predicted 1)
        confusion[0, 1] += num_test - correct
        self.set_status(run_id, RunStatus.FINISHED, result={
            "test_loss": 0.3, "test_accuracy": correct / num_test, "confusion": confusion.tolist(),
            "num_train": 5000.0, "num_test": float(num_test), "seconds": 42.0, "samples_per_second": 900.0,
            "epochs_completed": float(self.runs[run_id].config.num_epochs)})

    def _enter(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        error = self.errors.get(method)
        if error is not None:
            raise error

    def _record(self, run_id: str) -> RunRecord:
        validate_run_id(run_id)
        with self._lock:
            if run_id in self.damaged:
                raise RunNotFound(f"Run {run_id} is damaged: {self.damaged[run_id]}.")
            if run_id not in self.runs:
                raise RunNotFound(f"no run with id {run_id}")
            return self.runs[run_id]


def _reconstruction(config: TrainConfig, rng: np.random.Generator, epoch: int, step: int) -> dict[str, Any]:
    shape = (16, *config.image_shape)
    originals = rng.integers(0, 256, size=shape, dtype=np.uint8)
    noise = rng.integers(-20, 21, size=shape)
    reconstructions = np.clip(originals.astype(int) + noise, 0, 255).astype(np.uint8)
    inputs = None
    if config.model.noise != "none":
        inputs = np.clip(originals.astype(int) - noise * 3, 0, 255).astype(np.uint8)
    return {"epoch": epoch, "step": step, "indices": np.arange(16), "originals": originals, "inputs": inputs,
            "reconstructions": reconstructions}


def _latent(config: TrainConfig, rng: np.random.Generator, epoch: int, step: int, count: int = 200) -> dict[str, Any]:
    labels = np.arange(count) % 10
    # The same clusters in every snapshot, tighter as the run goes on (as a time-lapse shows them).
    centres = np.random.default_rng(1).normal(size=(10, config.model.latent_dim)) * 4
    spread = 3.0 / (1.0 + step / 10)
    codes = (centres[labels] + spread * rng.normal(size=(count, config.model.latent_dim))).astype(np.float32)
    return {"epoch": epoch, "step": step, "indices": np.arange(count) * 3, "codes": codes, "labels": labels}
