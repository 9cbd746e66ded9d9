"""The run folder's layout: every file name a run keeps, written down once.

The store creates run folders under ``<home>/runs/<run_id>/``; a worker trains into one,
and the pages read from it. None of them spells a file name: they ask a ``RunFolder``
(and its ``Checkpoint``) for the path. So a new artifact (TensorBoard logs, a time-lapse)
is one line here, and a worker on another machine needs only the folder it was given.

    config.json              the TrainConfig (``TrainConfig.to_dict``)
    model.keras              the final model, once finished
    reconstruction.npz       the latest reconstruction snapshot
    latent.npz               the latest latent snapshot
    checkpoint/checkpoint.keras   the model at the last good epoch end
    checkpoint/checkpoint.json    {"epoch": N}: how far that checkpoint got
    tensorboard/<name>/      TensorBoard event files and the Embedding Projector's files,
                             in a folder named after the run's setup (``ae_core.export.tensorboard``)
    history/<kind>/000042.npz     the time-lapse: at most MAX_HISTORY_FRAMES snapshots of each
                                  kind, thinned evenly (``ae_core.store.history``)
    history/projection-<method>.npz   every latent frame projected with t-SNE or UMAP, cached

Files are written under a temporary name beside their target and renamed over it, so a
process killed mid-write leaves that temporary file behind (``is_partial`` knows them all).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ae_core.checks import check_choice

logger = logging.getLogger(__name__)

CONFIG_FILENAME = "config.json"
MODEL_FILENAME = "model.keras"
CHECKPOINT_DIRNAME = "checkpoint"
CHECKPOINT_MODEL_FILENAME = "checkpoint.keras"
CHECKPOINT_STATE_FILENAME = "checkpoint.json"
SNAPSHOT_KINDS = ("reconstruction", "latent")
TENSORBOARD_DIRNAME = "tensorboard"
# The Embedding Projector's files, beside the event files (TensorBoard's projector plugin reads them).
PROJECTOR_CONFIG_FILENAME = "projector_config.pbtxt"
PROJECTOR_TENSORS_FILENAME = "latent_codes.tsv"
PROJECTOR_METADATA_FILENAME = "metadata.tsv"
PROJECTOR_SPRITE_FILENAME = "sprite.png"
HISTORY_DIRNAME = "history"
# A time-lapse frame's name is its ordinal (the how-manieth snapshot of its kind) in six digits.
HISTORY_FRAME_PATTERN = r"(\d{6})\.npz"
HISTORY_FRAME_FORMAT = "{ordinal:06d}.npz"
PROJECTION_CACHE_FORMAT = "projection-{method}.npz"
# Files are written beside their target under this prefix, then renamed over it.
PARTIAL_PREFIX = "partial-"
# ae_core.models.save_autoencoder writes ".<stem>.partial.keras" beside its target, and
# ae_core.store.artifacts writes ".<name>.<random>.tmp" (".tmp.npz" for snapshots).
_HIDDEN_PARTIAL_MARKS = (".partial.", ".tmp")


def is_partial(name: str) -> bool:
    """Whether a file name is one of the temporary names a save writes before its final rename."""
    return name.startswith(PARTIAL_PREFIX) or (name.startswith(".") and any(mark in name
                                                                            for mark in _HIDDEN_PARTIAL_MARKS))


def remove_partials(directory: Path) -> list[Path]:
    """Delete the leftover temporary files of killed saves in ``directory`` (not below it).

    Only call this where nothing is saving into ``directory`` at the same moment: the file
    a save is writing has one of these names until it is renamed.

    Returns:
        The paths removed (none when the directory does not exist).
    """
    try:
        leftovers = [path for path in directory.iterdir() if is_partial(path.name) and path.is_file()]
    except FileNotFoundError:
        return []
    for path in leftovers:
        path.unlink(missing_ok=True)
    if leftovers:
        logger.info("Removed leftovers of an interrupted save in %s: %s", directory.name,
                    ", ".join(path.name for path in leftovers))
    return leftovers


@dataclass(frozen=True)
class Checkpoint:
    """A run's epoch checkpoint: the model at the last good epoch end and how far it got."""

    directory: Path

    @property
    def model_path(self) -> Path:
        return self.directory / CHECKPOINT_MODEL_FILENAME

    @property
    def state_path(self) -> Path:
        return self.directory / CHECKPOINT_STATE_FILENAME

    def epoch(self) -> int | None:
        """The epochs the checkpoint had completed, or None when there is no checkpoint.

        The state file is written last, so its presence means the model file is complete. A
        damaged state file vouches for nothing: it reads as no checkpoint (and is logged).
        """
        if not self.state_path.is_file():
            return None
        try:
            epoch = json.loads(self.state_path.read_text(encoding="utf-8"))["epoch"]
        except Exception as error:  # noqa: BLE001 - any damage (bad JSON, not an object, no key) is the same
            logger.warning("Ignoring the damaged checkpoint state in %s (%s: %s)", self.directory.parent.name,
                           type(error).__name__, str(error)[:100])
            return None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            logger.warning("Ignoring the checkpoint state in %s: its epoch is not a whole number >= 0 (%.60r)",
                           self.directory.parent.name, epoch)
            return None
        return epoch

    def save(self, write_model: Callable[[Path], None], epoch: int) -> None:
        """Write a new checkpoint atomically: the model, then the state that vouches for it.

        Leftovers of an earlier save that was killed midway are removed first: the run's
        one trainer is the only writer here, and it is not writing at this moment.

        Args:
            write_model: saves the model to the ``.keras`` path it is given.
            epoch: epochs completed.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        remove_partials(self.directory)
        partial_model = self.directory / (PARTIAL_PREFIX + CHECKPOINT_MODEL_FILENAME)
        write_model(partial_model)
        os.replace(partial_model, self.model_path)
        partial_state = self.directory / (PARTIAL_PREFIX + CHECKPOINT_STATE_FILENAME)
        partial_state.write_text(json.dumps({"epoch": int(epoch)}), encoding="utf-8")
        os.replace(partial_state, self.state_path)


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run's folder (which need not exist yet), all derived from ``path``."""

    path: Path
    config_path: Path = field(init=False)
    model_path: Path = field(init=False)
    checkpoint: Checkpoint = field(init=False)
    tensorboard_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        # Derived once, here, so that each name is spelled in one place.
        object.__setattr__(self, "config_path", self.path / CONFIG_FILENAME)
        object.__setattr__(self, "model_path", self.path / MODEL_FILENAME)
        object.__setattr__(self, "checkpoint", Checkpoint(self.path / CHECKPOINT_DIRNAME))
        object.__setattr__(self, "tensorboard_dir", self.path / TENSORBOARD_DIRNAME)

    def snapshot_path(self, kind: str) -> Path:
        """The latest snapshot of ``kind`` (``"reconstruction"`` or ``"latent"``).

        Raises:
            ValueError: for another kind.
        """
        check_choice("kind", kind, SNAPSHOT_KINDS)
        return self.path / f"{kind}.npz"

    def history_dir(self, kind: str) -> Path:
        """The folder of the time-lapse frames of ``kind`` (``"reconstruction"`` or ``"latent"``).

        Raises:
            ValueError: for another kind.
        """
        check_choice("kind", kind, SNAPSHOT_KINDS)
        return self.path / HISTORY_DIRNAME / kind

    def projection_cache_path(self, method: str) -> Path:
        """Where every latent frame of the time-lapse, projected with ``method``, is cached."""
        return self.path / HISTORY_DIRNAME / PROJECTION_CACHE_FORMAT.format(method=method)

    def remove_partials(self) -> list[Path]:
        """Delete the leftovers of killed saves in the folder, its checkpoint and its history (see ``remove_partials``).

        Call it only while no process trains this run (for example before a worker starts it).

        Returns:
            The paths removed.
        """
        history = [self.path / HISTORY_DIRNAME] + [self.history_dir(kind) for kind in SNAPSHOT_KINDS]
        return remove_partials(self.path) + remove_partials(self.checkpoint.directory) + [
            path for directory in history for path in remove_partials(directory)]
