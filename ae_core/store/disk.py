"""Writes the disk refused (full, read-only, no permission), said in plain words.

A class fills a disk sooner or later. A run whose folder cannot be written fails with a
message naming the folder and the problem; what it saved before (its metrics, its last
epoch checkpoint) stays, because every file is written beside its target and renamed over
it only once complete.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

# The errors of a disk that is full or will not take writes, as opposed to a bug.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM})
# What SQLite says for a full disk or a read-only database file.
_SQLITE_DISK_WORDS = ("disk is full", "readonly database", "disk I/O error")


def disk_problem(error: BaseException) -> str | None:
    """The disk's problem in words ("No space left on device") if ``error`` (or its cause) is one, else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_ERRNOS:
            return current.strerror or os.strerror(current.errno)
        if isinstance(current, sqlite3.OperationalError) and any(w in str(current) for w in _SQLITE_DISK_WORDS):
            return str(current)
        current = current.__cause__ or current.__context__
    return None


def unwritable_message(folder: Path, problem: str) -> str:
    """The message of a run that failed because ``folder`` could not be written."""
    return (f"The run could not write to its folder {folder}: {problem}. What it saved before is kept. Free some "
            "disk space (or make the folder writable), then train it again.")
