"""Keep Streamlit from clearing Keras's global state after every page run.

Streamlit's script runner ends every run (a whole page, and every fragment rerun of a
live view) by calling ``keras.backend.clear_session()`` whenever Keras is imported
(``_clean_problem_modules`` in ``streamlit/runtime/scriptrunner/script_runner.py``, 1.67).
That call was meant for notebook-style scripts that rebuild their model on each run. In
this server it is wrong twice over:

- it is slow: ``clear_session`` ends with a full ``gc.collect()`` over a heap that holds
  TensorFlow, numba and scikit-learn, about 0.2 s. With two runs training and two tabs
  polling, it and Streamlit's own ``gc.collect()`` after each run (turned off in
  ``.streamlit/config.toml``) took over half of the server's busy time (py-spy), and a new
  tab took 30–70 s to draw (``bench/bench_browser.py``);
- it races: the server is one process with a thread per session, and the models the
  pages cache (``run_models``) are shared. Resetting Keras's global state while another
  session's thread builds or calls a model is not something Keras supports.

The server therefore keeps the rest of the clean-up (matplotlib's figures) and leaves Keras
alone. ``serve.py`` applies this once, before the first page runs.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, cast

LOGGER = logging.getLogger("ae_lab_ui")


def _clean_problem_modules_but_keras() -> None:
    """Streamlit's per-run clean-up of stateful modules, without ``keras.backend.clear_session``."""
    if "matplotlib.pyplot" in sys.modules:
        try:
            cast("Any", sys.modules["matplotlib.pyplot"]).close("all")
        except Exception:  # noqa: BLE001 - as Streamlit's own: a clean-up must not crash a page
            pass


def keep_keras_state() -> bool:
    """Replace Streamlit's per-run clean-up with one that leaves Keras alone.

    Returns:
        True if the clean-up was replaced; False if this Streamlit has no such hook (then a
        message is logged and nothing changes).
    """
    from streamlit.runtime.scriptrunner import script_runner

    if not callable(getattr(script_runner, "_clean_problem_modules", None)):
        LOGGER.warning("this Streamlit has no _clean_problem_modules; Keras's state may be cleared after each run")
        return False
    script_runner._clean_problem_modules = _clean_problem_modules_but_keras
    return True
