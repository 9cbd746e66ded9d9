"""Autoencoder Lab's server: ``streamlit run serve.py`` (the README's start command).

``app.py`` is the page script, run once per browser session; nothing in it runs before
someone opens a page. The job service must not wait for that: after a restart, runs left
RUNNING by the old server are marked INTERRUPTED, queued runs start training, and the
warm workers import TensorFlow, all as soon as the server is up. ``st.App`` runs this
module's ``lifespan`` once, when the server starts and its runtime (and with it the
shared ``st.cache_resource``) is ready, so the one job manager every session shares is
built there, and ``ae_lab_ui.warmup`` does the server's once-only work in the background.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator

import streamlit as st

from ae_core.service.executors import executor_from_command_line
from ae_lab_ui.keras_session import keep_keras_state
from ae_lab_ui.services import get_manager
from ae_lab_ui.warmup import import_shared_modules, warm_up


@contextlib.asynccontextmanager
async def lifespan(app: st.App) -> AsyncIterator[None]:
    """Start the job manager with the server (its shutdown rides on the resource cache's release)."""
    del app
    try:
        get_manager()
    except Exception:  # noqa: BLE001 - the pages say what is wrong; the server must still serve them
        logging.getLogger("ae_lab_ui").exception("the job manager could not start with the server")
    else:
        import_shared_modules()  # before any page run or the warm-up can race to import them
        # In the background: the server answers at once, and the warm-up's work (Keras,
        # UMAP's compile, the newest runs' models, the pixel probes) is done before most
        # first clicks instead of during them.
        threading.Thread(target=warm_up, name="ae-lab-warm-up", daemon=True).start()
    yield


executor_from_command_line()
keep_keras_state()
app = st.App("app.py", lifespan=lifespan)
