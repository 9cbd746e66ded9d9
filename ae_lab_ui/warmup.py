"""What the server does once when it starts, so that nobody's first click pays for it.

``serve.py`` calls ``warm_up()`` in a background thread as soon as the server is up. It
pays, in the server process, for what would otherwise make the first page view of the
Explore, Compare and Classify pages take seconds:

- importing TensorFlow and Keras and running a tiny model once (the first call of a
  Keras model traces its graph);
- compiling UMAP's numba code and importing t-SNE, on a few codes;
- loading the newest finished runs' models, their latent maps, error rankings and code
  probes into the caches the pages read (``run_models``);
- fitting the Classify page's pixel probe of each dataset with a finished run (kept on
  disk under the store's home, so a dataset's probe is fitted once: about 40 s of one core
  for a large dataset).

Each step is timed and logged; a failing step is logged and the next one runs: a page
then pays for what the warm-up could not do, and says what is wrong itself. The warm-up
uses one math thread, so it does not crowd out the training workers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

LOGGER = logging.getLogger("ae_lab_ui")
# The newest finished runs whose models and maps are loaded ahead (run_models keeps 8 models).
RECENT_RUNS = 3
# Streamlit warns that a thread outside a page run has no ScriptRunContext at every cached call.
_CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"


# Imported by page runs (plotly's figures and Streamlit's tables import pandas on first
# use) and by the warm-up thread alike. Two threads importing the same package at once can
# hand one of them the half-initialised module: in a browser test a page run failed with
# "partially initialized module 'pandas' has no attribute 'Series'" while the warm-up
# imported scikit-learn. These are imported once, before any page runs (about 2 s).
SHARED_MODULES = ("pandas", "plotly.graph_objects", "sklearn.decomposition")


def import_shared_modules() -> None:
    """Import, in the calling thread, the packages both page runs and the warm-up import lazily."""
    import importlib

    for name in SHARED_MODULES:
        importlib.import_module(name)


def warm_up() -> None:
    """Do the server-start work in the calling thread; never raises (failures are logged)."""
    from threadpoolctl import threadpool_limits

    lower_thread_priority()
    with _quiet_context_warnings(), threadpool_limits(1):
        for step in (import_keras, compile_projections, prepare_recent_runs, fit_pixel_probes):
            _timed(step)


def lower_thread_priority() -> None:
    """Run the calling thread at the training workers' priority, so that page runs come first (warm-up, time-lapse).

    On Linux a thread is a task of its own, and ``setpriority`` on its id renices it alone:
    the warm-up's minute of UMAP compiling must not slow page runs, and shares the cores
    evenly with a student's first run. Not nicer than the workers: a thread that holds the
    interpreter lock while it waits for a core would stall every page run behind it.
    """
    from ae_core.service.worker_setup import BACKGROUND_NICENESS

    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + BACKGROUND_NICENESS)
    except (AttributeError, OSError) as error:  # not Linux, or not allowed: the warm-up still runs
        LOGGER.info("warm-up: runs at normal priority (%s)", error)


def _timed(step: Callable[[], object]) -> None:
    start = time.perf_counter()
    try:
        step()
    except Exception:  # noqa: BLE001 - the warm-up must never take the server down
        LOGGER.exception("warm-up: %s failed", step.__name__)
        return
    LOGGER.info("warm-up: %s took %.1f s", step.__name__, time.perf_counter() - start)


def import_keras() -> None:
    """Import TensorFlow and Keras, and encode and decode through a tiny model once."""
    from ae_core import analysis
    from ae_core.config import ModelConfig
    from ae_core.models import build_autoencoder

    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=2, hidden_sizes=(8,)), (28, 28, 1))
    analysis.decode(bundle, analysis.encode(bundle, np.zeros((4, 28, 28, 1), np.uint8)))


def compile_projections() -> None:
    """Compile UMAP's numba functions and load t-SNE, on 60 random codes."""
    from ae_core.analysis.projection import project

    codes = np.random.default_rng(0).normal(size=(60, 4))
    for method in ("tsne", "umap"):
        project(codes, method)


def fit_pixel_probes() -> None:
    """The Classify page's pixel probe of each dataset that has a finished run, fitted once and kept on disk.

    Only those: the Classify page opens finished runs alone, and fitting all three large
    datasets costs about two minutes of a core that a fresh server's first runs want.
    """
    from ae_core.analysis.probe import pixel_probe
    from ae_core.store import RunStatus
    from ae_lab_ui.services import get_manager

    wanted = {(record.config.dataset, record.config.grayscale) for record in get_manager().list_runs()
              if record.status is RunStatus.FINISHED and record.config.task == "reconstruct"}
    for dataset, grayscale in sorted(wanted):
        pixel_probe(dataset, grayscale)


def prepare_recent_runs() -> None:
    """Load the newest finished autoencoder runs' models, maps, error rankings and code probes."""
    from ae_core.analysis.probe import code_probe
    from ae_core.store import RunStatus
    from ae_lab_ui import run_models
    from ae_lab_ui.services import get_manager

    manager = get_manager()
    finished = [record for record in manager.list_runs()
                if record.status is RunStatus.FINISHED and record.config.task == "reconstruct"]
    for record in finished[:RECENT_RUNS]:
        try:
            path = run_models.model_file(manager, record.run_id)
            run_models.load_bundle(path)
            run_models.map_data(path, record.config)
            run_models.error_ranking(path, record.config)
            code_probe(record.config.dataset, record.config.grayscale, path, load=run_models.load_bundle)
        except Exception as error:  # noqa: BLE001 - one broken run must not keep the others cold
            LOGGER.warning("warm-up: run %s not prepared (%s: %s)", record.run_id, type(error).__name__, error)


class _OtherThreads(logging.Filter):
    def __init__(self, thread: int) -> None:
        super().__init__()
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread


@contextlib.contextmanager
def _quiet_context_warnings() -> Iterator[None]:
    """Leave out Streamlit's "missing ScriptRunContext" warnings of this thread only."""
    quiet = _OtherThreads(threading.get_ident())
    logger = logging.getLogger(_CONTEXT_LOGGER)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
