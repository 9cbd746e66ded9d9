"""The job service with real spawned worker processes.

Most tests run ``tests/fake_trainer.py`` in the workers: real processes, pipes,
queue and store, in seconds and without TensorFlow. The tests at the end run
the real trainer on the bundled MNIST sample. Waits poll with deadlines; no
fixed sleep is ever an assertion.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so spawned workers can import fake_trainer

import fake_trainer  # noqa: E402

from ae_core.config import ModelConfig, TrainConfig  # noqa: E402
from ae_core.errors import RunNotFound  # noqa: E402
from ae_core.service.jobs import JobManager  # noqa: E402
from ae_core.service.start_failures import MAX_START_FAILURES, StartFailures  # noqa: E402
from ae_core.service.worker_setup import BACKGROUND_NICENESS  # noqa: E402
from ae_core.training.callbacks import DIVERGED  # noqa: E402
from ae_core.store.records import RunStatus  # noqa: E402

FAKE = "fake_trainer:train"
DEADLINE = 60.0
T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def fake_config(steps: int = 4, epochs: int = 2, seed: int = 0) -> TrainConfig:
    """A fake run of ``epochs`` x ``steps`` batches."""
    return TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=3, hidden_sizes=(8,)),
                       num_epochs=epochs, batch_size=8, train_limit=8 * steps, seed=seed)


def status_of(manager: JobManager, run_id: str) -> RunStatus:
    return manager.get_run(run_id).status


def wait_status(manager: JobManager, run_id: str, *statuses: RunStatus, timeout: float = DEADLINE) -> RunStatus:
    return wait_for(lambda: status_of(manager, run_id) in statuses and status_of(manager, run_id),
                    f"run to become {'/'.join(s.value for s in statuses)}", timeout)


def worker_of(manager: JobManager, run_id: str) -> int:
    return wait_for(lambda: next((w.pid for w in manager.workers() if w.run_id == run_id), None),
                    "the run's worker")


def ready_pids(manager: JobManager) -> set[int]:
    return {w.pid for w in manager.workers() if w.ready and w.pid is not None}


@pytest.fixture
def make_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., JobManager]]:
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.02")
    managers: list[JobManager] = []

    def make(**options: Any) -> JobManager:
        settings: dict[str, Any] = {"home": tmp_path / "home", "max_concurrent": 2, "warm_workers": 2,
                                    "threads_per_run": 1, "trainer": FAKE, "warmup": False,
                                    "cancel_grace_seconds": 5.0}
        settings.update(options)
        managers.append(JobManager(**settings))
        return managers[-1]

    yield make
    for manager in managers:
        manager.shutdown()


@pytest.fixture(params=["local", "ray"])
def make_any_manager(request: pytest.FixtureRequest,
                     make_manager: Callable[..., JobManager]) -> Callable[..., JobManager]:
    """``make_manager`` for each executor: the same behaviour is asked of local workers and of Ray actors
    (on a real two-node cluster: the ``ray_cluster`` fixture)."""
    if request.param == "local":
        return make_manager
    cluster = request.getfixturevalue("ray_cluster")
    return lambda **options: make_manager(executor="ray", ray_address=cluster.address, **options)


def test_submit_then_finish(make_any_manager: Callable[..., JobManager]) -> None:
    manager = make_any_manager()
    run_id = manager.submit(fake_config(steps=4, epochs=2).to_dict())  # a dict is accepted too
    assert wait_status(manager, run_id, RunStatus.FINISHED, RunStatus.FAILED) == RunStatus.FINISHED
    record = manager.get_run(run_id)
    assert record.message == "Finished 2 epochs." and record.result["test_psnr"] == 20.0
    assert record.progress == {"num_epochs": 2, "steps_per_epoch": 4, "epoch": 2, "step": 8}
    assert record.created_at <= record.started_at <= record.finished_at
    rows = manager.metrics_since(run_id)
    assert [r.step for r in rows if r.kind == "batch"] == list(range(1, 9))
    assert {(r.epoch, r.key) for r in rows if r.kind == "epoch"} == {
        (e, k) for e in (1, 2) for k in ("loss", "val_loss", "mse", "val_mse")}
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    reconstruction = manager.latest_snapshot(run_id, "reconstruction")
    assert reconstruction["epoch"] == 2 and reconstruction["inputs"] is None
    assert reconstruction["originals"].shape == (16, 28, 28, 1)
    assert manager.latest_snapshot(run_id, "latent")["codes"].shape == (32, 3)
    # The run left a time-lapse: one frame of each kind per epoch, in order, the originals read back.
    latent_frames = manager.snapshot_history(run_id, "latent")
    assert [frame["step"] for frame in latent_frames] == [4, 8] and latent_frames[0]["codes"].dtype == np.float16
    reconstruction_frames = manager.snapshot_history(run_id, "reconstruction")
    assert [frame["epoch"] for frame in reconstruction_frames] == [1, 2]
    assert reconstruction_frames[0]["originals"].shape == (16, 28, 28, 1)
    assert json.loads(manager.config_path(run_id).read_text())["seed"] == 0
    assert manager.model_path(run_id) is None  # the fake trainer has no model to save
    assert manager.list_runs()[0].run_id == run_id


def test_workers_retire_after_their_quota_and_are_replaced(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=1, jobs_per_worker=2)
    run_ids = [manager.submit(fake_config(steps=2, epochs=1, seed=i)) for i in range(5)]
    for run_id in run_ids:
        assert wait_status(manager, run_id, RunStatus.FINISHED, RunStatus.FAILED) == RunStatus.FINISHED
    pids = [manager.store.db.connection().execute("SELECT worker_pid FROM runs WHERE run_id = ?", (run_id,))
            .fetchone()[0] for run_id in run_ids]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]  # two runs per worker process


def test_bad_config_fails_at_submit_and_queues_nothing(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(warm_workers=0)
    with pytest.raises(ValueError, match="num_epochs must be a whole number from 1"):
        manager.submit({**fake_config().to_dict(), "num_epochs": 0})
    with pytest.raises(ValueError, match="TrainConfig field must be one of"):
        manager.submit({"epochs": 3})
    with pytest.raises(ValueError, match="config must be a TrainConfig or a dict"):
        manager.submit("dense please")  # type: ignore[arg-type]
    assert manager.list_runs() == [] and list(manager.store.runs_dir.iterdir()) == []
    with pytest.raises(ValueError, match="max_concurrent must be a whole number of at least 1"):
        make_manager(max_concurrent=0)
    with pytest.raises(ValueError, match="warm_workers must be a whole number from 0 to max_concurrent"):
        make_manager(max_concurrent=1, warm_workers=2)


def test_capacity_defaults_to_cores_divided_by_threads_per_run(make_manager: Callable[..., JobManager],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    manager = make_manager(max_concurrent=None, warm_workers=0, threads_per_run=None)
    assert (manager.threads_per_run, manager.max_concurrent) == (4, 2)  # half the cores, at most 4 per run
    monkeypatch.setenv("AE_LAB_THREADS_PER_RUN", "1")
    manager = make_manager(max_concurrent=None, warm_workers=None, threads_per_run=None)
    assert (manager.threads_per_run, manager.max_concurrent, manager.warm_workers) == (1, 8, 2)
    monkeypatch.setenv("AE_LAB_MAX_CONCURRENT", "3")
    assert make_manager(max_concurrent=None, warm_workers=0).max_concurrent == 3
    monkeypatch.setenv("AE_LAB_MAX_CONCURRENT", "lots")
    with pytest.raises(ValueError, match="AE_LAB_MAX_CONCURRENT must be a whole number of at least 1; got 'lots'"):
        make_manager(max_concurrent=None)


def test_cancel_mid_run_stops_the_work(make_any_manager: Callable[..., JobManager]) -> None:
    manager = make_any_manager(max_concurrent=1, warm_workers=1)
    run_id = manager.submit(fake_config(steps=500, epochs=10))  # about 100 s if nothing stopped it
    wait_for(lambda: len(manager.metrics_since(run_id)) >= 3, "the first loss points")
    pid = worker_of(manager, run_id)
    # Training runs nicer than the server, so page runs get a core first (a Ray worker starts a little
    # nicer already, and the worker adds as much again).
    assert os.getpriority(os.PRIO_PROCESS, pid) >= os.getpriority(os.PRIO_PROCESS, 0) + BACKGROUND_NICENESS
    manager.cancel(run_id)
    assert wait_status(manager, run_id, RunStatus.CANCELLED, timeout=10) == RunStatus.CANCELLED
    assert manager.get_run(run_id).message == "Cancelled by request."
    # It stopped at a batch boundary: the same worker is idle again and runs the next job.
    wait_for(lambda: any(w.pid == pid and w.run_id is None for w in manager.workers()), "the worker to be idle")
    after = manager.submit(fake_config())
    assert wait_status(manager, after, RunStatus.FINISHED, RunStatus.FAILED) == RunStatus.FINISHED
    assert ready_pids(manager) == {pid}


def test_a_runaway_run_is_cancelled_by_killing_its_worker(make_any_manager: Callable[..., JobManager]) -> None:
    manager = make_any_manager(max_concurrent=1, warm_workers=1, cancel_grace_seconds=1.0)
    run_id = manager.submit(fake_config(steps=500, epochs=10, seed=fake_trainer.RUNAWAY_SEED))
    wait_for(lambda: manager.metrics_since(run_id), "the first loss point")
    pid = worker_of(manager, run_id)
    manager.cancel(run_id)
    assert wait_status(manager, run_id, RunStatus.CANCELLED, timeout=20) == RunStatus.CANCELLED
    assert "by force" in manager.get_run(run_id).message
    wait_for(lambda: ready_pids(manager) and pid not in ready_pids(manager), "a replacement worker")
    assert wait_status(manager, manager.submit(fake_config()), RunStatus.FINISHED) == RunStatus.FINISHED


def test_kill_9_interrupts_that_run_and_the_others_carry_on(make_manager: Callable[..., JobManager],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.05")
    manager = make_manager()
    victim = manager.submit(fake_config(steps=4, epochs=60))
    survivor = manager.submit(fake_config(steps=10, epochs=4))
    checkpoint = manager.store.folder(victim).checkpoint.state_path
    wait_for(checkpoint.is_file, "the victim's first epoch checkpoint")
    victim_pid = worker_of(manager, victim)
    os.kill(victim_pid, signal.SIGKILL)
    assert wait_status(manager, victim, RunStatus.INTERRUPTED, timeout=10) == RunStatus.INTERRUPTED
    assert "stopped unexpectedly (killed by SIGKILL)" in manager.get_run(victim).message
    assert json.loads(checkpoint.read_text())["epoch"] >= 1
    assert wait_status(manager, survivor, RunStatus.FINISHED, RunStatus.FAILED) == RunStatus.FINISHED
    wait_for(lambda: len(ready_pids(manager)) == 2 and victim_pid not in ready_pids(manager), "the pool refilled")
    assert wait_status(manager, manager.submit(fake_config()), RunStatus.FINISHED) == RunStatus.FINISHED


def test_a_nan_loss_fails_the_run_with_its_message(make_any_manager: Callable[..., JobManager]) -> None:
    manager = make_any_manager()
    nan_run = manager.submit(fake_config(seed=fake_trainer.NAN_SEED))
    crash_run = manager.submit(fake_config(seed=fake_trainer.CRASH_SEED))
    assert wait_status(manager, nan_run, RunStatus.FAILED, RunStatus.FINISHED) == RunStatus.FAILED
    assert manager.get_run(nan_run).message.startswith("The loss became NaN (not a number) at epoch 1, step 3")
    assert wait_status(manager, crash_run, RunStatus.FAILED, RunStatus.FINISHED) == RunStatus.FAILED
    assert manager.get_run(crash_run).message == f"Training crashed: RuntimeError: {fake_trainer.CRASH_MESSAGE}"
    assert manager.get_run(crash_run).result is None
    wait_for(lambda: len([w for w in manager.workers() if w.ready and w.run_id is None]) == 2,
             "both workers, alive and idle")


def test_more_submits_than_capacity_queue_in_order_and_all_finish(make_any_manager: Callable[..., JobManager]) -> None:
    manager = make_any_manager(max_concurrent=1, warm_workers=1)
    run_ids = [manager.submit(fake_config(steps=5, epochs=2, seed=i)) for i in range(5)]
    queued = [r for r in manager.list_runs() if r.status == RunStatus.QUEUED]
    positions = {r.run_id: r.queue_position for r in queued}
    # Whatever already started, the rest wait first in first out, numbered from 1.
    assert [positions[i] for i in run_ids if i in positions] == list(range(1, len(positions) + 1))
    assert len(positions) >= 3
    cancelled = run_ids[-2]
    manager.cancel(cancelled)
    assert status_of(manager, cancelled) == RunStatus.CANCELLED  # a queued run is cancelled at once
    after = {r.run_id: r.queue_position for r in manager.list_runs() if r.status == RunStatus.QUEUED}
    assert cancelled not in after and [after[i] for i in run_ids if i in after] == list(range(1, len(after) + 1))
    kept = [i for i in run_ids if i != cancelled]
    for run_id in kept:
        assert wait_status(manager, run_id, RunStatus.FINISHED, RunStatus.FAILED) == RunStatus.FINISHED
    records = [manager.get_run(i) for i in kept]
    assert [r.started_at for r in records] == sorted(r.started_at for r in records)
    for earlier, later in zip(records, records[1:]):
        assert earlier.finished_at <= later.started_at  # never more than max_concurrent=1 at once
    assert manager.get_run(cancelled).started_at is None


def test_reads_during_writes(make_manager: Callable[..., JobManager], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.002")
    manager = make_manager()
    run_ids = [manager.submit(fake_config(steps=100, epochs=4, seed=i)) for i in range(2)]
    errors: list[BaseException] = []
    seen: dict[tuple[int, str], list[int]] = {}

    def poll(reader: int) -> None:
        cursors = dict.fromkeys(run_ids, 0)
        try:
            while any(status_of(manager, i).is_active for i in run_ids) or any(
                    manager.metrics_since(i, cursors[i]) for i in run_ids):
                manager.list_runs()
                for run_id in run_ids:
                    manager.latest_snapshot(run_id, "latent")
                    rows = manager.metrics_since(run_id, cursors[run_id])
                    seen.setdefault((reader, run_id), []).extend(r.seq for r in rows)
                    cursors[run_id] = rows[-1].seq if rows else cursors[run_id]
                time.sleep(0.001)  # a page polls; it does not spin
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
            raise

    readers = [threading.Thread(target=poll, args=(n,)) for n in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(DEADLINE)
    assert errors == []
    assert not any(reader.is_alive() for reader in readers)
    for run_id in run_ids:
        assert status_of(manager, run_id) == RunStatus.FINISHED
        total = len(manager.metrics_since(run_id))
        assert total == 400 + 4 * 4  # every batch and every epoch metric, none lost
        for reader in range(4):
            assert seen[(reader, run_id)] == list(range(1, total + 1))  # incremental reads: no gap, no repeat


def test_delete_of_a_running_run_cancels_it_first(make_any_manager: Callable[..., JobManager]) -> None:
    manager = make_any_manager(max_concurrent=1, warm_workers=1)
    run_id = manager.submit(fake_config(steps=500, epochs=10))
    wait_for(lambda: manager.metrics_since(run_id), "the first loss point")
    pid = worker_of(manager, run_id)
    manager.delete(run_id)
    with pytest.raises(RunNotFound):
        manager.get_run(run_id)
    assert not manager.store.folder(run_id).path.exists() and manager.list_runs() == []
    wait_for(lambda: any(w.pid == pid and w.run_id is None for w in manager.workers()), "the worker to be idle")
    assert not manager.store.folder(run_id).path.exists()  # no late event recreated it


def test_a_worker_that_cannot_start_fails_the_run_readably(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(max_concurrent=1, warm_workers=0, trainer="no_such_module_here:train")
    run_id = manager.submit(fake_config())
    assert wait_status(manager, run_id, RunStatus.FAILED) == RunStatus.FAILED
    message = manager.get_run(run_id).message
    assert message.startswith("The training worker could not start") and "no_such_module_here" in message


def test_start_failures_give_up_after_three_in_a_row_and_a_submit_allows_one_more_try() -> None:
    failures = StartFailures()
    failures.explain("ImportError: no module named no_such_module_here")
    failures.failed("exit code 1")
    failures.failed("exit code 1")
    assert failures.problem() is None  # two in a row: it still tries
    failures.failed("exit code 1")
    assert failures.problem() == "ImportError: no module named no_such_module_here"
    failures.allow_retry()
    assert failures.problem() is None
    failures.failed("killed by SIGKILL")
    assert failures.problem() == "ImportError: no module named no_such_module_here"
    failures.started()  # a worker got ready: the count and the old reason are gone
    for _ in range(MAX_START_FAILURES):
        failures.failed("killed by SIGKILL")
    assert failures.problem() == "The training worker could not start (killed by SIGKILL)."
    failures.started()
    failures.give_up("The Ray cluster at 10.0.0.1:6379 cannot be reached.")  # at once, without three tries
    assert failures.problem() == "The Ray cluster at 10.0.0.1:6379 cannot be reached."


def test_restart_keeps_history_and_resume_continues(make_any_manager: Callable[..., JobManager],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.05")
    # A restart, not time-slicing: the waiting run must not get the worker before the restart.
    monkeypatch.setattr("ae_core.service.supervisor.workers_to_pause", lambda *args, **kwargs: [])
    first = make_any_manager(max_concurrent=1, warm_workers=1)
    done = first.submit(fake_config(steps=2, epochs=1))
    wait_status(first, done, RunStatus.FINISHED)
    long_run = first.submit(fake_config(steps=4, epochs=40))
    waiting = first.submit(fake_config(steps=2, epochs=1))
    wait_for(lambda: first.get_run(long_run).progress.get("epoch", 0) >= 2, "two epochs of the long run")
    first.shutdown()
    assert status_of(first, long_run) == RunStatus.INTERRUPTED and status_of(first, waiting) == RunStatus.QUEUED
    assert first.workers() == []

    second = make_any_manager(max_concurrent=1, warm_workers=1)
    assert {r.run_id: r.status for r in second.list_runs()}[done] == RunStatus.FINISHED
    assert len(second.metrics_since(done)) == 2 + 4
    assert wait_status(second, waiting, RunStatus.FINISHED) == RunStatus.FINISHED  # the queue survived too
    with pytest.raises(ValueError, match="run status must be INTERRUPTED or CANCELLED to resume; got FINISHED"):
        second.resume(done)
    checkpoint_epoch = json.loads((second.store.folder(long_run).checkpoint.state_path).read_text())["epoch"]
    last_seq = second.metrics_since(long_run)[-1].seq
    assert second.resume(long_run) == long_run
    wait_for(lambda: second.metrics_since(long_run, last_seq), "the resumed run's first loss point")
    resumed = second.metrics_since(long_run, last_seq)
    assert resumed[0].step == checkpoint_epoch * 4 + 1  # it continued from the checkpoint, not from scratch
    # Its time-lapse goes on too, without the frames past the checkpoint twice.
    wait_for(lambda: second.get_run(long_run).progress.get("epoch", 0) >= checkpoint_epoch + 2, "two more epochs")
    steps = [frame["step"] for frame in second.snapshot_history(long_run, "latent")]
    assert steps == sorted(set(steps)) and steps[0] == 4 and steps[-1] > checkpoint_epoch * 4
    second.cancel(long_run)
    assert wait_status(second, long_run, RunStatus.CANCELLED) == RunStatus.CANCELLED


def server_script(home: Path) -> str:
    """A server for ``python -c``: a manager on ``home`` with one long fake run.

    Once the run trains, it prints the run's id and its worker's pid, then sleeps for two
    minutes; on Ctrl-C (KeyboardInterrupt) it shuts the manager down, as a server does.
    It takes Ctrl-C as a server started in a terminal does, even when the tests were started in
    the background by a script, whose commands (and their children) ignore SIGINT. SIGUSR1
    prints every thread's stack (``faulthandler``), to show where one hangs.
    """
    return (
        "import faulthandler, signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "faulthandler.register(signal.SIGUSR1)\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "from ae_core.service.jobs import JobManager\n"
        "from test_jobs import fake_config, worker_of, wait_for\n"
        "if __name__ == '__main__':\n"
        f"    manager = JobManager({str(home)!r}, 1, 1, threads_per_run=1, trainer={FAKE!r}, warmup=False)\n"
        "    run_id = manager.submit(fake_config(steps=500, epochs=10))\n"
        "    wait_for(lambda: manager.metrics_since(run_id), 'a loss point')\n"
        "    try:\n"  # the Ctrl-C may come as soon as the line below is read, before print returns
        "        print(run_id, worker_of(manager, run_id), flush=True)\n"
        "        time.sleep(120)\n"
        "    except KeyboardInterrupt:\n"
        "        manager.shutdown()\n")


def test_a_run_left_running_by_a_killed_server_becomes_interrupted(
        tmp_path: Path, make_manager: Callable[..., JobManager]) -> None:
    home = tmp_path / "home"
    server = subprocess.Popen([sys.executable, "-c", server_script(home)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        run_id, worker_pid = server.stdout.readline().split()
    finally:
        server.kill()  # kill -9 of the whole server: nothing gets to clean up
        server.wait()
    manager = make_manager(max_concurrent=1, warm_workers=0)
    record = manager.get_run(run_id)
    assert record.status == RunStatus.INTERRUPTED and "the server stopped" in record.message
    # The orphaned worker noticed and exited on its own.
    wait_for(lambda: not Path(f"/proc/{worker_pid}").exists() or "Z" in _proc_state(worker_pid),
             "the orphaned worker to exit", timeout=30)


def _proc_state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


# -- the real trainer ---------------------------------------------------------------
def real_config(**changes: Any) -> TrainConfig:
    """A tiny real run on the bundled MNIST sample."""
    base = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=8, hidden_sizes=(32,)),
                       num_epochs=2, batch_size=64, train_limit=512)
    return base.replace(**changes)


@pytest.fixture(scope="module")
def real_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobManager]:
    manager = JobManager(tmp_path_factory.mktemp("real") / "home", max_concurrent=2, warm_workers=2,
                         threads_per_run=1, cancel_grace_seconds=10.0)
    yield manager
    manager.shutdown()


@pytest.mark.slow
def test_real_runs_finish_with_a_loadable_model_or_fail_on_nan(real_manager: JobManager) -> None:
    from ae_core.models.zoo import load_autoencoder

    wait_for(lambda: len(ready_pids(real_manager)) == 2, "two warm workers", timeout=120)
    submitted = time.monotonic()
    good = real_manager.submit(real_config())
    diverging = real_manager.submit(real_config(
        optimizer="sgd", learning_rate=10.0,
        model=ModelConfig(arch="deep", latent_dim=8, hidden_sizes=(32,), activation="linear", loss="mse",
                          output_activation="linear")))
    wait_for(lambda: real_manager.metrics_since(good), "the first loss point")
    print(f"first loss point {time.monotonic() - submitted:.2f} s after submit (warm worker)")
    assert wait_status(real_manager, good, RunStatus.FINISHED, RunStatus.FAILED) == RunStatus.FINISHED
    record = real_manager.get_run(good)
    assert 0 < record.result["test_mse"] < 0.25 and record.result["samples_per_second"] > 0
    bundle = load_autoencoder(real_manager.model_path(good))
    assert bundle.encoder.output_shape[-1] == 8
    reconstruction = real_manager.latest_snapshot(good, "reconstruction")
    assert reconstruction["reconstructions"].shape == (16, 28, 28, 1)
    assert reconstruction["reconstructions"].dtype.name == "uint8"
    assert real_manager.latest_snapshot(good, "latent")["codes"].shape[1] == 8
    assert {r.key for r in real_manager.metrics_since(good) if r.kind == "epoch"} >= {"loss", "val_loss", "mse"}
    assert wait_status(real_manager, diverging, RunStatus.FAILED, RunStatus.FINISHED) == RunStatus.FAILED
    assert real_manager.get_run(diverging).message.endswith(DIVERGED)


@pytest.mark.slow
def test_real_run_killed_then_resumed_from_its_checkpoint(real_manager: JobManager) -> None:
    run_id = real_manager.submit(real_config(train_limit=2048, num_epochs=8))
    checkpoint = real_manager.store.folder(run_id).checkpoint.directory
    wait_for(lambda: (checkpoint / "checkpoint.json").is_file(), "the first epoch checkpoint", timeout=120)
    os.kill(worker_of(real_manager, run_id), signal.SIGKILL)
    assert wait_status(real_manager, run_id, RunStatus.INTERRUPTED, RunStatus.FINISHED) == RunStatus.INTERRUPTED
    epoch = json.loads((checkpoint / "checkpoint.json").read_text())["epoch"]
    assert 1 <= epoch < 8 and (checkpoint / "checkpoint.keras").is_file()
    last_seq = real_manager.metrics_since(run_id)[-1].seq
    real_manager.resume(run_id)
    assert wait_status(real_manager, run_id, RunStatus.FINISHED, RunStatus.FAILED, timeout=120) == RunStatus.FINISHED
    resumed = [r for r in real_manager.metrics_since(run_id, last_seq) if r.kind == "batch"]
    assert resumed and resumed[0].step > epoch * 32  # continued after the checkpoint's epoch
    assert real_manager.get_run(run_id).result["epochs_completed"] == 8
    assert real_manager.model_path(run_id) is not None


@pytest.mark.slow
def test_real_classifier_runs_train_live_through_the_service(real_manager: JobManager) -> None:
    import keras

    classify = TrainConfig(dataset="mnist_sample", task="classify", num_epochs=1, batch_size=64, train_limit=512,
                           augment=("flip",))
    autoencoder = real_manager.submit(real_config(num_epochs=1))
    with pytest.raises(RunNotFound):
        real_manager.submit(classify.replace(classifier="encoder_head", source_run_id="0" * 32))
    with pytest.raises(ValueError, match="source_run_id must name a FINISHED autoencoder run"):
        real_manager.submit(classify.replace(classifier="encoder_head", source_run_id=autoencoder))
    cnn = real_manager.submit(classify)
    assert wait_status(real_manager, autoencoder, RunStatus.FINISHED, RunStatus.FAILED, timeout=120) \
        == RunStatus.FINISHED
    head = real_manager.submit(classify.replace(classifier="encoder_head", source_run_id=autoencoder))
    wait_status(real_manager, cnn, RunStatus.FINISHED, RunStatus.FAILED, timeout=120)
    with pytest.raises(ValueError, match="source_run_id must name an autoencoder run; run .* is a classifier"):
        real_manager.submit(classify.replace(classifier="encoder_head", source_run_id=cnn))
    for run_id, name in ((cnn, "reference_cnn"), (head, "encoder_classifier")):
        assert wait_status(real_manager, run_id, RunStatus.FINISHED, RunStatus.FAILED, timeout=120) \
            == RunStatus.FINISHED, real_manager.get_run(run_id).message
        result = real_manager.get_run(run_id).result
        assert 0.0 <= result["test_accuracy"] <= 1.0 and result["epochs_completed"] == 1
        assert len(result["confusion"]) == 10 and sum(map(sum, result["confusion"])) == 1000
        keys = {row.key for row in real_manager.metrics_since(run_id) if row.kind == "epoch"}
        assert keys == {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert real_manager.latest_snapshot(run_id, "latent") is None
        assert keras.saving.load_model(real_manager.model_path(run_id)).name == name
