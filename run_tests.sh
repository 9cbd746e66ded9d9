#!/usr/bin/env bash
# The one command that sets up and runs every test (README, and .ci/run).
#   - installs the Python dependencies (runtime + test);
#   - installs Debian's Chromium for the browser tests when it can (root on Debian);
#   - writes the real reference datasets from ../shared into a cache folder;
#   - runs the whole pytest suite, slow and browser tests included, on two pytest-xdist workers.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"

"$PYTHON" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's chromium for the browser tests..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: could not install chromium; browser tests will skip (or fail under AE_LAB_REQUIRE_E2E=1)"
fi

if [ -z "${AE_LAB_DATA_DIR:-}" ] && [ -f ../shared/datasets/prepare.py ]; then
    export AE_LAB_DATA_DIR="$PWD/.cache/ae_data"
    "$PYTHON" ../shared/datasets/prepare.py "$AE_LAB_DATA_DIR" >/dev/null
fi

# TensorFlow's C++ start-up chatter would drown the test output.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# Two pytest-xdist workers by default (the machine has two cores, and one pytest used about one);
# tests/conftest.py keeps the browser tests, and the Ray tests, each on one worker. `-n 0` runs
# everything in this one process, e.g. to debug a single test.
exec "$PYTHON" -m pytest -n "${AE_LAB_TEST_WORKERS:-2}" --dist loadgroup "$@"
