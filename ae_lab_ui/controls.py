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
from ae_lab_ui import form, link_state
from ae_lab_ui.form import key
from ae_lab_ui.link_state import USE_SETTINGS_PARAM
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


_FILLED_FROM_KEY = "train_settings_from"
_FILL_REQUEST_KEY = "train_settings_request"


def use_settings_of(run_id: str) -> None:
    """Ask the Train page to fill its sidebar with run ``run_id``'s settings on its next run.

    The Train page's "Use these settings" button calls this (the Runs page links with
    ``USE_SETTINGS_PARAM`` instead), so the person sees, and can start again, exactly
    what that run trained.
    """
    st.session_state[_FILL_REQUEST_KEY] = run_id


def fill_from(config: TrainConfig, run_id: str, *, link_applied: bool = False) -> None:
    """Set every Train widget to ``config``'s settings, once per run unless asked again.

    Called before the widgets are drawn, for the run the page shows: a run link (or
    "Use these settings") fills the sidebar with that run's settings, so pressing Train
    starts what is shown; after that, the person's own changes stay. A classifier run's
    settings are not the form's, so they fill nothing. When the same run's link also
    carried settings (``link_applied``), those win unless the fill was asked for (the
    precedence is written out in ``ae_lab_ui.link_state``).
    """
    state = st.session_state
    if st.query_params.get(USE_SETTINGS_PARAM) == "1":
        del st.query_params[USE_SETTINGS_PARAM]
        state[_FILL_REQUEST_KEY] = run_id
    requested = state.pop(_FILL_REQUEST_KEY, None) == run_id
    if link_applied and not requested:
        state[_FILLED_FROM_KEY] = run_id
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
        held = link_state.held_fields()  # a lesson's locked and hidden values stay the teacher's
        for field, value in form.preset_values(name).items():
            if field not in held:
                st.session_state[key(field)] = value


def _loss_changed() -> None:
    if st.session_state[key("loss")] == "bce":
        st.session_state[key("output_activation")] = "sigmoid"


def _dataset_label(name: str) -> str:
    # The sidebar is narrow: the short name here, the full title in the caption below.
    short = form.dataset_title(name)
    return short if datasets.is_available_offline(name) else f"{short} (needs download)"


def _draw(widget: Any, name: str, *args: Any, disabled: bool = False, help: str | None = None,
          **options: Any) -> None:
    """Draw form field ``name``'s widget, unless a lesson link hides it; locked, it shows its value, disabled."""
    if name in link_state.hidden_fields():
        return
    label = form.FIELD_LABELS[name]
    if name in link_state.locked_fields():
        label, disabled, help = f":material/lock: {label}", True, link_state.LOCKED_HELP
    widget(label, *args, key=key(name), disabled=disabled, help=help, persist_state=PERSIST, **options)


def _dataset_note(name: str) -> None:
    if datasets.is_available_offline(name):
        st.caption(f"{DATASETS[name].title} · on this machine")
    else:
        st.warning(how_to_get(name), icon=":material/cloud_download:")
        offer_offline_dataset(key("dataset"), key_suffix="sidebar")


def render_main() -> None:
    """Preset, dataset, architecture, latent size and epochs: the knobs people turn most."""
    st.selectbox("Preset", [form.CUSTOM_PRESET, *form.PRESETS], key=key("preset"), on_change=_apply_preset,
                 help="A preset sets every knob below at once; change any of them afterwards.")
    _draw(st.selectbox, "dataset", list(DATASETS), format_func=_dataset_label)
    chosen = dataset()
    # A value left from a dataset with bigger images (or a link's) would be out of range;
    # here, not with its slider, which the presenter view does not draw.
    blocks_key = key("conv_blocks")
    st.session_state[blocks_key] = min(int(st.session_state[blocks_key]), form.max_conv_blocks(chosen))
    if "dataset" not in link_state.hidden_fields():  # a lesson about one dataset says nothing of it
        _dataset_note(chosen)
    _draw(st.checkbox, "grayscale", disabled=DATASETS[chosen].channels == 1,
          help="Train on colour images turned into gray ones.")
    _draw(st.selectbox, "arch", ARCHS, format_func=lambda a: form.ARCH_TITLES.get(a, a))
    _draw(st.select_slider, "latent_dim", form.LATENT_CHOICES,
          help="How many numbers the encoder squeezes each image into.")
    # No min_value/max_value: the browser would keep an out-of-range number to itself and
    # Train would silently use the previous one; the config refuses it in words instead.
    _draw(st.number_input, "num_epochs", step=1, help=f"From 1 to {MAX_EPOCHS}.")


