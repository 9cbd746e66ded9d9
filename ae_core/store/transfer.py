"""A run folder's files as bytes, for a worker that shares no filesystem with the store.

A Ray worker (``ae_core.service.ray_worker``) trains into a scratch copy of the run folder on
its own node. What the store keeps of that folder, besides what events carry (metrics,
snapshots), travels back as ``file`` events of bytes: the epoch checkpoint, the final model and
the TensorBoard logs (``SHIPPED``). A resumed run's checkpoint travels the other way, to
whichever node takes the run. Paths are relative and checked here, on both ends, so that a
message can never write outside a run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ae_core.store.artifacts import write_bytes_atomic
from ae_core.store.layout import (CHECKPOINT_DIRNAME, CHECKPOINT_STATE_FILENAME, MODEL_FILENAME, TENSORBOARD_DIRNAME,
                                  RunFolder, is_partial)
from ae_core.store.records import validate_run_id

FILE_EVENT = "file"
# What a worker writes into a run folder itself; everything else reaches the store as events.
SHIPPED = (CHECKPOINT_DIRNAME, MODEL_FILENAME, TENSORBOARD_DIRNAME)
# What a worker ships while the run trains: what a resume needs. TensorBoard's event file grows all
# run long, and shipping it whole at each change would cost the square of its size; it goes at the end.
SHIPPED_WHILE_TRAINING = (CHECKPOINT_DIRNAME, MODEL_FILENAME)


def check_relative(relative: str) -> PurePosixPath:
    """A path inside a run folder that a worker may ship, as given by a ``file`` event.

    Raises:
        ValueError: for an absolute path, one with ``..`` or an empty part, a temporary file's
            name, or one outside ``SHIPPED`` (naming the allowed entries).
    """
    path = PurePosixPath(str(relative))
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts):
        raise ValueError(f"path must be relative to the run folder, without '..'; got {relative!r}")
    if path.parts[0] not in SHIPPED or is_partial(path.name):
        raise ValueError(f"path must be under one of {', '.join(SHIPPED)} (not a temporary file); got {relative!r}")
    if path.parts[0] == MODEL_FILENAME and len(path.parts) > 1:
        raise ValueError(f"path must be under one of {', '.join(SHIPPED)}; got {relative!r}")
    return path


def write_file(folder: RunFolder, relative: str, data: bytes) -> bool:
    """Write one shipped file into a run folder, atomically (a reader sees the old file or the new one).

    Returns:
        False, writing nothing, when the run folder is gone (a deleted run is not brought back).

    Raises:
        ValueError: for a path ``check_relative`` refuses.
        OSError: when the disk refuses the write.
    """
    path = folder.path.joinpath(*check_relative(relative).parts)
    if not folder.path.is_dir():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)
    return True


def write_files(folder: RunFolder, files: dict[str, bytes]) -> None:
    """Write shipped files in the order ``ordered`` gives (a checkpoint's state after its model)."""
    for relative in ordered(files):
        write_file(folder, relative, files[relative])


def ordered(relatives: list[str] | dict[str, bytes]) -> list[str]:
    """Paths in the order they must land: a checkpoint's state file vouches for its model, so it goes last."""
    return sorted(relatives, key=lambda relative: (PurePosixPath(relative).name == CHECKPOINT_STATE_FILENAME,
                                                   relative))


def read_checkpoint(folder: RunFolder) -> dict[str, bytes]:
    """The run's epoch checkpoint as ``{relative path: bytes}``; empty when it has none (a run that starts afresh)."""
    if folder.checkpoint.epoch() is None:
        return {}
    return {f"{CHECKPOINT_DIRNAME}/{path.name}": path.read_bytes()
            for path in (folder.checkpoint.model_path, folder.checkpoint.state_path) if path.is_file()}


@dataclass
class ChangedFiles:
    """Finds the files of ``SHIPPED`` in a scratch run folder that are new or changed since the last look.

    A file is judged by its size and modification time, so each look costs a few ``stat`` calls.
    """

    folder: RunFolder
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)

    def take(self, entries: tuple[str, ...] = SHIPPED) -> dict[str, bytes]:
        """The new or changed files under ``entries`` (some of ``SHIPPED``), read now.

        Call it only between saves: the trainer's own thread does.
        """
        changed: dict[str, bytes] = {}
        for entry in entries:
            top = self.folder.path / entry
            paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []
            for path in paths:
                if is_partial(path.name):
                    continue
                relative = path.relative_to(self.folder.path).as_posix()
                try:
                    stat = path.stat()
                    signature = (stat.st_size, stat.st_mtime_ns)
                    if self.seen.get(relative) == signature:
                        continue
                    changed[relative] = path.read_bytes()
                except FileNotFoundError:  # replaced between the listing and the read: the next look has it
                    continue
                self.seen[relative] = signature
        return {relative: changed[relative] for relative in ordered(changed)}


def scratch_folder(root: Path, run_id: str) -> RunFolder:
    """The scratch copy of a run's folder on a worker node (not created here).

    Raises:
        ValueError: for a malformed run id.
    """
    return RunFolder(Path(root) / validate_run_id(run_id))
