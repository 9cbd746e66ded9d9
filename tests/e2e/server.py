"""Start the app (`streamlit run serve.py`, as the README says) on a free port and a headless Chromium, for e2e tests and the UI benchmark.

Playwright's own browser download cannot work on these machines, so the
browser is Debian's Chromium at ``/usr/bin/chromium``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

try:
    # Playwright's auto-retrying assertions, for the tests to import from here: without the
    # package the e2e fixtures skip (or, with AE_LAB_REQUIRE_E2E=1, fail) and say why.
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover
    expect = None

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("AE_LAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Loss traces and friends: how many points the Plotly chart inside a keyed
# Streamlit container has drawn (0 when the chart is not there yet).
COUNT_POINTS_JS = """(selector) => {
    const plot = document.querySelector(selector + ' .js-plotly-plot');
    const traces = plot && (plot._fullData || plot.data);
    if (!traces) return 0;
    // _length is what Plotly really plots (typed arrays sent as base64 included).
    return traces.reduce((total, trace) => total + (trace._length ?? (trace.x ? trace.x.length : 0) ?? 0), 0);
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_app(home: Path, log_path: Path, *, start_timeout: float = 180.0,
                  env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the app with ``AE_LAB_HOME=home`` (and ``env`` on top of this process's); yield its URL; stop it afterwards.

    Raises:
        RuntimeError: if the server does not answer its health check in time
            (the end of its log is in the message).
    """
    port = free_port()
    env = {**os.environ, "AE_LAB_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, log_path, start_timeout)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def _wait_healthy(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"streamlit did not answer within {timeout:.0f} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def launch_browser(playwright):  # -> playwright.sync_api.Browser
    """Debian's Chromium, headless, through Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