def _slider(name: str, **options: Any) -> None:
    low, high, step = form.RANGES[name]
    _draw(st.slider, name, low, high, step=step, **options)


def render_details() -> None:
    """The other knobs, grouped in expanders."""
    arch = st.session_state[key("arch")]
    with st.expander("Layers"):
        uses_hidden = arch in form.HIDDEN_ARCHS
        _slider("hidden_layers", disabled=not uses_hidden, help="Used by the deep, VAE and LSTM architectures.")
        for index in range(int(st.session_state[key("hidden_layers")])):
            _draw(st.select_slider, f"hidden_width_{index}", form.WIDTH_CHOICES, disabled=not uses_hidden)
        _draw(st.checkbox, "mirror_decoder", disabled=arch not in form.MIRROR_OPTIONAL_ARCHS,
              help="Off: the decoder goes straight from the code to the image.")
        max_blocks = form.max_conv_blocks(dataset())
        is_conv = arch in CONV_ARCHS
        _draw(st.slider, "conv_blocks", 1, max_blocks, disabled=not is_conv or max_blocks == 1,
              help="Each block halves the image size.")
        _draw(st.select_slider, "conv_base_filters", form.CONV_BASE_CHOICES, disabled=not is_conv,
              help="Each further block doubles them.")
        _draw(st.selectbox, "activation", ACTIVATIONS)
        _draw(st.selectbox, "loss", LOSSES, format_func=form.LOSS_TITLES.get, on_change=_loss_changed)
        _draw(st.selectbox, "output_activation", OUTPUT_ACTIVATIONS, disabled=st.session_state[key("loss")] == "bce",
              help="Binary cross-entropy needs a sigmoid output.")
    with st.expander("Training"):
        _draw(st.select_slider, "batch_size", form.BATCH_CHOICES)
        _draw(st.selectbox, "optimizer", OPTIMIZERS)
        _draw(st.select_slider, "learning_rate", form.LEARNING_RATE_CHOICES, format_func=lambda rate: f"{rate:g}")
        _draw(st.select_slider, "example_limit", form.EXAMPLE_LIMIT_CHOICES,
              format_func=lambda n: "all" if n == 0 else f"{n:,}")
        _slider("validation_fraction", help="0 validates on the test split, as the reference material does.")
        _draw(st.number_input, "seed", step=1, help=f"From 0 to {MAX_SEED:,}.")
    with st.expander("Regularisation and noise"):
        penalty = {"format_func": lambda value: "off" if value == 0 else f"{value:g}"}
        _slider("dropout")
        _draw(st.checkbox, "batch_norm")
        for name in ("l1_weight", "l2_weight", "l1_activity"):
            _draw(st.select_slider, name, form.PENALTY_CHOICES, **penalty)
        _draw(st.selectbox, "noise", NOISE_TYPES, format_func=form.NOISE_TITLES.get)
        _slider("noise_level", disabled=st.session_state[key("noise")] == "none",
                help="Gaussian: the noise's standard deviation. Masking: the share of pixels dropped.")
        _slider("beta", disabled=arch not in VARIATIONAL_ARCHS, help="Only for the variational architectures.")
