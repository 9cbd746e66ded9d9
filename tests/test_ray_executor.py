"""The Ray executor on a real two-node cluster (``ray_cluster``: ``ray.cluster_utils.Cluster``).

The behaviours both executors share (queue, positions, cancel, resume, pauses, changes) are the
``make_any_manager`` tests of ``test_jobs``, ``test_class`` and ``test_live_changes``. Here: the
same run trains to the same figures on Ray as on local workers, with every artifact in the store
although the workers share no folder with it; a node that dies mid-run; a cluster that cannot be
reached; and the file transfer the Ray workers rely on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from ae_core.config import ModelConfig, TrainConfig
from ae_core.service.executors import executor_from_command_line, resolve_executor
from ae_core.service.jobs import JobManager
from ae_core.store import RunFolder, RunStatus
from ae_core.store.layout import CHECKPOINT_STATE_FILENAME
from ae_core.store.transfer import ChangedFiles, check_relative, read_checkpoint, write_file, write_files
from tests.fake_jobs import FakeJobManager
from tests.test_app import assert_clean, run_app, texts, training_run
from tests.test_jobs import fake_config, make_manager, wait_for, wait_status  # noqa: F401 (make_manager: a fixture)

REPO = Path(__file__).resolve().parents[1]


def _on_node(cluster: Any, pid: int) -> Any:
    """The cluster node whose raylet started process ``pid`` (a Ray worker is its raylet's child)."""
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    for node in [cluster.head_node, *cluster.worker_nodes]:
        if any(info.process.pid == parent for info in node.all_processes.get("raylet", [])):
            return node
    raise AssertionError(f"process {pid} belongs to no node of the cluster")


# -- the same run, local and on Ray ----------------------------------------------------------------
@pytest.mark.slow
def test_a_run_on_ray_matches_the_local_pool_and_its_artifacts_reach_the_store(
        make_manager: Callable[..., JobManager], ray_cluster: Any) -> None:
    config = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=8, hidden_sizes=(64,)),
                         num_epochs=2, batch_size=64, train_limit=512, seed=3)
    real = {"trainer": "ae_core.training:train", "max_concurrent": 1, "warm_workers": 1, "warmup": False}
    local = make_manager(**real)
    local_id = local.submit(config)
    on_ray = make_manager(executor="ray", ray_address=ray_cluster.address, **real)
    ray_id = on_ray.submit(config)
    records = {}
    for manager, run_id in ((local, local_id), (on_ray, ray_id)):
        assert wait_status(manager, run_id, RunStatus.FINISHED, RunStatus.FAILED, timeout=240) == RunStatus.FINISHED, \
            manager.get_run(run_id).message
        records[manager] = manager.get_run(run_id)
    local_mse, ray_mse = records[local].result["test_mse"], records[on_ray].result["test_mse"]
    assert abs(ray_mse - local_mse) <= 0.02 * local_mse, (local_mse, ray_mse)
    # The Ray worker trained in a scratch folder on its node; the store holds what a local run's folder does.
    local_folder, ray_folder = local.store.folder(local_id), on_ray.store.folder(ray_id)

    def kinds(folder: RunFolder) -> set[str]:
        # TensorBoard names its event files after host, time and pid, and a time-lapse keeps a frame
        # every few seconds (so a busier machine keeps more): their names are not compared.
        return {"tfevents" if "tfevents" in p.name else p.parent.relative_to(folder.path).as_posix() + "/*"
                if p.parent.parent.name == "history" else p.relative_to(folder.path).as_posix()
                for p in folder.path.rglob("*") if p.is_file()}

    assert kinds(ray_folder) == kinds(local_folder)
    assert ray_folder.checkpoint.epoch() == 2 and on_ray.model_path(ray_id) is not None
    from ae_core.models import load_autoencoder

    assert load_autoencoder(ray_folder.model_path).config.latent_dim == 8
    assert len(on_ray.metrics_since(ray_id)) == len(local.metrics_since(local_id))


