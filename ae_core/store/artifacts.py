"""Files in a run folder, written atomically and read defensively.

A page may read a snapshot at the very moment the manager replaces it, and a
process may die mid-write. Writing to a temporary file in the same folder and
then ``os.replace``-ing it over the target means a reader sees either the old
file or the new one, never half of one. Snapshots are ``.npz`` files read with
``allow_pickle=False``, so a damaged or hostile file cannot run code.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

logger = logging.getLogger(__name__)

# An .npz holds arrays only; this entry lists the keys whose value was None
# (for example "inputs" of a reconstruction without input noise).
_NONE_KEYS = "__none_keys__"
# np.load parses each array's header with ast.literal_eval, and CPython 3.11
# can raise "SystemError: AST constructor recursion depth mismatch" when
# threads do that at the same moment (python/cpython#106905), which many
# Streamlit sessions reading snapshots would. Reads are a few milliseconds, so
# they simply take turns.
_READ_LOCK = threading.Lock()


def _write_atomic(path: Path, write: Any, suffix: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _write_atomic(path, lambda handle: handle.write(data), ".tmp")


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as pretty JSON to ``path`` atomically."""
    text = json.dumps(data, indent=2, sort_keys=True).encode("utf-8")
    _write_atomic(path, lambda handle: handle.write(text), ".tmp")


def write_npz_atomic(path: Path, values: Mapping[str, Any], *, compress: bool = False) -> None:
    """Write a snapshot dict to ``path`` (an ``.npz``) atomically.

    Numbers and arrays are kept; None values are remembered as such; the event
    ``type`` and values that are not plain arrays (which would need pickle)
    are left out. ``compress`` deflates the arrays (for files kept long, such as
    time-lapse frames; the latest snapshot is rewritten too often to pay for it).
    """
    arrays: dict[str, np.ndarray] = {}
    none_keys = []
    for key, value in values.items():
        if key == "type":
            continue
        if value is None:
            none_keys.append(key)
            continue
        array = np.asarray(value)
        if array.dtype == object:
            logger.warning("Snapshot %s: leaving out %r, which is not a plain array", path.name, key)
            continue
        arrays[key] = array
    arrays[_NONE_KEYS] = np.asarray(none_keys, dtype=str)
    save = np.savez_compressed if compress else np.savez
    _write_atomic(path, lambda handle: save(handle, **arrays), ".tmp.npz")


def read_npz(path: Path) -> dict[str, Any] | None:
    """Read a snapshot written by ``write_npz_atomic``.

    Returns:
        A dict of arrays (0-d arrays become Python numbers, remembered None
        values come back as None), or None when the file is missing or damaged
        (damage is logged).
    """
    try:
        with _READ_LOCK, np.load(path, allow_pickle=False) as data:
            values = {key: data[key] for key in data.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        logger.warning("Ignoring damaged snapshot %s (%s)", path, error)
        return None
    snapshot: dict[str, Any] = {key: None for key in values.pop(_NONE_KEYS, np.asarray([])).tolist()}
    for key, array in values.items():
        snapshot[key] = array.item() if array.ndim == 0 else array
    return snapshot
