"""A finished run's model and data, loaded once per server process for the Explore and Compare pages.

Loading a ``.keras`` file takes about a second and encoding a 2,000-point map tens of
milliseconds, so both are cached with ``st.cache_resource`` keyed by the model file's
path *and* modification time: a resumed run that writes a new model is loaded afresh.
The models are only used for light inference (decoding a few images); training never
happens in the server process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from ae_core.config import TrainConfig
from ae_core.data import load_dataset
from ae_core.errors import AELabError
from ae_core.store import RunRecord, RunStatus
from ae_lab_ui.services import JobService

MAP_POINTS = 2000


class NoModelYet(AELabError):
    """The run has neither a final model nor an epoch checkpoint to load."""


@dataclass(frozen=True)
class MapData:
    """The test images drawn on the latent map, their labels and codes, and the plane they lie on."""

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    codes: np.ndarray
    plane: object  # ae_core.analysis.latent.LatentPlane
    points: np.ndarray


def explorable(runs: list[RunRecord]) -> list[RunRecord]:
    """Autoencoder runs worth opening: finished ones, and ones still training (their last checkpoint).

    Classifier runs are left out: they have no decoder and no latent space to explore.
    """
    return [record for record in runs if record.config.task == "reconstruct"
            and record.status in (RunStatus.FINISHED, RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.INTERRUPTED)]


def model_file(manager: JobService, run_id: str) -> Path:
    """The final model of a run, else the model of its last good epoch checkpoint (the service decides).

    Raises:
        NoModelYet: when neither exists yet (the first epoch has not finished).
        RunNotFound: for an unknown run.
    """
    path = manager.latest_model_path(run_id)
    if path is None:
        raise NoModelYet("This run has no saved model yet: the first one is written when its first epoch ends.")
    return Path(path)


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _load(path: str, mtime: float):  # -> ae_core.models.zoo.Autoencoder
    del mtime  # Part of the cache key only.
    from ae_core.models import load_autoencoder

    return load_autoencoder(path)


def load_bundle(path: Path):  # -> ae_core.models.zoo.Autoencoder
    """The autoencoder saved at ``path``, cached by path and modification time."""
    return _load(str(path), path.stat().st_mtime)


@st.cache_resource(max_entries=4, show_spinner="Loading the test images…")
def test_split(config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The run's test images (uint8, in the model's shape) and labels."""
    splits = load_dataset(config.dataset, validation_fraction=config.validation_fraction,
                          grayscale=config.grayscale, download=False)
    return splits.x_test, splits.y_test


@st.cache_resource(max_entries=8, show_spinner="Encoding the test images…")
def _map_data(path: str, mtime: float, config: TrainConfig) -> MapData:
    from ae_core import analysis
    from ae_core.data import fixed_sample

    bundle = _load(path, mtime)
    images, labels = test_split(config)
    indices = fixed_sample(len(images), MAP_POINTS, seed=0)
    codes = analysis.encode(bundle, images[indices])
    plane = analysis.fit_plane(codes)
    return MapData(images[indices], labels[indices], indices, codes, plane, plane.to_plane(codes))


def map_data(path: Path, config: TrainConfig) -> MapData:
    """Up to 2,000 test images (the same ones every time), their codes and the decodable plane."""
    return _map_data(str(path), path.stat().st_mtime, config)


@st.cache_resource(max_entries=4, show_spinner="Reconstructing the test split…")
def _ranking(path: str, mtime: float, config: TrainConfig):  # -> ae_core.analysis.latent.ErrorRanking
    from ae_core import analysis

    images, _ = test_split(config)
    return analysis.rank_errors(_load(path, mtime), images, count=12)


def error_ranking(path: Path, config: TrainConfig):  # -> ae_core.analysis.latent.ErrorRanking
    """Every test image's reconstruction error, and the 12 worst, cached per model file."""
    return _ranking(str(path), path.stat().st_mtime, config)
