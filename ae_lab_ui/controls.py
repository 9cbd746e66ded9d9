"""The Train page's controls: every knob of the core, each limited to valid values.

The widgets keep their values in ``st.session_state`` under ``train_<field>``
keys with ``persist_state="session"``, so a trip to the Runs page and back
keeps the setup. A preset writes all of those keys at once.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ae_core.config import (
    ACTIVATIONS,
    ARCHS,
    CONV_ARCHS,
    LOSSES,
    MAX_EPOCHS,
    MAX_SEED,
    NOISE_TYPES,
    OPTIMIZERS,
    OUTPUT_ACTIVATIONS,
    VARIATIONAL_ARCHS,
)
from ae_core.access import ClassRules
from ae_core.config import TrainConfig
from ae_core.data import DATASETS, datasets
from ae_lab_ui import form
from ae_lab_ui.form import key
from ae_lab_ui.services import OFFLINE_DATASET, how_to_get, offer_offline_dataset

PERSIST = "session"


def default_dataset() -> str:
    """The first dataset in the registry that loads without internet (mnist_sample here)."""
    return next((name for name in DATASETS if datasets.is_available_offline(name)), OFFLINE_DATASET)


def init_state() -> None:
    """Give every Train widget its default once per session."""
    st.session_state.setdefault(key("dataset"), default_dataset())
    st.session_state.setdefault(key("preset"), form.CUSTOM_PRESET)
    for name, value in form.DEFAULTS.items():
        st.session_state.setdefault(key(name), value)


# A link to the Train page with this query parameter set to "1" fills its sidebar with
# the linked run's settings, as "Use these settings" does (the Runs page links so).
USE_SETTINGS_PARAM = "use_settings"
_FILLED_FROM_KEY = "train_settings_from"
_FILL_REQUEST_KEY = "train_settings_request"


def use_settings_of(run_id: str) -> None:
    """Ask the Train page to fill its sidebar with run ``run_id``'s settings on its next run.

    The Train page's "Use these settings" button calls this (the Runs page links with
    ``USE_SETTINGS_PARAM`` instead), so the person sees, and can start again, exactly
    what that run trained.
    """
    st.session_state[_FILL_REQUEST_KEY] = run_id


def fill_from(config: TrainConfig, run_id: str) -> None:
    """Set every Train widget to ``config``'s settings, once per run unless asked again.

    Called before the widgets are drawn, for the run the page shows: a run link (or
    "Use these settings") fills the sidebar with that run's settings, so pressing Train
    starts what is shown; after that, the person's own changes stay. A classifier run's
    settings are not the form's, so they fill nothing.
    """
    state = st.session_state
    if st.query_params.get(USE_SETTINGS_PARAM) == "1":
        del st.query_params[USE_SETTINGS_PARAM]
        state[_FILL_REQUEST_KEY] = run_id
    requested = state.pop(_FILL_REQUEST_KEY, None) == run_id
    if config.task != "reconstruct" or (state.get(_FILLED_FROM_KEY) == run_id and not requested):
        return
    state[_FILLED_FROM_KEY] = run_id
    state[key("dataset")] = config.dataset
    state[key("preset")] = form.CUSTOM_PRESET
    for name, value in form.values_from_config(config).items():
        state[key(name)] = value


def filled(run_id: str) -> None:
    """Note that the sidebar already shows run ``run_id``'s settings (it was just started from them)."""
    st.session_state[_FILLED_FROM_KEY] = run_id


def values() -> dict[str, Any]:
    """The current form values, keyed by the names in ``form.DEFAULTS``."""
    return {name: st.session_state.get(key(name), default) for name, default in form.DEFAULTS.items()}


def dataset() -> str:
    return st.session_state.get(key("dataset"), OFFLINE_DATASET)


