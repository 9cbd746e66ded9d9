"""Deleting a run's folder so that a failure is said, never hidden.

The folder is first renamed out of the run folders' way (one atomic step on one file
system): if even that fails (a read-only disk, no permission), nothing was removed and the
run stays listed, whole. Once renamed, the run's rows go, and then the renamed folder. If
that last removal fails, the run is gone from the lab but its files are still on disk, and
the message names the folder to remove by hand; the next store to open tries again.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Callable

from ae_core.errors import AELabError

logger = logging.getLogger(__name__)

# A run folder being deleted is renamed to this prefix plus its id (not a run id, so never listed).
DELETING_PREFIX = ".deleting-"


class FolderNotRemoved(AELabError):
    """A run's folder could not be moved or removed; the message says which and why."""


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def delete_folder(folder: Path, run_id: str, delete_rows: Callable[[], None]) -> None:
    """Remove ``folder`` and, once it is out of the way, the run's rows (``delete_rows``).

    Raises:
        FolderNotRemoved: the folder could not be moved (nothing was deleted) or, after the
            rows were deleted, not removed (the message names it).
    """
    doomed = folder.with_name(DELETING_PREFIX + run_id)
    try:
        if folder.exists():
            folder.rename(doomed)
    except OSError as error:
        raise FolderNotRemoved(f"Run {run_id[:8]} was not deleted: its folder {folder} could not be moved "
                               f"({_reason(error)}). Nothing was removed.") from error
    delete_rows()
    failures: list[OSError] = []
    # onerror, not onexc: onexc is Python 3.12's, and the lab runs on 3.11 too.
    shutil.rmtree(doomed, onerror=lambda _function, _path, info: failures.append(info[1]))
    if doomed.exists():
        reason = _reason(failures[0]) if failures else "it is still there"
        raise FolderNotRemoved(f"Run {run_id[:8]} was deleted, but its folder could not be removed ({reason}): "
                               f"remove {doomed} by hand.")


def remove_leftovers(runs_dir: Path) -> None:
    """Remove folders a failed delete left behind (logged, never fatal)."""
    for path in runs_dir.glob(DELETING_PREFIX + "*"):
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            logger.warning("A deleted run's folder could not be removed: %s", path)
