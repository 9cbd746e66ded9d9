"""The Ray executor's worker: an actor, on any node of a Ray cluster, that trains runs one by one.

It is the local worker process (``ae_core.service.worker``) over Ray instead of pipes. It gets
ready the same way (``start_worker``: TensorFlow imported once per actor, so a cluster keeps the
warm start), trains with the same ``train_job``, and says the same messages (``("ready", pid)``,
``("event", run_id, event)``, ``("retiring",)``, ``("done", run_id)``), which the server's
``RayPool`` fetches with ``next_messages`` (a long poll). Stop, pause and change requests arrive
as calls of their own while ``run`` trains: the actor is threaded (``MAX_CONCURRENCY``).

Nothing here touches the server's filesystem. A run trains into a scratch folder on this node
(``transfer.scratch_folder``); a resumed run's checkpoint and a classifier's source model come
as bytes with the job; and the files the store keeps (checkpoints, the final model, TensorBoard
logs) go back as ``file`` events (``ShippingSink``): the checkpoint as soon as it changes, so the
last checkpoint a dead node wrote is already in the store for another node to resume from, and the
TensorBoard logs when the run ends.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

from ae_core.service.change_slots import CHANGE_SLOTS, ChangeInbox, clear_changes, post_change
from ae_core.service.sinks import EVENT_MESSAGE, EventSink
from ae_core.service.worker import Job, train_job
from ae_core.service.worker_setup import Trainer, WorkerSettings, start_worker, startup_failure
from ae_core.store.transfer import (FILE_EVENT, SHIPPED, SHIPPED_WHILE_TRAINING, ChangedFiles, scratch_folder,
                                    write_files)
from ae_core.training import FAILED, end_event

logger = logging.getLogger(__name__)

# Threads of the actor for its calls: the ``next_messages`` long poll and the short calls (``run`` only
# hands its job over). The training itself runs on one thread of its own (``TrainingWorker``).
MAX_CONCURRENCY = 3
# How often, at most, a training run's scratch folder is looked at for changed files. Every
# event but a batch looks at once: a checkpoint is written right after its epoch's events.
SHIP_SECONDS = 1.0
MAX_MESSAGES_PER_POLL = 256


class QueueSink:
    """Puts a run's events in the actor's outbox, as the messages a local worker sends over its pipe."""

    def __init__(self, outbox: queue.SimpleQueue[tuple[Any, ...]]) -> None:
        self.outbox = outbox

    def emit(self, run_id: str, event: Mapping[str, Any]) -> None:
        self.outbox.put((EVENT_MESSAGE, run_id, dict(event)))


class ShippingSink:
    """Passes events on to ``inner``, each preceded by the files of the run folder that changed since
    the last look (``ae_core.store.transfer.ChangedFiles``), as ``file`` events.

    The run's ``end`` is held back until ``finish``, which ships what was written after it (the
    TensorBoard log closes after the end): a run is never FINISHED before all its files are in the
    store, as its final model is with a local worker.
    """

    def __init__(self, inner: EventSink, files: ChangedFiles) -> None:
        self.inner, self.files = inner, files
        self.shipped_at = 0.0
        self.held_end: Mapping[str, Any] | None = None
        self.ended = False

    def emit(self, run_id: str, event: Mapping[str, Any]) -> None:
        if event.get("type") != "batch" or time.monotonic() - self.shipped_at >= SHIP_SECONDS:
            self.ship(run_id, SHIPPED_WHILE_TRAINING)
        if event.get("type") == "end":
            self.held_end = event
        else:
            self.inner.emit(run_id, event)

    def ship(self, run_id: str, entries: tuple[str, ...] = SHIPPED) -> None:
        """Send every new or changed file under ``entries`` now."""
        self.shipped_at = time.monotonic()
        for relative, data in self.files.take(entries).items():
            self.inner.emit(run_id, {"type": FILE_EVENT, "path": relative, "data": data})

    def finish(self, run_id: str) -> None:
        """Ship the last files, then the run's end."""
        self.ship(run_id)
        if self.held_end is not None:
            self.inner.emit(run_id, self.held_end)
            self.ended = True