def keep_within(rules: ClassRules) -> str:
    """Bring a student's epochs and training examples within the class's caps (before the widgets are drawn).

    The job service refuses a run beyond them; snapping the widgets there first means a
    student's Train never asks for what would be refused.

    Returns:
        The class's limits in words, for a caption under the Train button.
    """
    state, said = st.session_state, []
    if rules.max_epochs is not None:
        epochs = state.get(key("num_epochs"))
        if not isinstance(epochs, int) or epochs > rules.max_epochs:
            state[key("num_epochs")] = rules.max_epochs
        said.append(f"{rules.max_epochs} epochs")
    if rules.max_train_examples is not None:
        size = DATASETS[dataset()].train_size
        if min(state.get(key("example_limit")) or size, size) > rules.max_train_examples:
            allowed = [n for n in form.EXAMPLE_LIMIT_CHOICES if 0 < n <= rules.max_train_examples]
            state[key("example_limit")] = allowed[-1] if allowed else form.EXAMPLE_LIMIT_CHOICES[1]
        said.append(f"{rules.max_train_examples:,} training examples")
    waiting = rules.max_queued_per_student
    said.append(f"{waiting} run{'s' if waiting != 1 else ''} waiting at once")
    return "In this class: at most " + ", ".join(said) + "."


def _apply_preset() -> None:
    name = st.session_state[key("preset")]
    if name in form.PRESETS:
        for field, value in form.preset_values(name).items():
            st.session_state[key(field)] = value


def _loss_changed() -> None:
    if st.session_state[key("loss")] == "bce":
        st.session_state[key("output_activation")] = "sigmoid"


def _dataset_label(name: str) -> str:
    # The sidebar is narrow: the short name here, the full title in the caption below.
    short = form.dataset_title(name)
    return short if datasets.is_available_offline(name) else f"{short} (needs download)"


def render_main() -> None:
    """Preset, dataset, architecture, latent size and epochs: the knobs people turn most."""
    st.selectbox("Preset", [form.CUSTOM_PRESET, *form.PRESETS], key=key("preset"), on_change=_apply_preset,
                 help="A preset sets every knob below at once; change any of them afterwards.")
    st.selectbox("Dataset", list(DATASETS), key=key("dataset"), format_func=_dataset_label,
                 persist_state=PERSIST)
    chosen = dataset()
    if datasets.is_available_offline(chosen):
        st.caption(f"{DATASETS[chosen].title} · on this machine")
    else:
        st.warning(how_to_get(chosen), icon=":material/cloud_download:")
        offer_offline_dataset(key("dataset"), key_suffix="sidebar")
    st.checkbox("Grayscale view", key=key("grayscale"), persist_state=PERSIST,
                disabled=DATASETS[chosen].channels == 1, help="Train on colour images turned into gray ones.")
    st.selectbox("Architecture", ARCHS, key=key("arch"), format_func=lambda a: form.ARCH_TITLES.get(a, a),
                 persist_state=PERSIST)
    st.select_slider("Latent size", form.LATENT_CHOICES, key=key("latent_dim"), persist_state=PERSIST,
                     help="How many numbers the encoder squeezes each image into.")
    # No min_value/max_value: the browser would keep an out-of-range number to itself and
    # Train would silently use the previous one; the config refuses it in words instead.
    st.number_input("Epochs", step=1, key=key("num_epochs"), persist_state=PERSIST,
                    help=f"From 1 to {MAX_EPOCHS}.")


