"""The package layout: every re-exported name resolves, and the light packages never load TensorFlow."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ("ae_core", "ae_core.data", "ae_core.models", "ae_core.training", "ae_core.store", "ae_core.service",
            "ae_core.analysis")
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, f"{package} exports nothing"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'no_such_name'"):
        getattr(module, "no_such_name")


def test_importing_the_packages_and_the_default_trainer_does_not_load_tensorflow() -> None:
    # The web server imports the service (whose default trainer is ae_core.training.train)
    # and the store; TensorFlow would cost it seconds and hundreds of MB.
    code = ("import sys\n"
            f"import {', '.join(PACKAGES)}\n"
            "from ae_core.service import JobManager, WorkerSettings\n"
            "from ae_core.training import train\n"
            "assert WorkerSettings().trainer is train\n"
            "print(sorted(name for name in ('tensorflow', 'keras') if name in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
