"""A finished run's model and data, loaded once per server process for the Explore and Compare pages.

Loading a ``.keras`` file takes about a second and encoding a 2,000-point map tens of
milliseconds, so both are cached with ``st.cache_resource`` keyed by the model file's
path *and* modification time: a resumed run that writes a new model is loaded afresh.
The models are only used for light inference (decoding a few images); training never
happens in the server process. ``warmup.warm_up`` fills these caches for the newest runs
when the server starts.

A page lists the runs once per page run; ``watch_runs`` takes in a run that starts,
stops or finishes while the page is open, by polling only the active runs' statuses.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from ae_core.config import TrainConfig
from ae_core.data import load_dataset
from ae_core.errors import AELabError, RunNotFound
from ae_core.store import RunRecord, RunStatus
from ae_lab_ui.services import JobService, attempt

MAP_POINTS = 2000
# Models loaded at once, per server process (not per session: thirty students exploring share
# them); the least recently used goes first. About 10-60 MB each for the zoo's models.
MAX_LOADED_MODELS = 8
# How often a page asks whether its active runs have changed state (one cheap read per run).
WATCH_SECONDS = 2.0


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


def explorable(runs: list[RunRecord], has_model: Callable[[str], bool] = lambda run_id: True) -> list[RunRecord]:
    """Autoencoder runs worth opening: finished ones, ones still training, and stopped ones that saved a model.

    Classifier runs are left out: they have no decoder and no latent space to explore. A run
    still training is listed before its first epoch ends (the page says its model is on the
    way); a stopped one only if ``has_model(run_id)``, since it will never write one.

    Args:
        runs: the runs, newest first.
        has_model: whether a run has a final model or an epoch checkpoint (asked of stopped runs only).

    Returns:
        The runs to offer, in the order given.
    """
    stopped = (RunStatus.CANCELLED, RunStatus.INTERRUPTED)
    return [record for record in runs if record.config.task == "reconstruct"
            and (record.status in (RunStatus.FINISHED, RunStatus.RUNNING)
                 or record.status in stopped and has_model(record.run_id))]


def state_of(record: RunRecord) -> tuple[RunStatus, bool]:
    """What a run picker's label says of a run's state: its status, and whether it is stopping."""
    return record.status, record.is_stopping


def states(manager: JobService, run_ids: Sequence[str]) -> tuple[tuple[RunStatus, bool] | None, ...]:
    """The current ``state_of`` each run (None for one deleted meanwhile), one cheap read each.

    Raises:
        Whatever ``get_run`` raises but ``RunNotFound``.
    """
    found = []
    for run_id in run_ids:
        try:
            found.append(state_of(manager.get_run(run_id)))
        except RunNotFound:
            found.append(None)
    return tuple(found)


def rerun_when_changed(seen: Hashable, read: Callable[[], Hashable], *, every: float = WATCH_SECONDS) -> None:
    """Poll ``read()`` every ``every`` seconds from a small fragment; redraw the whole page once it differs from ``seen``.

    The redraw runs the page afresh, which decides again whether anything still needs
    watching: polling stops when nothing is active.
    """
    def check() -> None:
        fresh = attempt(read, what="check the runs")
        if fresh is not None and fresh != seen:
            st.rerun(scope="app")

    st.fragment(check, run_every=every)()


def watch_runs(manager: JobService, runs: Sequence[RunRecord]) -> bool:
    """While any of ``runs`` is queued or training, redraw the page when one of them changes state.

    So a run picker takes in a run that finishes (or starts, or stops) while the page is open.

    Returns:
        Whether anything is watched (some run is active).
    """
    active = [record for record in runs if record.status.is_active]
    if active:
        ids = [record.run_id for record in active]
        rerun_when_changed(tuple(state_of(record) for record in active), lambda: states(manager, ids))
    return bool(active)


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


@st.cache_resource(max_entries=MAX_LOADED_MODELS, show_spinner="Loading the model…")
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


@st.cache_resource(max_entries=MAX_LOADED_MODELS, show_spinner="Encoding the test images…")
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
