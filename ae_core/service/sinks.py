"""The one narrow path from a training worker to the store: an event sink.

A worker hands each event dict of the trainer (see docs/DESIGN.md, section
"training") to an ``EventSink`` together with its run id, and nothing else
crosses from worker to store. Two sinks exist today:

* ``PipeSink`` runs in a worker process and sends ``("event", run_id, event)``
  over a multiprocessing pipe to the job manager;
* ``StoreSink`` runs where the store is (the job manager's process) and turns
  events into metric rows, progress, snapshot files and final statuses.

So the store has a single writer per manager. The Ray executor's workers
(``ae_core.service.ray_worker``) use the same messages over another transport, and
also send the files a local worker would write into the run folder itself, as
``file`` events of bytes (``ae_core.store.transfer``). Events are plain dicts of Python
numbers, strings, lists and numpy arrays, so they pickle anywhere.
"""

from __future__ import annotations

import logging
from multiprocessing.connection import Connection
from typing import Any, Mapping, Protocol

import numpy as np

from ae_core.changes import Change
from ae_core.store import transfer
from ae_core.store.transfer import FILE_EVENT
from ae_core.store import RESUME_KIND, SNAPSHOT_KINDS, RunStatus, RunStore, stopped_status

logger = logging.getLogger(__name__)

EVENT_MESSAGE = "event"


class EventSink(Protocol):
    """Where a worker sends a run's events."""

    def emit(self, run_id: str, event: Mapping[str, Any]) -> None:
        """Deliver one event of run ``run_id``. Raises SinkClosed if the receiver is gone."""


class SinkClosed(ConnectionError):
    """The receiving end of a sink has gone away (for example, the server died)."""


class PipeSink:
    """Sends events to the job manager over the sending end of a pipe."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.closed = False

    def emit(self, run_id: str, event: Mapping[str, Any]) -> None:
        if self.closed:
            raise SinkClosed("the job manager is gone")
        try:
            self.connection.send((EVENT_MESSAGE, run_id, dict(event)))
        except (OSError, EOFError) as error:  # BrokenPipeError is an OSError
            self.closed = True
            raise SinkClosed(f"the job manager is gone ({error})") from error


class StoreSink:
    """Applies events to a ``RunStore``: the store's end of the event path.

    Metric rows and progress are only written while the run is RUNNING, so an
    event that arrives after a cancel or a delete changes nothing.
    """

    def __init__(self, store: RunStore) -> None:
        self.store = store

    def emit(self, run_id: str, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "start":
            self._start(run_id, event)
        elif kind == "batch":
            self.store.append_metrics(run_id, [_row("batch", "loss", event["loss"], event)],
                                      progress={"step": int(event["step"])})
        elif kind == "epoch":
            rows = [_row("epoch", key, value, event) for key, value in dict(event.get("metrics") or {}).items()]
            self.store.append_metrics(run_id, rows, progress={"epoch": int(event["epoch"]), "step": int(event["step"])})
        elif kind == "change":  # the run's history, in its config.json (``ae_core.changes``)
            self.store.record_change(run_id, Change(step=int(event["step"]), epoch=int(event["epoch"]),
                                                    field=str(event["field"]), value=float(event["value"])))
        elif kind in SNAPSHOT_KINDS:
            self.store.write_snapshot(run_id, str(kind), event)
        elif kind == FILE_EVENT:  # a checkpoint, model or log of a worker with no shared filesystem (Ray)
            transfer.write_file(self.store.folder(run_id), str(event["path"]), bytes(event["data"]))
        elif kind == "end":
            self._end(run_id, event)
        else:
            logger.warning("Run %s: ignoring an event of unknown type %r", run_id, kind)

    def _start(self, run_id: str, event: Mapping[str, Any]) -> None:
        """Record the run's size and where it starts; a run that recorded metrics before resumes.

        A resumed run retrains from its checkpoint's epoch, so what it recorded past that
        checkpoint (the epochs of a worker that died, or ran ahead of its checkpoint) would be
        recorded twice. Metrics are append-only, so a ``resume`` marker row at that epoch
        supersedes those rows instead (``RunStore.metrics_since`` leaves them out).
        """
        progress = {key: event[key] for key in ("num_epochs", "steps_per_epoch") if key in event}
        initial_epoch = int(event.get("initial_epoch", 0))
        progress.update(epoch=initial_epoch, step=initial_epoch * int(event.get("steps_per_epoch", 0)))
        # A fresh run has nothing to supersede, so it gets no marker (one quick read says so).
        resumed = initial_epoch > 0 or (self.store.exists(run_id) and bool(self.store.metrics_since(run_id)))
        if resumed and self.store.exists(run_id):
            self.store.drop_history_after(run_id, progress["step"])
        marker = {"kind": RESUME_KIND, "key": "epoch", "value": float(initial_epoch), "epoch": initial_epoch,
                  "step": progress["step"], "time": float(event.get("time", 0.0))}
        self.store.append_metrics(run_id, [marker] if resumed else [], progress=progress)

    def _end(self, run_id: str, event: Mapping[str, Any]) -> None:
        outcome, message = event.get("status"), str(event.get("message") or "")
        result = event.get("result") if outcome == "finished" else None
        if outcome == "finished":
            status = RunStatus.FINISHED
        elif outcome == "stopped":
            status, message = stopped_status(self.store.lifecycle.cancel_requested(run_id))
        else:
            status = RunStatus.FAILED
            message = message or f"Training ended with an unknown status {outcome!r}."
        self.store.lifecycle.finish(run_id, status, message, _plain(result) if result else None)


def _row(kind: str, key: str, value: Any, event: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "key": key, "value": float(value), "epoch": int(event["epoch"]),
            "step": int(event["step"]), "time": float(event.get("time", 0.0))}


def _plain(result: Mapping[str, Any]) -> dict[str, Any]:
    """Result metrics as JSON-ready Python values (numpy scalars are not JSON).

    Numbers become floats; lists and arrays (a classifier's confusion matrix)
    become nested lists of numbers; anything else becomes its text.
    """
    plain: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, (list, tuple, np.ndarray)):
            array = np.asarray(value)
            if array.dtype.kind in "iubf":  # whole numbers stay whole (counts), others become floats
                whole = array.dtype.kind in "iub"
                plain[str(key)] = (array.astype(np.int64) if whole else array.astype(float)).tolist()
                continue
        try:
            plain[str(key)] = float(value)
        except (TypeError, ValueError):
            plain[str(key)] = str(value)
    return plain
