"""Shared test set-up: the real reference data and quiet TensorFlow."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_jobs import FakeJobManager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _components_scanned_once() -> Iterator[None]:
    """Scan the installed packages for Streamlit components once per test session, not once per ``AppTest``.

    Each new ``AppTest`` reads the metadata of every installed distribution on its first run
    (about 0.25 s here, and the suite makes hundreds); what is installed does not change while
    the tests run, so the first scan's answer holds for all of them.
    """
    from streamlit.components.v2 import manifest_scanner

    found = manifest_scanner.scan_component_manifests()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_scanner, "scan_component_manifests", lambda max_workers=None: list(found))
        yield


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of real MNIST / Fashion-MNIST / CIFAR-10 written by ../shared/datasets/prepare.py.

    ``run_tests.sh`` writes it and sets ``AE_LAB_DATA_DIR``; a test that needs
    it skips with the reason when it is not there.
    """
    folder = os.environ.get("AE_LAB_DATA_DIR")
    if not folder or not (Path(folder) / "mnist.npz").is_file():
        pytest.skip("real datasets not prepared: run `python ../shared/datasets/prepare.py DIR` and set AE_LAB_DATA_DIR"
                    " (run_tests.sh does both)")
    return Path(folder)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeJobManager:
    """A ``FakeJobManager`` injected into the app for one AppTest, with only ``mnist_sample`` offline.

    The machine's real data folder must not decide what the page tests see.
    """
    from ae_core.data import datasets
    from ae_lab_ui import services

    manager = FakeJobManager(home=tmp_path)
    services.inject_manager(manager)
    monkeypatch.setattr(datasets, "is_available_offline", lambda name: name == "mnist_sample")
    yield manager
    services.inject_manager(None)


@pytest.fixture(scope="session")
def ray_cluster():
    """A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``), one CPU per node.

    This process joins it as the server would. Its nodes are started from here, so their workers
    inherit a ``PYTHONPATH`` that finds ``ae_core`` and the tests' fake trainer (a real cluster's
    nodes have the lab installed). Health checks are fast so that a killed node is noticed in a
    second, as a production cluster would in its own (longer) period.
    """
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    paths = [str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False,
        "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3,
                           "health_check_initial_delay_ms": 0}})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, namespace="ae_lab")
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    if previous is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = previous


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the tests that share a costly session fixture on one ``pytest-xdist`` worker (``--dist loadgroup``).

    ``run_tests.sh`` spreads the suite over two workers. The browser tests share one app server
    and one Chromium, and the Ray tests one two-node cluster: each group runs in order on one
    worker, so neither is started twice, while the other worker takes the unit and page tests.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("browser"))
        elif "ray_cluster" in item.fixturenames or (callspec and callspec.params.get("make_any_manager") == "ray"):
            item.add_marker(pytest.mark.xdist_group("ray"))
