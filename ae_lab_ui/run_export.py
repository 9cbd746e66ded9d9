"""The Runs page's "Take it with you" area: the run as a zip, as a Keras script, and in TensorBoard.

The zip and the script are built only when their button is clicked (``st.download_button``
with a callable), so opening a run stays fast; what goes in them is ``ae_core.export``'s.
"""

from __future__ import annotations

import shlex
from typing import Any

import streamlit as st

from ae_core.export.bundle import gather, run_zip, script_filename, zip_filename
from ae_core.export.script import training_script
from ae_core.export.tensorboard import run_name
from ae_core.store import RunRecord
from ae_lab_ui import form
from ae_lab_ui.services import attempt

INSTALL_TENSORBOARD = "pip install tensorboard"


def tensorboard_command(runs_dir: str) -> str:
    """The command that shows every run of the store in TensorBoard."""
    return f"tensorboard --logdir {shlex.quote(runs_dir)}"


def take_it_with_you(manager: Any, record: RunRecord) -> None:
    """Draw the download area of an opened run.

    Args:
        manager: the job manager (its ``config_path`` says where the store keeps run folders).
        record: the opened run.
    """
    run_id, config = record.run_id, record.config
    description = form.describe(config)
    with st.expander("Take it with you: a Keras script, a zip of the run, TensorBoard", icon=":material/luggage:"):
        row = st.container(horizontal=True)
        row.download_button("Run as .zip", data=lambda: run_zip(gather(manager, run_id, description)),
                            file_name=zip_filename(run_id), mime="application/zip", key="runs_download_zip",
                            icon=":material/folder_zip:", on_click="ignore",
                            help="config.json, model.keras (once finished), the Keras script, the metrics as CSV "
                                 "and the last reconstructions and latent map as PNG.")
        scriptable = config.task == "reconstruct"
        row.download_button("Keras script (.py)",
                            data=(lambda: training_script(config, run_id, description)) if scriptable else "",
                            file_name=script_filename(run_id), mime="text/x-python", key="runs_download_script",
                            icon=":material/code:", on_click="ignore", disabled=not scriptable,
                            help="A standalone file that trains this model with Keras and NumPy only: the same "
                                 "data, layers, settings and seed, then prints the test MSE." if scriptable else
                            "Scripts are written for autoencoder runs; download this classifier's model instead.")
        config_path = attempt(lambda: manager.config_path(run_id), what="find the run's folder")
        if config_path is None:
            return
        runs_dir = config_path.parent.parent
        st.markdown("**TensorBoard.** Every run writes its curves, reconstructions and final latent codes "
                    "(for the Embedding Projector) as TensorBoard logs. To see every run of this lab:")
        st.code(tensorboard_command(str(runs_dir)), language="bash")
        st.caption(f"This run is `{run_id[:8]}…/tensorboard/{run_name(config)}` there. No `tensorboard` command? "
                   f"It is a separate package: `{INSTALL_TENSORBOARD}`.")
