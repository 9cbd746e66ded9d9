"""The run store: SQLite for runs and metrics, a folder per run, and the records the pages read.

``RunStore`` is the one writer of both; ``RunLifecycle`` holds every status transition;
``layout`` names every file of a run folder; ``records`` holds the plain types
(``RunStatus``, ``RunRecord``, ``MetricRow``) and the rule for how a stopped run ends.
"""

from ae_core.store.artifacts import write_json_atomic
from ae_core.store.layout import (CHECKPOINT_DIRNAME, CONFIG_FILENAME, MODEL_FILENAME, PARTIAL_PREFIX, SNAPSHOT_KINDS,
                                  Checkpoint, RunFolder)
from ae_core.store.records import (CANCELLED_MESSAGE, INTERRUPTED_MESSAGE, DamagedRun, MetricRow, RunRecord,
                                   RunStatus, RESUME_KIND, stopped_status, validate_run_id)
from ae_core.store.store import CACHE_DIRNAME, HOME_ENV, RunStore, default_home

__all__ = ["CACHE_DIRNAME", "CANCELLED_MESSAGE", "CHECKPOINT_DIRNAME", "CONFIG_FILENAME", "Checkpoint", "DamagedRun", "HOME_ENV",
           "INTERRUPTED_MESSAGE", "MODEL_FILENAME", "PARTIAL_PREFIX", "MetricRow", "RESUME_KIND", "RunFolder", "RunRecord", "RunStatus", "RunStore",
           "SNAPSHOT_KINDS", "default_home", "stopped_status", "validate_run_id", "write_json_atomic"]
