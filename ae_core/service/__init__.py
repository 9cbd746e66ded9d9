"""The job service: a queue of training runs over warm worker processes, and the path of their events.

The app holds one ``JobManager``; its ``Supervisor`` thread owns the ``WorkerPool``; each
worker runs ``run_job`` and sends every event through an ``EventSink`` to the store.
Nothing here imports TensorFlow: only the worker processes do, when they train.
"""

from ae_core.service.jobs import JobManager, default_threads_per_run
from ae_core.service.requests import check_may_change
from ae_core.service.pool import WorkerInfo
from ae_core.service.sinks import EventSink, PipeSink, SinkClosed, StoreSink
from ae_core.service.worker import Job, run_job
from ae_core.service.worker_setup import Trainer, WorkerSettings, configure_threads

__all__ = ["EventSink", "Job", "JobManager", "PipeSink", "SinkClosed", "StoreSink", "Trainer", "WorkerInfo",
           "WorkerSettings", "check_may_change", "configure_threads", "default_threads_per_run", "run_job"]
