"""A run's time-lapse: a bounded, evenly thinned history of its snapshots.

The live pages only need a run's latest snapshot (``latent.npz``, ``reconstruction.npz``).
The time-lapse replays how the latent map formed and the reconstructions sharpened, so
each snapshot is also kept as a frame under ``history/<kind>/``, named by its ordinal (the
how-manieth snapshot of that kind). A long run sends hundreds of snapshots, so the frames
are thinned as the run goes: frames whose ordinal is a multiple of a stride are kept, plus
the newest, and the stride doubles whenever that would exceed ``MAX_HISTORY_FRAMES``
(every other frame goes). The first frame (ordinal 0) always stays, and the spacing stays
even. The stride is a function of the newest ordinal alone, so a resumed run goes on
thinning where it left off with no state to keep.

To keep the disk per run modest a frame is smaller than the snapshot it comes from: a
latent frame keeps the codes of the first ``HISTORY_LATENT_POINTS`` images as float16,
and a reconstruction frame leaves out the originals (the same images all run long; they
are read back from the latest snapshot). Frames are written atomically and compressed;
a damaged one is logged and skipped.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ae_core.store import artifacts
from ae_core.store.layout import HISTORY_FRAME_FORMAT, HISTORY_FRAME_PATTERN

logger = logging.getLogger(__name__)

MAX_HISTORY_FRAMES = 100
# The latent map of a time-lapse draws this many images: the snapshot's images are a fixed
# random sample, so its first ones are a random sample too. t-SNE and UMAP of every frame
# then take a quarter of the time of 2,000 codes, and a frame of 32-D codes is about 30 kB.
HISTORY_LATENT_POINTS = 500
# Arrays the reconstruction frames leave out, because they do not change within a run.
SHARED_RECONSTRUCTION_KEYS = ("originals",)
_FRAME_NAME = re.compile(HISTORY_FRAME_PATTERN)


def history_stride(newest: int, cap: int = MAX_HISTORY_FRAMES) -> int:
    """The spacing of the kept frames once the frame numbered ``newest`` is written.

    The smallest power of two at which the multiples of it up to ``newest`` (0 included)
    leave room for the newest frame itself within ``cap`` frames.

    Raises:
        ValueError: for a negative ``newest`` or a ``cap`` under 3.
    """
    if newest < 0 or cap < 3:
        raise ValueError(f"newest must be >= 0 and cap >= 3; got newest={newest}, cap={cap}")
    stride = 1
    while newest // stride + 1 > cap - 1:
        stride *= 2
    return stride


def kept_ordinals(ordinals: Iterable[int], newest: int, cap: int = MAX_HISTORY_FRAMES) -> list[int]:
    """Which of ``ordinals`` stay once ``newest`` is written: the multiples of the stride, and the newest.

    Returns:
        The ordinals kept, in order (at most ``cap``).
    """
    stride = history_stride(newest, cap)
    return sorted({ordinal for ordinal in ordinals if ordinal % stride == 0 or ordinal == newest})


def frame_of(kind: str, snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The smaller copy of a snapshot event that a time-lapse frame keeps (see the module docstring)."""
    frame = {key: value for key, value in snapshot.items() if key != "type"}
    if kind == "reconstruction":
        for key in SHARED_RECONSTRUCTION_KEYS:
            frame.pop(key, None)
        return frame
    codes = np.asarray(frame.get("codes"))
    count = len(codes) if codes.ndim else 0
    for key, value in frame.items():
        # Every per-image array (codes, labels, indices, and whatever else a snapshot carries,
        # such as log-variances) is cut to the same images; floats are halved to float16.
        array = np.asarray(value) if value is not None else None
        if array is None or array.ndim == 0 or len(array) != count:
            continue
        array = array[:HISTORY_LATENT_POINTS]
        frame[key] = array.astype(np.float16) if array.dtype.kind == "f" else array
    return frame


class SnapshotHistory:
    """The time-lapse frames of one kind of one run, in ``directory`` (one writer: the run's sink)."""

    def __init__(self, directory: Path, *, cap: int = MAX_HISTORY_FRAMES) -> None:
        self.directory = directory
        self.cap = cap

    def ordinals(self) -> list[int]:
        """The ordinals of the frames on disk, in order (temporary files of a save are not frames)."""
        try:
            names = [path.name for path in self.directory.iterdir()]
        except FileNotFoundError:
            return []
        return sorted(int(match.group(1)) for match in map(_FRAME_NAME.fullmatch, names) if match)

    def _path(self, ordinal: int) -> Path:
        return self.directory / HISTORY_FRAME_FORMAT.format(ordinal=ordinal)

    def append(self, kind: str, snapshot: Mapping[str, Any]) -> int:
        """Write the snapshot as the newest frame, then drop the frames the thinning lets go.

        Returns:
            The new frame's ordinal.
        """
        ordinals = self.ordinals()
        newest = ordinals[-1] + 1 if ordinals else 0
        self.directory.mkdir(parents=True, exist_ok=True)
        artifacts.write_npz_atomic(self._path(newest), frame_of(kind, snapshot), compress=True)
        kept = set(kept_ordinals(ordinals + [newest], newest, self.cap))
        for ordinal in ordinals:
            if ordinal not in kept:
                self._path(ordinal).unlink(missing_ok=True)
        return newest

    def frames(self) -> list[dict[str, Any]]:
        """Every readable frame, oldest first; a damaged one is logged (by ``read_npz``) and skipped."""
        frames = []
        for ordinal in self.ordinals():
            frame = artifacts.read_npz(self._path(ordinal))
            if frame is not None:
                frames.append(frame)
        return frames

    def drop_after(self, step: int) -> int:
        """Remove the frames taken after global step ``step`` (a resumed run trains them again).

        Returns:
            How many frames were removed.
        """
        removed = 0
        for ordinal in self.ordinals():
            frame = artifacts.read_npz(self._path(ordinal))
            if frame is not None and int(frame.get("step", 0)) > step:
                self._path(ordinal).unlink(missing_ok=True)
                removed += 1
        return removed
