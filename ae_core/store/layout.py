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
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ae_core.checks import check_choice

CONFIG_FILENAME = "config.json"
MODEL_FILENAME = "model.keras"
CHECKPOINT_DIRNAME = "checkpoint"
CHECKPOINT_MODEL_FILENAME = "checkpoint.keras"
CHECKPOINT_STATE_FILENAME = "checkpoint.json"
SNAPSHOT_KINDS = ("reconstruction", "latent")
# Files are written beside their target under this prefix, then renamed over it.
PARTIAL_PREFIX = "partial-"


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

        The state file is written last, so its presence means the model file is complete.
        """
        if not self.state_path.is_file():
            return None
        return int(json.loads(self.state_path.read_text(encoding="utf-8"))["epoch"])

    def save(self, write_model: Callable[[Path], None], epoch: int) -> None:
        """Write a new checkpoint atomically: the model, then the state that vouches for it.

        Args:
            write_model: saves the model to the ``.keras`` path it is given.
            epoch: epochs completed.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
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

    def __post_init__(self) -> None:
        # Derived once, here, so that each name is spelled in one place.
        object.__setattr__(self, "config_path", self.path / CONFIG_FILENAME)
        object.__setattr__(self, "model_path", self.path / MODEL_FILENAME)
        object.__setattr__(self, "checkpoint", Checkpoint(self.path / CHECKPOINT_DIRNAME))

    def snapshot_path(self, kind: str) -> Path:
        """The latest snapshot of ``kind`` (``"reconstruction"`` or ``"latent"``).

        Raises:
            ValueError: for another kind.
        """
        check_choice("kind", kind, SNAPSHOT_KINDS)
        return self.path / f"{kind}.npz"
