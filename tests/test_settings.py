"""``.streamlit/config.toml``: the settings that protect the server and the students."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ae_core.data.uploads import MAX_UPLOAD_BYTES

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def settings() -> dict:
    with CONFIG.open("rb") as file:
        return tomllib.load(file)


def test_the_upload_limit_matches_the_one_the_app_checks() -> None:
    # Streamlit's maxUploadSize is in MiB (it multiplies by 1024 * 1024) and is refused by the
    # browser and by the server while streaming, before the whole file sits in memory.
    # uploads.py holds the fact; this keeps the toml in step with it.
    size_mb = settings()["server"]["maxUploadSize"]
    assert isinstance(size_mb, int) and size_mb * 1024 * 1024 == MAX_UPLOAD_BYTES


def test_students_never_see_a_traceback() -> None:
    from streamlit import config
    from streamlit.config import ShowErrorDetailsConfigOptions

    # "none": an uncaught error shows a generic message; type, message and traceback go to the console.
    value = settings()["client"]["showErrorDetails"]
    assert value == ShowErrorDetailsConfigOptions.NONE.value
    # The option names are Streamlit's own, so a typo cannot silently leave the defaults on.
    for section, options in settings().items():
        for name in options:
            assert f"{section}.{name}" in config._config_options_template


def test_no_page_run_pays_for_a_full_garbage_collection(monkeypatch) -> None:
    import sys
    import types

    from streamlit.runtime.scriptrunner import script_runner

    from ae_lab_ui.keras_session import keep_keras_state

    # Streamlit's gc.collect() after every run, and keras.backend.clear_session() (another
    # gc.collect, and a reset of state the sessions share): each about 0.2 s with TensorFlow loaded.
    assert settings()["runner"]["postScriptGC"] is False
    cleared: list[bool] = []
    fake_keras = types.SimpleNamespace(backend=types.SimpleNamespace(clear_session=lambda: cleared.append(True)))
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    monkeypatch.setattr(script_runner, "_clean_problem_modules", script_runner._clean_problem_modules)
    script_runner._clean_problem_modules()
    assert cleared == [True]  # what Streamlit does on its own
    assert keep_keras_state() is True
    script_runner._clean_problem_modules()
    assert cleared == [True]
