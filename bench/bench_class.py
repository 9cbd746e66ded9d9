"""Benchmark a class on one server: N students press Train within the same 10 seconds.

Section ``load`` (for each N of ``--students``, 10 and 30 by default), on a fresh server
(``streamlit run serve.py`` on a new temporary ``AE_LAB_HOME``, started with a teacher key
so that it holds a class):

1. The server starts and settles (warm workers ready, its warm-up done: the process tree
   uses under 0.3 of a core for 2 s). N students then open the Train page over
   ``--arrive`` seconds, and each presses Train with the default settings at its own moment
   of the same ``--window`` (10 s), in a shuffled order. They keep their pages open.
2. N-3 students are ``bench/streamlit_client.py`` sessions: Streamlit's websocket protocol
   as the frontend speaks it (rerun with the page's query string, widget values, the
   button's trigger on click, the fragment's timed reruns at the interval the server asks
   for, the message cache). Each session is a new browser with no cookies: a student.
   3 students are headless Chromium tabs (Playwright, Debian's Chromium, as
   ``bench/bench_browser.py``), each in its own browser context.
3. While the runs queue and train, the benchmark reads the store's SQLite file (read-only,
   every 0.2 s), the server's process tree in ``/proc`` (CPU and RSS every 0.5 s), and
   ``/_stcore/health`` (every 0.5 s, a new connection each time); one Chromium student opens
   the Runs page in a second tab three times. When every run has ended, all N pages stay
   open for ``--idle`` (20) seconds, polling as they do, and the server's CPU is measured.

Click times are taken by the clients (``time.time()`` when the click was sent); the store's
times are the server's ``time.time()`` on the same machine. "First metric row" is when the
run's first row became readable in the store's ``metrics`` table (polled), "validation MSE
≤ 0.03" the first epoch row with ``key = 'val_mse'`` at or below 0.03 (the epoch metrics
``ae_core.training.callbacks.MetricEvents`` records, validated on the run's validation
split). The breakdown splits click → first row into click → run created (the page's
submit), created → started (queue wait) and started → first row (the worker loads the data,
builds the model and trains its first batches; ``metrics.time`` of that row is the part
after the trainer started). ``started_at`` is a run's first start: a run that the service
pauses at an epoch end to let waiting runs in (time-slicing) keeps it, and its later slices
show as ``resume`` rows, which are counted.

Section ``memory``: 30 tiny finished runs are trained first (through
``ae_core.service.JobManager`` on the store, before the server starts), then 30 websocket
sessions open the Explore page (``/explore?run_id=...``), each on a different run, and the
server's RSS is read once all 30 pages have drawn (and its peak, VmHWM). Target ≤ 1.5 GB.

Everything runs on this machine: the clients and Chromium share its cores with the server
and its workers (their CPU is printed), which a class's own laptops would not. Each section
first waits (``--wait-quiet``, up to 30 min) until other processes use under 0.3 of a core,
and the table says how much CPU they took during the load: figures measured beside other
work are not the server's.

Usage:
    python bench/bench_class.py [--students 10,30] [--sections load,memory] [--profile 30]
``--profile S`` records the server with py-spy for S seconds during the load, sampling the
thread that holds the GIL (``--gil``: the server's Python work is bound by one core, and
without it the threads waiting for the GIL at every sqlite or socket call look busy); the raw
stacks go to ``--out``, with the server's log. ``AE_LAB_DATA_DIR`` defaults to
``.cache/ae_data``; the default run uses the offline dataset ``mnist_sample``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("AE_LAB_DATA_DIR", str(REPO / ".cache" / "ae_data"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from streamlit_client import StreamlitSession  # noqa: E402
from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, COUNT_POINTS_JS, streamlit_app  # noqa: E402

BROWSERS = 3
GOOD_MSE = 0.03
DB_FILENAME = "lab.sqlite3"
TERMINAL = {"FINISHED", "FAILED", "CANCELLED", "INTERRUPTED"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
VIEWPORT = {"width": 1280, "height": 720}
TRAIN_READY_JS = "() => { const b = document.querySelector('.st-key-train_start button'); return !!b && !b.disabled; }"
FIRST_POINT_JS = ("() => !!new URLSearchParams(location.search).get('run_id') && "
                  f"({COUNT_POINTS_JS})('.st-key-train_loss_curve') > 0")
RUNS_READY_JS = ("() => !!document.querySelector('[data-testid=\"stDataFrame\"] canvas') || "
                 "!!document.querySelector('[data-testid=\"stMain\"] [data-testid=\"stAlert\"]')")
LOG_PROBLEM = re.compile(r"Traceback|ERROR|Error|Exception|WARNING", re.IGNORECASE)
LOG_NOISE = re.compile(r"oneDNN custom operations|absl::InitializeLog|missing ScriptRunContext|"
                       r"This warning can be ignored|cuda|TF-TRT|rebuild TensorFlow")


# -- the server's processes, from /proc --------------------------------------------------------
def _stat(pid: int) -> tuple[int, float, float, int] | None:
    """(ppid, own CPU s, reaped children's CPU s, RSS kB) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 of proc(5): state; ppid is 4, utime 14, stime 15, cutime 16, cstime 17, rss 24.
    ppid, utime, stime, cutime, cstime, rss = (int(fields[i]) for i in (1, 11, 12, 13, 14, 21))
    return ppid, (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK, rss * PAGE_SIZE_KB


def _all_ppids() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                found[int(entry)] = stat[0]
    return found


def descendants(pid: int, ppids: dict[int, int] | None = None) -> list[int]:
    ppids = _all_ppids() if ppids is None else ppids
    children: dict[int, list[int]] = collections.defaultdict(list)
    for child, parent in ppids.items():
        children[parent].append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class TreeSample:
    server_cpu: float  # the server process's own CPU seconds (all its threads)
    workers_cpu: float  # its descendants' (training workers), the reaped ones included
    server_rss_mb: float
    workers_rss_mb: float
    bench_cpu: float  # this process (the websocket clients)
    browser_cpu: float  # this process's other descendants (Playwright's driver and Chromium)
    machine_cpu: float  # every process on the machine

    def others(self) -> float:
        """CPU seconds of the processes that are neither the server's nor this benchmark's."""
        return self.machine_cpu - self.server_cpu - self.workers_cpu - self.bench_cpu - self.browser_cpu


def sample_tree(server_pid: int) -> TreeSample:
    ppids = _all_ppids()
    server = _stat(server_pid)
    if server is None:
        raise RuntimeError("the server process is gone")
    workers_cpu, workers_rss = server[2], 0
    server_tree = set(descendants(server_pid, ppids))
    for pid in server_tree:
        stat = _stat(pid)
        if stat is not None:
            workers_cpu += stat[1] + stat[2]
            workers_rss += stat[3]
    me = _stat(os.getpid())
    browser_cpu = me[2]
    for pid in descendants(os.getpid(), ppids):
        if pid != server_pid and pid not in server_tree:
            stat = _stat(pid)
            if stat is not None:
                browser_cpu += stat[1] + stat[2]
    return TreeSample(server[1], workers_cpu, server[3] / 1024, workers_rss / 1024, me[1], browser_cpu,
                      machine_busy_seconds())


def machine_busy_seconds() -> float:
    """CPU seconds every process on this machine has used since boot (``/proc/stat``, all cores)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in
                                                              Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def wait_quiet(max_wait: float, cores: float = 0.3) -> None:
    """Wait (at most ``max_wait`` s) until the machine's other processes use under ``cores`` for 10 s."""
    start = time.monotonic()
    while True:
        me = descendants(os.getpid()) + [os.getpid()]
        before = machine_busy_seconds() - sum(stat[1] + stat[2] for stat in map(_stat, me) if stat)
        time.sleep(10.0)
        after = machine_busy_seconds() - sum(stat[1] + stat[2] for stat in map(_stat, me) if stat)
        used = (after - before) / 10.0
        if used < cores or time.monotonic() - start > max_wait:
            print(f"  other processes use {used:.2f} cores"
                  + ("" if used < cores else f" (still busy after {max_wait:.0f} s: going ahead)"), flush=True)
            return
        print(f"  waiting for a quiet machine: other processes use {used:.2f} cores", flush=True)


def server_pid_for(url: str) -> int:
    """The ``streamlit run`` process this benchmark started for ``url`` (found by its port)."""
    port = url.rsplit(":", 1)[1]
    for pid in descendants(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(command) and port.encode() in command:
            return pid
    raise RuntimeError(f"no streamlit process for port {port} among this process's children")


class Monitor(threading.Thread):
    """Samples the server's tree every 0.5 s (peak RSS) and, while ``probing``, times /_stcore/health."""

    def __init__(self, url: str, server_pid: int) -> None:
        super().__init__(daemon=True, name="bench-monitor")
        self.url, self.server_pid = url, server_pid
        self.stop = threading.Event()
        self.probing = threading.Event()
        self.peak_total_mb = self.peak_server_mb = self.peak_workers_mb = 0.0
        self.health: list[float] = []
        self.health_failures = 0

    def run(self) -> None:
        next_health = 0.0
        while not self.stop.is_set():
            try:
                sample = sample_tree(self.server_pid)
            except RuntimeError:
                return
            self.peak_server_mb = max(self.peak_server_mb, sample.server_rss_mb)
            self.peak_workers_mb = max(self.peak_workers_mb, sample.workers_rss_mb)
            self.peak_total_mb = max(self.peak_total_mb, sample.server_rss_mb + sample.workers_rss_mb)
            if self.probing.is_set() and time.monotonic() >= next_health:
                next_health = time.monotonic() + 0.5
                threading.Thread(target=self._probe, daemon=True).start()
            self.stop.wait(0.25)

    def _probe(self) -> None:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(self.url + "/_stcore/health", timeout=30) as response:
                response.read()
            self.health.append(time.perf_counter() - start)
        except OSError:
            self.health_failures += 1


def wait_settled(server_pid: int, *, cores: float = 0.3, window: float = 2.0, timeout: float = 180.0) -> float:
    """Wait until the server's tree uses under ``cores`` for ``window`` seconds; returns the seconds waited."""
    start = time.monotonic()
    time.sleep(3.0)
    while time.monotonic() - start < timeout:
        before = sample_tree(server_pid)
        time.sleep(window)
        after = sample_tree(server_pid)
        used = (after.server_cpu + after.workers_cpu - before.server_cpu - before.workers_cpu) / window
        if used < cores:
            break
    return time.monotonic() - start


# -- the store, read-only ----------------------------------------------------------------------
@dataclass
class RunTimes:
    status: str = "QUEUED"
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    first_row_seen: float | None = None  # time.time() when its first metric row was readable
    first_row_time: float | None = None  # that row's ``time`` (seconds since the trainer started)
    good_seen: float | None = None  # when an epoch val_mse <= GOOD_MSE was readable
    good_epoch: int | None = None
    best_val_mse: float | None = None
    last_seq: int = 0
    read_all: bool = False
    message: str = ""


class StorePoller(threading.Thread):
    """Reads runs and metric rows from the store's SQLite file every ``period`` seconds."""

    def __init__(self, home: Path, period: float = 0.2) -> None:
        super().__init__(daemon=True, name="bench-store")
        self.path, self.period = home / DB_FILENAME, period
        self.runs: dict[str, RunTimes] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        db = None
        while not self.stop.is_set():
            try:
                if db is None:
                    db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
                self.poll(db)
            except sqlite3.Error as error:
                self.errors.append(str(error))
                db = None
            self.stop.wait(self.period)

    def poll(self, db: sqlite3.Connection) -> None:
        now = time.time()
        rows = db.execute("SELECT run_id, status, created_at, started_at, finished_at, message FROM runs").fetchall()
        with self.lock:
            for run_id, status, created, started, finished, message in rows:
                run = self.runs.setdefault(run_id, RunTimes())
                run.status, run.created_at, run.started_at, run.finished_at = status, created, started, finished
                run.message = message or ""
                if run.first_row_seen is None:
                    first = db.execute("SELECT time FROM metrics WHERE run_id = ? AND kind != 'resume' "
                                       "ORDER BY seq LIMIT 1", (run_id,)).fetchone()
                    if first is not None:
                        run.first_row_seen, run.first_row_time = now, first[0]
                if run.first_row_seen is not None and not run.read_all:
                    run.read_all = status in TERMINAL  # read after the status: no row comes after an end
                    for seq, value, epoch in db.execute(
                            "SELECT seq, value, epoch FROM metrics WHERE run_id = ? AND seq > ? AND kind = 'epoch' "
                            "AND key = 'val_mse' ORDER BY seq", (run_id, run.last_seq)):
                        run.last_seq = seq
                        if value is not None:
                            run.best_val_mse = value if run.best_val_mse is None else min(run.best_val_mse, value)
                            if run.good_seen is None and value <= GOOD_MSE:
                                run.good_seen, run.good_epoch = now, epoch

    def resumes(self) -> dict[str, int]:
        """Run id -> times it went on after a pause or a restart (its ``resume`` marker rows)."""
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            return dict(db.execute("SELECT run_id, COUNT(*) FROM metrics WHERE kind = 'resume' GROUP BY run_id"))
        finally:
            db.close()

    def snapshot(self) -> dict[str, RunTimes]:
        with self.lock:
            return {run_id: RunTimes(**vars(run)) for run_id, run in self.runs.items()}


# -- students ------------------------------------------------------------------------------------
@dataclass
class Student:
    index: int
    kind: str  # "ws" or "chromium"
    offset: float  # seconds into the click window
    page_load: float | None = None  # open -> Train page ready (Chromium: button drawn; ws: first run finished)
    clicked_at: float | None = None  # time.time()
    run_id: str | None = None
    first_point_drawn: float | None = None  # Chromium: click -> first loss point drawn
    runs_page_loads: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    session: StreamlitSession | None = None


async def ws_student(student: Student, url: str, arrive_at: float, go: asyncio.Event, t0: list[float],
                     stop: asyncio.Event, loaded: asyncio.Queue) -> None:
    await asyncio.sleep(max(0.0, arrive_at - time.monotonic()))
    session = StreamlitSession(url)
    student.session = session
    start = time.perf_counter()
    try:
        await session.open()
        if not await session.wait_until(lambda: session.widget_id("train_start") is not None
                                        and not session.running, 120):
            student.problems.append(f"Train page not drawn in 120 s ({session.closed_reason})")
        student.page_load = time.perf_counter() - start
    except Exception as error:  # noqa: BLE001 - reported per student
        student.problems.append(f"could not open the page: {type(error).__name__}: {error}")
    await loaded.put(student.index)
    await go.wait()
    await asyncio.sleep(max(0.0, t0[0] + student.offset - time.monotonic()))
    try:
        student.clicked_at = await session.click("train_start")
        if await session.wait_until(lambda: "run_id" in session.query_params, 120):
            student.run_id = session.query_params["run_id"]
        else:
            student.problems.append(f"no run id after the click; errors on the page: {session.errors[-3:]}")
    except Exception as error:  # noqa: BLE001
        student.problems.append(f"click failed: {type(error).__name__}: {error}")
    await stop.wait()


async def chromium_student(student: Student, browser: Any, url: str, arrive_at: float, go: asyncio.Event,
                           t0: list[float], stop: asyncio.Event, loaded: asyncio.Queue,
                           runs_page_at: list[float]) -> None:
    await asyncio.sleep(max(0.0, arrive_at - time.monotonic()))
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(600_000)
    try:
        start = time.perf_counter()
        await page.goto(url)
        await page.wait_for_function(TRAIN_READY_JS, polling=20, timeout=120_000)
        student.page_load = time.perf_counter() - start
    except Exception as error:  # noqa: BLE001
        student.problems.append(f"Train page not drawn: {type(error).__name__}: {error}")
    await loaded.put(student.index)
    await go.wait()
    await asyncio.sleep(max(0.0, t0[0] + student.offset - time.monotonic()))
    try:
        student.clicked_at = time.time()
        click = time.perf_counter()
        await page.locator(".st-key-train_start button").click()
        runs_task = asyncio.create_task(runs_pages(student, context, url, runs_page_at, stop)) if runs_page_at \
            else None
        await page.wait_for_function("() => !!new URLSearchParams(location.search).get('run_id')", polling=50,
                                     timeout=120_000)
        student.run_id = await page.evaluate("() => new URLSearchParams(location.search).get('run_id')")
        await page.wait_for_function(FIRST_POINT_JS, polling=100, timeout=1_800_000)
        student.first_point_drawn = time.perf_counter() - click
        if runs_task is not None:
            await runs_task
    except Exception as error:  # noqa: BLE001
        student.problems.append(f"after the click: {type(error).__name__}: {error}")
    await stop.wait()
    await context.close()


async def runs_pages(student: Student, context: Any, url: str, times: list[float], stop: asyncio.Event) -> None:
    """The Runs page in a second tab of this student's browser, at each of ``times`` (monotonic)."""
    for at in times:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        if stop.is_set():
            return
        page = await context.new_page()
        try:
            start = time.perf_counter()
            await page.goto(f"{url}/runs")
            await page.wait_for_function(RUNS_READY_JS, polling=20, timeout=120_000)
            student.runs_page_loads.append(time.perf_counter() - start)
        except Exception as error:  # noqa: BLE001
            student.problems.append(f"Runs page: {type(error).__name__}: {error}")
        finally:
            await page.close()


# -- py-spy ---------------------------------------------------------------------------------------
def start_profile(server_pid: int, seconds: int, out: Path) -> subprocess.Popen | None:
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("  (py-spy not found: no profile)")
        return None
    return subprocess.Popen([py_spy, "record", "--pid", str(server_pid), "--duration", str(seconds), "--rate", "50",
                             "--format", "raw", "--gil", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


# py-spy samples threads it finds running; these leaves are threads waiting all the same.
WAITING_LEAVES = ("select (selectors.py", "Condition.wait (threading.py", "Event.wait (threading.py",
                  "task (streamlit/watcher/polling_path_watcher.py", "WorkerThread.run (anyio",
                  "_worker (concurrent/futures/thread.py", "Queue.get (queue.py")
PAGE_FILES = ("(app.py:", "(train.py:", "(runs.py:", "(explore.py:", "(compare.py:", "(classify.py:")


def profile_bucket(frames: list[str]) -> str:
    """What a sample of the server was doing, from its stack (root first)."""
    stack = ";".join(frames)
    if any(leaf in frames[-1] for leaf in WAITING_LEAVES):
        return "waiting"
    if "<module> (app.py:" in stack:
        return "full page run (app.py and the page, its fragments included)"
    if "wrapped_fragment" in stack:
        return "fragment rerun alone (run_every: live view, runs list)"
    if "script_runner.py" in stack:
        return "script runner outside the page (start, finish, gc)"
    if "warmup.py" in stack:
        return "the server's warm-up thread"
    if "supervisor.py" in stack or "pool.py" in stack:
        return "job service (supervisor, worker pool)"
    if any(name in stack for name in ("uvicorn", "starlette", "websockets", "asyncio")):
        return "event loop: websockets, HTTP, sending messages"
    return "other"


def summarize_profile(path: Path, top: int = 12) -> str:
    """Shares of the server's busy samples: by what it was doing, by leaf function, by app frame."""
    if not path.is_file():
        return "  (no profile written)"
    buckets: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    app: collections.Counter[str] = collections.Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames, n = stack.split(";"), int(count)
        bucket = profile_bucket(frames)
        buckets[bucket] += n
        if bucket == "waiting":
            continue
        leaves[frames[-1]] += n
        mine = [frame for frame in frames if "ae_lab_ui/" in frame or "ae_core/" in frame
                or any(name in frame for name in PAGE_FILES)]
        if mine:
            app[mine[-1]] += n
    busy = sum(buckets.values()) - buckets["waiting"]
    if not busy:
        return "  (empty profile)"
    lines = [f"  py-spy --gil: {busy} samples of the thread holding the server's GIL ({buckets['waiting']} "
             f"waiting left out; {path})"]
    lines += [f"    {share / busy:6.1%}  {name}" for name, share in buckets.most_common() if name != "waiting"]
    lines.append("  leaf functions:")
    lines += [f"    {share / busy:6.1%}  {name[:150]}" for name, share in leaves.most_common(top)]
    lines.append("  innermost app frames (ae_core, ae_lab_ui, the pages):")
    lines += [f"    {share / busy:6.1%}  {name[:150]}" for name, share in app.most_common(top)]
    return "\n".join(lines)


# -- figures ---------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def p50_p95(values: list[float], unit: str = "s", digits: int = 2) -> str:
    if not values:
        return "none"
    scale = 1000.0 if unit == "ms" else 1.0
    unit = f" {unit}" if unit else ""
    return (f"p50 {scale * percentile(values, 0.5):.{digits}f}{unit}, p95 {scale * percentile(values, 0.95):.{digits}f}"
            f"{unit}, max {scale * max(values):.{digits}f}{unit} (n={len(values)})")


@dataclass
class Row:
    figure: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: reported, no target


def print_table(title: str, rows: list[Row]) -> None:
    width = max(len(row.figure) for row in rows)
    value_width = min(70, max(len(row.value) for row in rows))
    print(f"\n{title}")
    print(f"  {'figure':<{width}}  {'value':<{value_width}}  {'target':<10}  result")
    for row in rows:
        verdict = "" if row.ok is None else ("PASS" if row.ok else "FAIL")
        print(f"  {row.figure:<{width}}  {row.value:<{value_width}}  {row.target:<10}  {verdict}")


def log_problems(log_path: Path, limit: int = 25) -> tuple[int, list[str]]:
    """Lines of the server's log that look like problems (TensorFlow's start-up chatter left out)."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return 0, []
    found = [line for line in lines if LOG_PROBLEM.search(line) and not LOG_NOISE.search(line)]
    return len(found), found[:limit]


# -- section "load" ----------------------------------------------------------------------------
async def class_load(args: argparse.Namespace, url: str, home: Path, server_pid: int, students: list[Student],
                     out: Path) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    report: dict[str, Any] = {}
    go, stop = asyncio.Event(), asyncio.Event()
    loaded: asyncio.Queue = asyncio.Queue()
    t0 = [0.0]
    n = len(students)
    arrivals = [time.monotonic() + args.arrive * i / max(1, n) for i in range(n)]
    random.Random(n).shuffle(arrivals)
    monitor = Monitor(url, server_pid)
    monitor.start()
    poller = StorePoller(home)
    poller.start()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        tasks = []
        runs_page_student = next((s for s in students if s.kind == "chromium"), None)
        runs_page_at: list[float] = []
        for student, arrive in zip(students, arrivals):
            if student.kind == "chromium":
                tasks.append(asyncio.create_task(chromium_student(
                    student, browser, url, arrive, go, t0, stop, loaded,
                    runs_page_at if student is runs_page_student else [])))
            else:
                tasks.append(asyncio.create_task(ws_student(student, url, arrive, go, t0, stop, loaded)))
        for _ in students:
            await loaded.get()
        print(f"  all {n} pages open; clicks over the next {args.window:g} s", flush=True)
        await asyncio.sleep(1.0)
        before = sample_tree(server_pid)
        t0[0] = time.monotonic()
        load_start = time.time()
        # The Runs page in a second tab, 5, 25 and 45 s after the last click.
        runs_page_at.extend(t0[0] + args.window + delay for delay in (5.0, 25.0, 45.0))
        monitor.probing.set()
        go.set()
        profile = None
        if args.profile:
            await asyncio.sleep(args.window + 2.0)
            profile = start_profile(server_pid, args.profile, out / f"pyspy-{n}.txt")
        # Until every student's run has ended (or the deadline).
        deadline, next_print = time.monotonic() + args.timeout, time.monotonic() + 30
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            runs = poller.snapshot()
            # Every student clicked and has a run (or a recorded problem), and every run has ended.
            settled = all(s.clicked_at is not None and (s.run_id or s.problems) for s in students)
            ended = all(runs.get(s.run_id, RunTimes()).status in TERMINAL for s in students if s.run_id)
            if settled and ended and time.monotonic() - t0[0] > args.window + 5:
                break
            if time.monotonic() >= next_print:
                next_print += 30
                states = collections.Counter(run.status for run in runs.values())
                print(f"  {time.monotonic() - t0[0]:5.0f} s: {dict(states)}", flush=True)
        load_end = time.time()
        monitor.probing.clear()
        after = sample_tree(server_pid)
        report["load_seconds"] = load_end - load_start
        report["load_cpu"] = (before, after)
        if profile is not None:
            profile.wait(timeout=args.profile + 60)
        # Idle: every page open, every run ended.
        await asyncio.sleep(2.0)
        reruns_before = sum(s.session.stats.reruns_sent for s in students if s.session)
        idle_before = sample_tree(server_pid)
        idle_start = time.monotonic()
        await asyncio.sleep(args.idle)
        idle_after = sample_tree(server_pid)
        idle_seconds = time.monotonic() - idle_start
        report["idle_cores"] = (idle_after.server_cpu - idle_before.server_cpu) / idle_seconds
        report["idle_workers_cores"] = (idle_after.workers_cpu - idle_before.workers_cpu) / idle_seconds
        report["idle_reruns"] = sum(s.session.stats.reruns_sent for s in students if s.session) - reruns_before
        report["idle_seconds"] = idle_seconds
        report["idle_others_cores"] = (idle_after.others() - idle_before.others()) / idle_seconds
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for student in students:
            if student.session is not None:
                await student.session.close()
        await browser.close()
    monitor.stop.set()
    poller.stop.set()
    monitor.join(5)
    poller.join(5)
    report.update(monitor=monitor, runs=poller.snapshot(), store_errors=poller.errors, server_hwm=hwm_mb(server_pid),
                  resumes=poller.resumes())
    return report


def load_section(args: argparse.Namespace, n: int, out: Path) -> list[Row]:
    print(f"\n=== load: {n} students ({n - min(BROWSERS, n)} websocket clients, {min(BROWSERS, n)} Chromium) ===",
          flush=True)
    offsets = [args.window * i / n for i in range(n)]
    random.Random(1000 + n).shuffle(offsets)
    kinds = ["chromium"] * min(BROWSERS, n) + ["ws"] * (n - min(BROWSERS, n))
    random.Random(2000 + n).shuffle(kinds)
    students = [Student(i, kind, offset) for i, (kind, offset) in enumerate(zip(kinds, offsets))]
    wait_quiet(args.wait_quiet)
    with tempfile.TemporaryDirectory(prefix="bench_class_") as folder:
        home, log_path = Path(folder) / "home", Path(folder) / "streamlit.log"
        try:
            with streamlit_app(home, log_path) as url:
                server_pid = server_pid_for(url)
                settle = wait_settled(server_pid)
                print(f"  server pid {server_pid} at {url}, settled after {settle:.0f} s", flush=True)
                report = asyncio.run(class_load(args, url, home, server_pid, students, out))
        finally:
            shutil.copy(log_path, out / f"streamlit-{n}.log")
        configs = {(home / "runs" / run_id / "config.json").read_text() for run_id in report["runs"]
                   if (home / "runs" / run_id / "config.json").is_file()}
    return load_rows(args, n, students, report, configs, out / f"streamlit-{n}.log")


def load_rows(args: argparse.Namespace, n: int, students: list[Student], report: dict[str, Any],
              configs: set[str], log_path: Path) -> list[Row]:
    runs: dict[str, RunTimes] = report["runs"]
    mine = {s.run_id: s for s in students if s.run_id}
    finished = [run_id for run_id in mine if runs.get(run_id, RunTimes()).status == "FINISHED"]
    lost = n - len(finished)
    first, good, queue, submit, worker = [], [], [], [], []
    for run_id, student in mine.items():
        run = runs.get(run_id)
        if run is None or student.clicked_at is None:
            continue
        if run.first_row_seen is not None:
            first.append(run.first_row_seen - student.clicked_at)
        if run.good_seen is not None:
            good.append(run.good_seen - student.clicked_at)
        if run.created_at is not None:
            submit.append(run.created_at - student.clicked_at)
            if run.started_at is not None:
                queue.append(run.started_at - run.created_at)
                if run.first_row_seen is not None:
                    worker.append(run.first_row_seen - run.started_at)
    row_times = [runs[r].first_row_time for r in mine if r in runs and runs[r].first_row_time is not None]
    durations = [runs[r].finished_at - runs[r].started_at for r in mine
                 if r in runs and runs[r].finished_at and runs[r].started_at]
    browsers = [s for s in students if s.kind == "chromium"]
    drawn = [s.first_point_drawn for s in browsers if s.first_point_drawn is not None]
    loads = [s.page_load for s in browsers if s.page_load is not None]
    runs_loads = [t for s in browsers for t in s.runs_page_loads]
    ws_loads = [s.page_load for s in students if s.kind == "ws" and s.page_load is not None]
    before, after = report["load_cpu"]
    seconds = report["load_seconds"]
    server_cpu, workers_cpu = after.server_cpu - before.server_cpu, after.workers_cpu - before.workers_cpu
    monitor: Monitor = report["monitor"]
    sessions = [s.session for s in students if s.session is not None]
    auto_latency = [x for session in sessions for x in session.stats.auto_rerun_latency]
    auto_sent = sum(session.stats.auto_reruns_sent for session in sessions)
    fragment_runs = sum(session.stats.fragment_runs_finished for session in sessions)
    received = sum(session.stats.bytes_received for session in sessions)
    intervals = sum((session.stats.auto_reruns_by_interval for session in sessions), collections.Counter())
    problems = [f"student {s.index} ({s.kind}): {p}" for s in students for p in s.problems]
    page_errors = collections.Counter(e for session in sessions for e in session.errors + session.exceptions)
    p95 = lambda values: percentile(values, 0.95) if values else float("inf")  # noqa: E731
    rows = [
        Row("runs lost (not FINISHED, of N)", f"{lost} of {n} ({len(mine)} runs created, {len(runs)} rows in the store)",
            "0", lost == 0),
        Row("click -> first metric row in the store", p50_p95(first), "p95 <= 15 s", p95(first) <= 15 and len(first) == n),
        Row(f"click -> first val_mse <= {GOOD_MSE} in the store", p50_p95(good) + f", reached by {len(good)} of {n}",
            "p95 <= 90 s", p95(good) <= 90 and len(good) == n),
        Row("  click -> run created (the page's submit)", p50_p95(submit)),
        Row("  queue wait (created -> started)", p50_p95(queue)),
        Row("  started -> first metric row (worker: data, model, first batches)", p50_p95(worker)),
        Row("  of which trainer start -> first row (metrics.time)", p50_p95(row_times)),
        Row("  a run's life (first started -> finished, pauses included)", p50_p95(durations)),
        Row("  resumes per run (time-slices after the first)", p50_p95([float(report["resumes"].get(r, 0))
                                                                         for r in mine], "", 0)),
        Row("Chromium: click -> first loss point drawn", p50_p95(drawn), "p95 <= 15 s",
            p95(drawn) <= 15 and len(drawn) == len(browsers)),
        Row("Chromium: Train page load (fresh browser, as the class arrives)", p50_p95(loads), "p95 <= 2 s",
            p95(loads) <= 2 and len(loads) == len(browsers)),
        Row("Chromium: Runs page load in a 2nd tab during the load", p50_p95(runs_loads), "p95 <= 2 s",
            p95(runs_loads) <= 2 and bool(runs_loads)),
        Row("websocket clients: Train page's first run", p50_p95(ws_loads)),
        Row("/_stcore/health latency during the load", p50_p95(monitor.health, "ms", 1)
            + (f", {monitor.health_failures} failed" if monitor.health_failures else "")),
        Row("load: first click -> every run ended", f"{seconds:.0f} s"),
        Row("server CPU during the load", f"{server_cpu:.0f} s ({server_cpu / seconds:.2f} cores)"),
        Row("workers' CPU during the load", f"{workers_cpu:.0f} s ({workers_cpu / seconds:.2f} cores, "
            f"{workers_cpu / max(1, len(mine)):.1f} s a run)"),
        Row("  (this machine: websocket clients / Chromium)",
            f"{after.bench_cpu - before.bench_cpu:.0f} s / {after.browser_cpu - before.browser_cpu:.0f} s, "
            f"{os.cpu_count()} cores"),
        Row("  (other processes on this machine: keep near 0)",
            f"{after.others() - before.others():.0f} s ({(after.others() - before.others()) / seconds:.2f} cores)"),
        Row("fragment reruns: asked by the clients / answered", f"{auto_sent} / {fragment_runs} "
            f"({auto_sent / seconds:.1f}/s asked), {received / 1e6:.0f} MB sent to the clients"),
        Row("  an auto rerun's answer (request -> script_finished)", p50_p95(auto_latency)),
        Row("  auto reruns asked, by the interval the server set", ", ".join(
            f"{count} at {interval:g} s" for interval, count in sorted(intervals.items()))),
        Row(f"server CPU, {n} pages open, every run ended ({report['idle_seconds']:.0f} s)",
            f"{report['idle_cores']:.3f} cores ({report['idle_reruns']} reruns asked; other processes "
            f"{report['idle_others_cores']:.2f} cores)", "<= 0.2 core",
            report["idle_cores"] <= 0.2),
        Row("peak RSS, server + workers", f"{monitor.peak_total_mb:,.0f} MB (server {monitor.peak_server_mb:,.0f} MB, "
            f"VmHWM {report['server_hwm']:,.0f} MB; workers {monitor.peak_workers_mb:,.0f} MB)", "<= 8 GB",
            monitor.peak_total_mb <= 8192),
        Row("distinct run configs (all the defaults)", str(len(configs)), "1", len(configs) == 1),
    ]
    count, lines = log_problems(log_path)
    rows.append(Row("server log lines that look like problems", str(count), "0", count == 0))
    print_table(f"load, {n} students ({args.window:g} s window, {args.arrive:g} s arrival)", rows)
    for line in lines:
        print(f"    log: {line[:220]}")
    for problem in problems[:20]:
        print(f"    {problem}")
    for text, times in page_errors.most_common(10):
        print(f"    on {times} pages: {text[:220]}")
    for error in report["store_errors"][:5]:
        print(f"    store read: {error}")
    failed = {run_id: runs[run_id] for run_id in mine if run_id in runs and runs[run_id].status != "FINISHED"}
    for run_id, run in list(failed.items())[:10]:
        print(f"    run {run_id[:8]} ended {run.status}: {run.message[:200]}")
    if args.profile:
        print(summarize_profile(Path(args.out) / f"pyspy-{n}.txt"))
    return rows


# -- section "memory" ----------------------------------------------------------------------------
def tiny_runs(home: Path, count: int) -> list[str]:
    """``count`` small finished runs (dense, 1 epoch on 500 images of mnist_sample), through the job service."""
    from ae_core.config import ModelConfig, TrainConfig
    from ae_core.service import JobManager

    latent = (2, 8, 16, 32)
    with JobManager(home=home, max_concurrent=2, warm_workers=2, warmup=False) as manager:
        ids = [manager.submit(TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense",
                                                                                  latent_dim=latent[i % 4]),
                                          num_epochs=1, batch_size=64, train_limit=500, seed=i))
               for i in range(count)]
        deadline = time.monotonic() + 900
        while any(manager.get_run(run_id).status.is_active for run_id in ids) and time.monotonic() < deadline:
            time.sleep(0.5)
        statuses = collections.Counter(manager.get_run(run_id).status.value for run_id in ids)
    if statuses != {"FINISHED": count}:
        raise RuntimeError(f"the tiny runs ended {dict(statuses)}")
    return ids


async def explore_sessions(url: str, run_ids: list[str], arrive: float) -> list[tuple[StreamlitSession, float | None]]:
    async def one(run_id: str, at: float) -> tuple[StreamlitSession, float | None]:
        await asyncio.sleep(at)
        session = StreamlitSession(url, "explore", f"run_id={run_id}")
        start = time.perf_counter()
        await session.open()
        # The page's chart is the latent map (app.py's hidden preload chart comes from a session's second run on).
        ok = await session.wait_until(lambda: not session.running and session.last_finish is not None
                                      and session.count("plotly_chart") >= 1, 300)
        return session, (time.perf_counter() - start) if ok else None

    return await asyncio.gather(*(one(run_id, arrive * i / len(run_ids)) for i, run_id in enumerate(run_ids)))


def memory_section(args: argparse.Namespace, out: Path) -> list[Row]:
    count = args.explore_sessions
    print(f"\n=== memory: {count} websocket sessions on the Explore page, each on its own run ===", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_class_mem_") as folder:
        home, log_path = Path(folder) / "home", Path(folder) / "streamlit.log"
        start = time.monotonic()
        run_ids = tiny_runs(home, count)
        print(f"  {count} tiny runs trained in {time.monotonic() - start:.0f} s", flush=True)
        wait_quiet(args.wait_quiet)
        try:
            with streamlit_app(home, log_path) as url:
                server_pid = server_pid_for(url)
                settle = wait_settled(server_pid)
                baseline = sample_tree(server_pid).server_rss_mb
                print(f"  server settled after {settle:.0f} s at {baseline:,.0f} MB", flush=True)
                monitor = Monitor(url, server_pid)
                monitor.start()

                async def scenario() -> tuple[list[tuple[StreamlitSession, float | None]], float, float]:
                    opened = await explore_sessions(url, run_ids, args.arrive)
                    await asyncio.sleep(10.0)
                    rss = sample_tree(server_pid).server_rss_mb
                    await asyncio.sleep(10.0)
                    rss_later = sample_tree(server_pid).server_rss_mb
                    for session, _ in opened:
                        await session.close()
                    return opened, rss, rss_later

                opened, rss, rss_later = asyncio.run(scenario())
                hwm = hwm_mb(server_pid)
                monitor.stop.set()
                monitor.join(5)
        finally:
            shutil.copy(log_path, out / "streamlit-memory.log")
    times = [seconds for _, seconds in opened if seconds is not None]
    page_problems = collections.Counter(text for session, _ in opened for text in session.errors + session.exceptions)
    shown = collections.Counter(session.query_params.get("run_id") == run_id
                                for (session, _), run_id in zip(opened, run_ids))
    rows = [
        Row("Explore pages drawn (latent map), each on its own run", f"{len(times)} of {count} "
            f"({shown[True]} kept their run in the URL)", str(count), len(times) == count and shown[True] == count),
        Row("  open -> page drawn (server side)", p50_p95(times)),
        Row("server RSS before any page", f"{baseline:,.0f} MB"),
        Row(f"server RSS, {count} Explore pages open (10 s / 20 s after)", f"{rss:,.0f} MB / {rss_later:,.0f} MB",
            "<= 1.5 GB", max(rss, rss_later) <= 1536),
        Row("  server peak RSS (VmHWM)", f"{hwm:,.0f} MB"),
        Row("  workers' RSS meanwhile (peak)", f"{monitor.peak_workers_mb:,.0f} MB"),
    ]
    problems, lines = log_problems(out / "streamlit-memory.log")
    rows.append(Row("server log lines that look like problems", str(problems), "0", problems == 0))
    print_table(f"memory, {count} Explore pages", rows)
    for line in lines:
        print(f"    log: {line[:220]}")
    for text, times_seen in page_problems.most_common(10):
        print(f"    on {times_seen} pages: {text[:220]}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", default="10,30", help="class sizes, one fresh server each (default 10,30)")
    parser.add_argument("--sections", default="load,memory", help="load, memory or both")
    parser.add_argument("--window", type=float, default=10.0, help="seconds in which every student presses Train")
    parser.add_argument("--arrive", type=float, default=10.0, help="seconds over which the students open the page")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle polling measured after the load")
    parser.add_argument("--timeout", type=float, default=1800.0, help="most seconds the load may take")
    parser.add_argument("--explore-sessions", type=int, default=30, help="Explore pages of the memory section")
    parser.add_argument("--profile", type=int, default=0, help="py-spy the server for this many seconds of the load")
    parser.add_argument("--wait-quiet", type=float, default=1800.0,
                        help="most seconds to wait, before each section, for other processes to leave the CPUs")
    parser.add_argument("--no-class", action="store_true",
                        help="start the server without a teacher key (a single-user lab, not a class)")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "bench_class"),
                        help="folder for the servers' logs and py-spy's stacks")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if "load" in sections and not CHROMIUM.is_file():
        sys.exit(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium)")
    if not args.no_class:
        os.environ.setdefault("AE_LAB_TEACHER_KEY", "bench-class-teacher-key")
    print(f"{os.cpu_count()} CPUs; data {os.environ['AE_LAB_DATA_DIR']}; class mode "
          f"{'off' if args.no_class else 'on'}; logs in {out}", flush=True)
    verdicts: list[tuple[str, Row]] = []
    if "load" in sections:
        for n in (int(text) for text in args.students.split(",")):
            verdicts += [(f"load {n}", row) for row in load_section(args, n, out)]
    if "memory" in sections:
        verdicts += [("memory", row) for row in memory_section(args, out)]
    judged = [(where, row) for where, row in verdicts if row.ok is not None]
    failed = [(where, row) for where, row in judged if not row.ok]
    print(f"\n{len(judged) - len(failed)} of {len(judged)} targets met"
          + ("" if not failed else ": FAIL " + "; ".join(f"{where}: {row.figure}" for where, row in failed)))


if __name__ == "__main__":
    main()