# -- a node that dies ------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_dead_node_interrupts_its_run_which_resumes_on_the_other_node(
        make_manager: Callable[..., JobManager], ray_cluster: Any) -> None:
    manager = make_manager(executor="ray", ray_address=ray_cluster.address)
    runs = [manager.submit(fake_config(steps=4, epochs=80, seed=seed)) for seed in (1, 2)]
    pids = {run_id: wait_for(lambda r=run_id: next((w.pid for w in manager.workers() if w.run_id == r and w.pid),
                                                   None), "the run's actor") for run_id in runs}
    nodes = {run_id: _on_node(ray_cluster, pid) for run_id, pid in pids.items()}
    victim = next(run_id for run_id in runs if nodes[run_id] is not ray_cluster.head_node)
    survivor = next(run_id for run_id in runs if run_id != victim)
    state = manager.store.folder(victim).checkpoint.state_path
    wait_for(lambda: state.is_file() and json.loads(state.read_text())["epoch"] >= 2, "a checkpoint in the store")
    try:
        ray_cluster.remove_node(nodes[victim], allow_graceful=False)
        assert wait_status(manager, victim, RunStatus.INTERRUPTED, timeout=10) == RunStatus.INTERRUPTED
        assert "its node of the Ray cluster died" in manager.get_run(victim).message
        kept = json.loads(state.read_text())["epoch"]
        assert kept >= 2
        # The other run was not touched, and the dead node's run goes on from its checkpoint on the live node.
        assert manager.get_run(survivor).status == RunStatus.RUNNING
        manager.resume(victim)
        assert wait_status(manager, survivor, RunStatus.FINISHED, timeout=60) == RunStatus.FINISHED
        assert wait_status(manager, victim, RunStatus.FINISHED, timeout=60) == RunStatus.FINISHED
        resumed_by = {w.pid for w in manager.workers()} | {pids[survivor]}
        assert all(_on_node(ray_cluster, pid) is ray_cluster.head_node for pid in resumed_by if Path(
            f"/proc/{pid}").exists())
        steps = [row.step for row in manager.metrics_since(victim) if row.kind == "batch"]
        assert steps == list(range(1, 321))  # nothing lost, nothing twice
        assert manager.metrics_since(victim)[0].step == 1 and len(manager.metrics_since(survivor)) == 320 + 80 * 4
    finally:
        ray_cluster.add_node(num_cpus=1)
        ray_cluster.wait_for_nodes()