def render_details() -> None:
    """The other knobs, grouped in expanders."""
    arch = st.session_state[key("arch")]
    with st.expander("Layers"):
        uses_hidden = arch in form.HIDDEN_ARCHS
        st.slider("Hidden layers", 1, form.MAX_HIDDEN_LAYERS, key=key("hidden_layers"), persist_state=PERSIST,
                  disabled=not uses_hidden, help="Used by the deep, VAE and LSTM architectures.")
        for index in range(int(st.session_state[key("hidden_layers")])):
            st.select_slider(f"Layer {index + 1} width", form.WIDTH_CHOICES, key=key(f"hidden_width_{index}"),
                             persist_state=PERSIST, disabled=not uses_hidden)
        st.checkbox("Decoder mirrors the encoder", key=key("mirror_decoder"), persist_state=PERSIST,
                    disabled=arch not in form.MIRROR_OPTIONAL_ARCHS,
                    help="Off: the decoder goes straight from the code to the image.")
        blocks_key, max_blocks = key("conv_blocks"), form.max_conv_blocks(dataset())
        # A value left from a dataset with bigger images would be out of range.
        st.session_state[blocks_key] = min(int(st.session_state[blocks_key]), max_blocks)
        is_conv = arch in CONV_ARCHS
        st.slider("Convolution blocks", 1, max_blocks, key=blocks_key, persist_state=PERSIST,
                  disabled=not is_conv or max_blocks == 1, help="Each block halves the image size.")
        st.select_slider("Filters in the first block", form.CONV_BASE_CHOICES, key=key("conv_base_filters"),
                         persist_state=PERSIST, disabled=not is_conv, help="Each further block doubles them.")
        st.selectbox("Activation", ACTIVATIONS, key=key("activation"), persist_state=PERSIST)
        st.selectbox("Loss", LOSSES, key=key("loss"), format_func=form.LOSS_TITLES.get, on_change=_loss_changed,
                     persist_state=PERSIST)
        st.selectbox("Output activation", OUTPUT_ACTIVATIONS, key=key("output_activation"), persist_state=PERSIST,
                     disabled=st.session_state[key("loss")] == "bce",
                     help="Binary cross-entropy needs a sigmoid output.")
    with st.expander("Training"):
        st.select_slider("Batch size", form.BATCH_CHOICES, key=key("batch_size"), persist_state=PERSIST)
        st.selectbox("Optimizer", OPTIMIZERS, key=key("optimizer"), persist_state=PERSIST)
        st.select_slider("Learning rate", form.LEARNING_RATE_CHOICES, key=key("learning_rate"),
                         format_func=lambda rate: f"{rate:g}", persist_state=PERSIST)
        st.select_slider("Training examples", form.EXAMPLE_LIMIT_CHOICES, key=key("example_limit"),
                         format_func=lambda n: "all" if n == 0 else f"{n:,}", persist_state=PERSIST)
        st.slider("Validation fraction", 0.0, 0.5, step=0.05, key=key("validation_fraction"), persist_state=PERSIST,
                  help="0 validates on the test split, as the reference material does.")
        st.number_input("Seed", step=1, key=key("seed"), persist_state=PERSIST, help=f"From 0 to {MAX_SEED:,}.")
    with st.expander("Regularisation and noise"):
        penalty = {"format_func": lambda value: "off" if value == 0 else f"{value:g}", "persist_state": PERSIST}
        st.slider("Dropout", 0.0, 0.8, step=0.05, key=key("dropout"), persist_state=PERSIST)
        st.checkbox("Batch normalisation", key=key("batch_norm"), persist_state=PERSIST)
        st.select_slider("L1 weight penalty", form.PENALTY_CHOICES, key=key("l1_weight"), **penalty)
        st.select_slider("L2 weight penalty", form.PENALTY_CHOICES, key=key("l2_weight"), **penalty)
        st.select_slider("Sparse code (L1 on activity)", form.PENALTY_CHOICES, key=key("l1_activity"), **penalty)
        st.selectbox("Denoising: noise on the inputs", NOISE_TYPES, key=key("noise"),
                     format_func=form.NOISE_TITLES.get, persist_state=PERSIST)
        st.slider("Noise level", 0.05, 0.95, step=0.05, key=key("noise_level"), persist_state=PERSIST,
                  disabled=st.session_state[key("noise")] == "none",
                  help="Gaussian: the noise's standard deviation. Masking: the share of pixels dropped.")
        st.slider("β (KL weight)", 0.0, 10.0, step=0.1, key=key("beta"), persist_state=PERSIST,
                  disabled=arch not in VARIATIONAL_ARCHS, help="Only for the variational architectures.")
