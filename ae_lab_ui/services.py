"""The one job manager the app shares, and errors shown in words a student understands.

``app.py`` calls ``get_manager()`` on every run; the real ``JobManager`` is
built once per server process behind ``st.cache_resource`` (it is
thread-safe, and every browser session shares it). Tests and benchmarks put
their own manager in place with ``inject_manager`` before running the app,
which is the one explicit seam for a fake.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import streamlit as st

from ae_core.access import LAB_OWNER, Actor, ClassRules
from ae_core.config import TrainConfig
from ae_core.data import DATASETS, data_dir
from ae_core.errors import AELabError, DatasetUnavailable, RunNotFound
from ae_core.store import DamagedRun, MetricRow, RunRecord

LOGGER = logging.getLogger("ae_lab_ui")
T = TypeVar("T")


class JobService(Protocol):
    """What the pages use of ``ae_core.service.jobs.JobManager`` (see docs/DESIGN.md, "jobs")."""

    def submit(self, config: TrainConfig, actor: Actor = LAB_OWNER) -> str: ...
    def list_runs(self) -> list[RunRecord]: ...
    def damaged_runs(self) -> list[DamagedRun]: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def metrics_since(self, run_id: str, after_seq: int = 0) -> list[MetricRow]: ...
    def latest_snapshot(self, run_id: str, kind: str) -> dict[str, Any] | None: ...
    def snapshot_history(self, run_id: str, kind: str) -> list[dict[str, Any]]: ...
    def cancel(self, run_id: str, actor: Actor = LAB_OWNER) -> None: ...
    def change(self, run_id: str, field: str, value: float, actor: Actor = LAB_OWNER) -> None: ...
    def delete(self, run_id: str, actor: Actor = LAB_OWNER) -> None: ...
    def resume(self, run_id: str, actor: Actor = LAB_OWNER) -> str: ...
    def class_rules(self) -> ClassRules: ...
    def set_class_rules(self, rules: ClassRules, actor: Actor = LAB_OWNER) -> None: ...
    def model_path(self, run_id: str) -> Path | None: ...
    def latest_model_path(self, run_id: str) -> Path | None: ...
    def config_path(self, run_id: str) -> Path: ...
    def projection_cache_path(self, run_id: str, method: str) -> Path: ...
    def problem(self) -> str | None: ...


_injected: JobService | None = None


def inject_manager(manager: JobService | None) -> None:
    """Use ``manager`` instead of the real ``JobManager`` (None restores the real one)."""
    global _injected
    _injected = manager


def _shutdown(manager: JobService) -> None:
    manager.shutdown()


# on_release stops the workers when the cache is cleared; without it a cleared
# cache would leave the old manager's worker processes running.
@st.cache_resource(show_spinner="Starting the training workers…", on_release=_shutdown)
def _shared_manager() -> JobService:
    # Imported here so that tests with a fake manager never load the service
    # (and its worker machinery) at all.
    from ae_core.service import JobManager

    return JobManager()


def get_manager() -> JobService:
    """The process-wide job manager (or the injected one)."""
    return _injected if _injected is not None else _shared_manager()


def friendly_message(error: BaseException) -> str:
    """Words for a person, from an exception the core or the service raised."""
    if isinstance(error, RunNotFound):
        return f"That run could not be found; it may have been deleted. ({error})"
    if isinstance(error, DatasetUnavailable):
        return str(error)
    if isinstance(error, AELabError):
        return str(error)
    if isinstance(error, PermissionError):  # another student's run: the service's own sentence
        return str(error)
    if isinstance(error, ValueError):
        # A refused setting, upload or request says what is wrong in its own sentence (its field
        # name first, as written, so no capital letter is added).
        return str(error)
    return ("Something unexpected went wrong, and the details are in the server's log. "
            f"({type(error).__name__}: {error})")


def is_expected(error: BaseException) -> bool:
    """A refusal the person can act on (a bad setting, a missing run or dataset), not a bug."""
    return isinstance(error, (ValueError, AELabError, PermissionError))


def attempt(action: Callable[[], T], *, what: str) -> T | None:
    """Run ``action``; on an error, show it with ``show_error`` and return None.

    ``what`` says what was being done ("start the run"). Any exception is caught, because
    a page must never show a traceback: ``show_error`` says it in plain words (and logs an
    unexpected one with its traceback for the teacher).
    """
    try:
        return action()
    except Exception as error:  # noqa: BLE001 - the page must survive anything the service raises
        show_error(error, what=what)
    return None


def show_error(error: BaseException, *, what: str) -> None:
    """Show ``error`` as an ``st.error`` box; a missing dataset also offers mnist_sample.

    An unexpected error (not ``is_expected``) is logged here with its traceback, once per
    time it is shown, since the box tells the person the details are in the server's log.
    """
    if not is_expected(error):
        LOGGER.error("could not %s", what, exc_info=error)
    st.error(f"Could not {what}. {friendly_message(error)}", icon=":material/error:")
    if isinstance(error, DatasetUnavailable):
        # One button per action: two missing-dataset errors on one page must not share a key.
        offer_offline_dataset("train_dataset", key_suffix=f"error_{what}")


def _kept_key(page: str) -> str:
    return f"{page}_kept_errors"


def keep_error(page: str, what: str, error: BaseException) -> None:
    """Keep an error of a button callback until ``show_kept_errors(page)`` shows it.

    Callbacks run before the page is drawn, so an ``st.error`` there would land above the
    page's title, out of the place a person reads. ``page`` names the page ("train", "runs"),
    ``what`` says what was being done, in the words of ``show_error`` ("start the run").
    """
    st.session_state.setdefault(_kept_key(page), []).append((what, error))


def show_kept_errors(page: str) -> None:
    """Show (with ``show_error``) and forget the errors ``keep_error`` kept for ``page``."""
    for what, error in st.session_state.pop(_kept_key(page), []):
        show_error(error, what=what)


OFFLINE_DATASET = "mnist_sample"
_FILES = {
    "mnist": "the file `mnist.npz`",
    "fashion_mnist": "the folder `fashion-mnist/` with its four `*-ubyte.gz` files",
    "cifar10": "the folder `cifar-10-batches-py/` (unpacked from `cifar-10-python.tar.gz`)",
}


def how_to_get(dataset: str) -> str:
    """Explain how to make ``dataset`` available on a machine without internet."""
    title = DATASETS[dataset].title
    what = _FILES.get(dataset, "its files")
    return (f"**{title}** is not on this machine. With internet, the first run downloads it by itself. "
            f"Without internet, put {what} into the data folder `{data_dir()}` (set `AE_LAB_DATA_DIR` to use "
            f"another folder). Until then, **{DATASETS[OFFLINE_DATASET].title}** works offline.")


def offer_offline_dataset(dataset_key: str, *, key_suffix: str) -> None:
    """A button that switches the dataset widget ``dataset_key`` to mnist_sample."""
    def switch() -> None:
        st.session_state[dataset_key] = OFFLINE_DATASET

    st.button(f"Use {OFFLINE_DATASET} instead", key=f"{dataset_key}_offline_{key_suffix}", on_click=switch,
              icon=":material/cloud_off:")