class TrainingWorker:
    """The actor's class (``RayPool`` makes it remote with the run's CPUs). One run at a time.

    Start-up and every run happen on one long-lived thread of the actor, not on the thread of
    the call: Keras keeps its global state per thread, so a run on another thread would not
    reuse the warm-up's traced model and would trace its own (about 0.4 s a run, measured).

    Args:
        settings: thread budget, trainer, warm-up, jobs before retiring (as a local worker's).
    """

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.outbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.trainer: Trainer | None = None
        self.stop_token = 0
        self.changes = multiprocessing.Array("d", CHANGE_SLOTS)
        self.jobs_done = 0
        self.scratch = Path(tempfile.mkdtemp(prefix="ae-lab-ray-"))
        self.tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._do_tasks, name="ae-lab-training", daemon=True).start()

    def _do_tasks(self) -> None:
        while True:
            self.tasks.get()()

    def start(self) -> None:
        """Import the trainer and warm up, then say ``ready`` (or why it could not start)."""
        self.tasks.put(self._start)

    def _start(self) -> None:
        try:
            self.trainer = start_worker(self.settings)
            self.outbox.put(("ready", os.getpid()))
        except Exception as error:  # noqa: BLE001 (reported to the manager, which stops respawning)
            self.outbox.put(startup_failure(error))

    def next_messages(self, timeout: float) -> list[tuple[Any, ...]]:
        """The messages said since the last call, waiting up to ``timeout`` seconds for the first."""
        try:
            messages = [self.outbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(messages) < MAX_MESSAGES_PER_POLL:
            try:
                messages.append(self.outbox.get_nowait())
            except queue.Empty:
                break
        return messages

    def run(self, job: Job, files: dict[str, bytes], source_model: bytes | None) -> None:
        """Train one run, from the checkpoint ``files`` if it has one; its messages go to the outbox.
        Returns at once: the run trains on the actor's training thread.

        Args:
            job: the run, as for a local worker; its ``run_dir`` and ``source_model`` are the
                server's paths, which mean nothing here and are replaced by scratch ones.
            files: the run's checkpoint (``transfer.read_checkpoint``), empty for a fresh start.
            source_model: the ``model.keras`` a classifier fine-tunes, as bytes, or None.
        """
        # Reset here, not on the training thread: a stop or a change sent right after must not be undone.
        self.stop_token = 0
        clear_changes(self.changes)
        self.tasks.put(lambda: self._run(job, files, source_model))

    def _run(self, job: Job, files: dict[str, bytes], source_model: bytes | None) -> None:
        self.jobs_done += 1
        folder = scratch_folder(self.scratch / "runs", job.run_id)
        source_path = self.scratch / "sources" / f"{job.run_id}.keras"
        sink = ShippingSink(QueueSink(self.outbox), ChangedFiles(folder))
        try:
            shutil.rmtree(folder.path, ignore_errors=True)  # what an earlier stint of this run left here is stale
            folder.path.mkdir(parents=True)
            write_files(folder, files)
            if source_model is not None:
                source_path.parent.mkdir(parents=True, exist_ok=True)
                source_path.write_bytes(source_model)
            local = replace(job, run_dir=str(folder.path),
                            source_model=str(source_path) if source_model is not None else None)
            train_job(local, self.trainer, sink, self.settings,
                      lambda: self.stop_token == job.token, lambda: self.stop_token == -job.token,
                      ChangeInbox(self.changes))
            sink.finish(job.run_id)
        except Exception as error:  # noqa: BLE001 (the scratch disk of this node, say: the run fails, not the actor)
            logger.exception("Run %s could not be trained here", job.run_id)
            if not sink.ended:
                sink.inner.emit(job.run_id, end_event(FAILED, f"The Ray worker could not train this run: "
                                                              f"{type(error).__name__}: {error}", None))
        finally:
            shutil.rmtree(folder.path, ignore_errors=True)  # everything the store keeps was sent
            source_path.unlink(missing_ok=True)
            if self.jobs_done >= self.settings.jobs_per_worker:  # announced first, as a local worker does
                self.outbox.put(("retiring",))
            self.outbox.put(("done", job.run_id))

    def request_stop(self, token: int) -> None:
        """Stop the run of dispatch ``token`` at its next batch."""
        self.stop_token = token

    def request_pause(self, token: int) -> None:
        """Pause the run of dispatch ``token`` at its next epoch end (``ae_core.service.slicing``)."""
        if self.stop_token != token:  # a stop wins over a pause
            self.stop_token = -token

    def post_change(self, field: str, value: float) -> None:
        """Change a setting of the run training now, from its next batch."""
        post_change(self.changes, field, value)