# -- a cluster that cannot be reached --------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_cluster_fails_runs_with_one_message_and_the_store_still_reads(tmp_path: Path) -> None:
    # Its own process: this one may have joined the test cluster, and a process joins one cluster only.
    script = textwrap.dedent(f"""
        import json, time
        from ae_core.config import TrainConfig
        from ae_core.service.jobs import JobManager
        from ae_core.store import RunStore
        finished = RunStore({str(tmp_path)!r}).create_run(TrainConfig())
        start = time.monotonic()
        manager = JobManager({str(tmp_path)!r}, executor="ray", ray_address="127.0.0.1:{_closed_port()}",
                             threads_per_run=1, warmup=False)
        started = time.monotonic() - start
        run_id = manager.submit(TrainConfig(num_epochs=1))
        while manager.get_run(run_id).status.is_active and time.monotonic() - start < 30:
            time.sleep(0.1)
        record = manager.get_run(run_id)
        print(json.dumps({{"started": started, "status": record.status.value, "message": record.message,
                          "problem": manager.problem(), "runs": len(manager.list_runs())}}))
        manager.shutdown()
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["started"] < 5  # the server is not held up by the cluster
    assert report["status"] == "FAILED" and report["message"] == report["problem"]
    assert report["problem"].startswith("The Ray cluster at 127.0.0.1:") and "could not be reached" in report["problem"]
    assert "Runs already saved can still be viewed" in report["problem"]
    assert report["runs"] == 2


def test_the_pages_say_why_nothing_trains_and_still_show_the_runs(fake: FakeJobManager) -> None:
    run_id = training_run(fake)
    fake.training_problem = "The Ray cluster at head:6379 could not be reached (ConnectionRefusedError), so ..."
    app = run_app()
    assert_clean(app)
    assert fake.training_problem in texts(app.error)
    app.switch_page("app_pages/runs.py").run()
    assert_clean(app)
    assert fake.training_problem in texts(app.error)
    assert app.dataframe[0].value["Status"].tolist() == ["Training"]  # the saved runs are all there
    assert fake.get_run(run_id).status is RunStatus.RUNNING


def test_the_executor_is_checked_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AE_LAB_EXECUTOR", "slurm")
    with pytest.raises(ValueError, match="AE_LAB_EXECUTOR must be one of 'local', 'ray'; got 'slurm'"):
        resolve_executor(None)
    assert resolve_executor("ray") == "ray"
    monkeypatch.setenv("AE_LAB_EXECUTOR", " Ray ")
    assert resolve_executor(None) == "ray"
    monkeypatch.delenv("AE_LAB_EXECUTOR")
    assert resolve_executor(None) == "local"
    with pytest.raises(ValueError, match="executor must be one of 'local', 'ray'; got 'dask'"):
        resolve_executor("dask")


# -- the files a Ray worker ships ------------------------------------------------------------------
@pytest.mark.parametrize("relative", ["../config.json", "/etc/passwd", "checkpoint/../../x", "config.json",
                                      "history/latent/000001.npz", "checkpoint/partial-checkpoint.keras",
                                      "model.keras/inside", ""])
def test_only_the_files_a_worker_writes_may_travel(relative: str) -> None:
    with pytest.raises(ValueError, match="path must be"):
        check_relative(relative)


def test_changed_files_travel_once_each_state_last_and_never_into_a_deleted_run(tmp_path: Path) -> None:
    scratch = RunFolder(tmp_path / "scratch")
    scratch.checkpoint.save(lambda path: path.write_bytes(b"weights-1"), epoch=1)
    (scratch.tensorboard_dir / "run").mkdir(parents=True)
    (scratch.tensorboard_dir / "run" / "events.out.tfevents.1").write_bytes(b"e1")
    (scratch.path / "latent.npz").write_bytes(b"sent as events, not as files")
    changes = ChangedFiles(scratch)
    first = changes.take()
    assert list(first) == ["checkpoint/checkpoint.keras", "tensorboard/run/events.out.tfevents.1",
                           f"checkpoint/{CHECKPOINT_STATE_FILENAME}"]
    assert changes.take() == {}
    scratch.checkpoint.save(lambda path: path.write_bytes(b"weights-two"), epoch=2)
    assert set(changes.take()) == {"checkpoint/checkpoint.keras", f"checkpoint/{CHECKPOINT_STATE_FILENAME}"}

    store_side = RunFolder(tmp_path / "store")
    store_side.path.mkdir()
    write_files(store_side, first)
    assert store_side.checkpoint.epoch() == 1 and read_checkpoint(store_side) == {
        "checkpoint/checkpoint.keras": b"weights-1", f"checkpoint/{CHECKPOINT_STATE_FILENAME}": b'{"epoch": 1}'}
    assert not write_file(RunFolder(tmp_path / "deleted"), "model.keras", b"late")
    assert not (tmp_path / "deleted").exists()
    assert read_checkpoint(RunFolder(tmp_path / "never-trained")) == {}


def test_the_server_takes_the_executor_from_its_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AE_LAB_EXECUTOR", "AE_LAB_RAY_ADDRESS"):  # set, then removed: monkeypatch restores them after
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    executor_from_command_line(["--server.port", "8501"])  # Streamlit's own options are not ours
    assert "AE_LAB_EXECUTOR" not in os.environ
    executor_from_command_line(["--executor", "ray", "--ray-address", "ray://head:10001"])
    assert (os.environ["AE_LAB_EXECUTOR"], os.environ["AE_LAB_RAY_ADDRESS"]) == ("ray", "ray://head:10001")
    with pytest.raises(SystemExit):
        executor_from_command_line(["--executor", "slurm"])


def test_gpus_are_asked_only_of_a_cluster_that_has_them(ray_cluster: Any, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from ae_core.service.ray_pool import RayPool
    from ae_core.service.worker_setup import WorkerSettings

    monkeypatch.setenv("AE_LAB_GPUS_PER_RUN", "one")
    with pytest.raises(ValueError, match="AE_LAB_GPUS_PER_RUN must be a number from 0 to 8; got 'one'"):
        RayPool(WorkerSettings(), ray_cluster.address)
    monkeypatch.setenv("AE_LAB_GPUS_PER_RUN", "0.5")
    assert RayPool(WorkerSettings(), ray_cluster.address)._gpus_per_actor() == 0.0  # the test cluster has none
    assert "the Ray cluster has no GPU: training on CPUs" in caplog.text


# -- an actor that cannot be reached for a moment --------------------------------------------------
class _Calls:
    """A fake actor method: ``.remote()`` returns the next of ``answers`` (raised if an exception)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    def remote(self, *_args: Any) -> Any:
        return self.answers.pop(0)


def _pumped(monkeypatch: pytest.MonkeyPatch, answers: list[Any]) -> tuple[Any, list[tuple[Any, ...]]]:
    """Run the Ray pool's pump over a fake actor that answers ``answers`` in turn; its life and messages."""
    ray_pool = pytest.importorskip("ae_core.service.ray_pool")
    from multiprocessing.connection import Pipe
    from types import SimpleNamespace

    from ae_core.service.worker_setup import WorkerSettings

    def get(answer: Any) -> Any:
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(ray_pool.ray, "get", get)
    monkeypatch.setattr(ray_pool, "POLL_SECONDS", 0.01)
    worker = ray_pool.RayWorkerHandle(process=ray_pool.ActorLife(), jobs=None, events=None, stop_token=None,
                                      actor=SimpleNamespace(next_messages=_Calls(answers)))
    reader, writer = Pipe(duplex=False)
    ray_pool.RayPool(WorkerSettings(), "")._pump(worker, writer)
    messages = []
    try:
        while True:
            messages.append(reader.recv())
    except EOFError:  # the pump closed its end: the actor is gone
        return worker.process, messages


def test_an_actor_unreachable_for_a_moment_goes_on_and_one_whose_node_died_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.exceptions import ActorDiedError, ActorUnavailableError

    unavailable = ActorUnavailableError("RPC error: connection reset", None)
    node_died = ActorDiedError()
    monkeypatch.setattr(node_died, "error_msg", "The actor died because its node has died. Node Id: 1f2e")
    monkeypatch.setattr(ActorDiedError, "__str__", lambda self: self.error_msg)
    life, messages = _pumped(monkeypatch, [[("ready", 42)], unavailable, unavailable, [("event", "r", {})], node_died])
    assert messages == [("ready", 42), ("event", "r", {})]  # nothing lost across the blip
    assert (life.is_alive(), life.pid, life.reason) == (False, 42, "its node of the Ray cluster died")


def test_an_actor_unreachable_for_too_long_is_given_up_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.exceptions import ActorUnavailableError

    ray_pool = pytest.importorskip("ae_core.service.ray_pool")
    monkeypatch.setattr(ray_pool, "UNAVAILABLE_SECONDS", 0.05)
    life, _ = _pumped(monkeypatch, [ActorUnavailableError("RPC error: connection reset", None)] * 100)
    assert not life.is_alive() and life.exitcode == ray_pool.CRASHED
    assert life.reason.startswith("the Ray actor died: The actor None is unavailable: RPC error: connection reset")
