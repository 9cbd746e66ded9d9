"""The Train page's form as plain data: choices, defaults, presets, and the config they make.

Every widget on the Train page offers only values from the tuples below (or a
bounded range), so a person cannot type an invalid setting; ``build_config``
turns the widget values into a ``TrainConfig``, which validates the
combination. This module imports no streamlit, so it is tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ae_core import config
from ae_core.config import (
    ACTIVATIONS,
    ARCHS,
    CONV_ARCHS,
    LOSSES,
    MAX_EPOCHS,
    MAX_LATENT_DIM,
    MAX_SEED,
    NOISE_TYPES,
    OPTIMIZERS,
    OUTPUT_ACTIVATIONS,
    VARIATIONAL_ARCHS,
    ModelConfig,
    TrainConfig,
)
from ae_core.data import DATASETS

# Widget keys carry the page name, so two pages can never share a key by accident.
KEY_PREFIX = "train_"

LATENT_CHOICES = tuple(n for n in (1, 2, 3, 4, 8, 16, 32, 48, 64, 96, 128, 256, 512) if n <= MAX_LATENT_DIM)
WIDTH_CHOICES = (16, 32, 64, 128, 256, 512, 1024)
# 100 is there because the reference material trains system A with batches of 100.
BATCH_CHOICES = (16, 32, 64, 100, 128, 256, 512, 1024)
LEARNING_RATE_CHOICES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
PENALTY_CHOICES = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
CONV_BASE_CHOICES = (8, 16, 32, 64)
# 0 stands for "all training examples".
EXAMPLE_LIMIT_CHOICES = (0, 500, 1000, 2000, 5000, 10000, 20000, 50000)
MAX_HIDDEN_LAYERS = 4

# The bounds of the sliders and number boxes: (lowest, highest, step). The convolution
# blocks' top depends on the dataset (``max_conv_blocks``); this is the most any allows.
RANGES: dict[str, tuple[Any, Any, Any]] = {
    "num_epochs": (1, MAX_EPOCHS, 1),
    "seed": (0, MAX_SEED, 1),
    "hidden_layers": (1, MAX_HIDDEN_LAYERS, 1),
    "conv_blocks": (1, max(config.max_conv_blocks(info.image_shape) for info in DATASETS.values()), 1),
    "validation_fraction": (0.0, 0.5, 0.05),
    "dropout": (0.0, 0.8, 0.05),
    "noise_level": (0.05, 0.95, 0.05),
    "beta": (0.0, 10.0, 0.1),
}
BOOLEAN_FIELDS = ("mirror_decoder", "batch_norm", "grayscale")

# Architectures whose encoder uses the dense/LSTM hidden layers, and those
# whose decoder may skip its hidden layers (an LSTM decoder needs one).
HIDDEN_ARCHS = ("deep", "vae", "lstm")
MIRROR_OPTIONAL_ARCHS = ("deep", "vae")

ARCH_TITLES = {
    "dense": "Dense (shallow)",
    "deep": "Deep dense",
    "conv": "Convolutional",
    "vae": "Variational (VAE)",
    "conv_vae": "Convolutional VAE",
    "lstm": "LSTM (rows as a sequence)",
}
LOSS_TITLES = {"mse": "Mean squared error", "bce": "Binary cross-entropy"}
NOISE_TITLES = {"none": "None", "gaussian": "Gaussian noise", "masking": "Masking (drop pixels)"}
CLASSIFIER_TITLES = {"cnn": "CNN", "encoder_head": "encoder + dense head"}

# What a widget shows while its setting is off or unused (a dense model has no hidden
# layers; no noise). Every other default is ``TrainConfig()``'s: see ``DEFAULTS`` below.
_WIDGET_DEFAULTS: dict[str, Any] = {
    "hidden_layers": 1,
    **{f"hidden_width_{i}": width for i, width in enumerate((256, 128, 64, 32))},
    "noise_level": 0.3,
}

# Each preset is a whole model and training setup on top of DEFAULTS; the
# dataset is left as it is, so a preset works on whatever the person chose.
PRESETS: dict[str, dict[str, Any]] = {
    # System D of the reference material as it is written: 784-64-784, batches of 256,
    # 50 epochs, validated on the test split.
    "Classic 784-64-784 (reference D)": {"arch": "dense", "latent_dim": 64, "batch_size": 256,
                                          "learning_rate": 1e-3, "num_epochs": 50, "validation_fraction": 0.0},
    "Deep dense": {"arch": "deep", "latent_dim": 32, "hidden_layers": 2, "hidden_width_0": 256,
                   "hidden_width_1": 128},
    "Convolutional": {"arch": "conv", "latent_dim": 32, "conv_blocks": 2, "conv_base_filters": 32,
                      "batch_size": 128, "num_epochs": 5},
    "VAE with a 2-D latent": {"arch": "vae", "latent_dim": 2, "hidden_layers": 1, "hidden_width_0": 256,
                              "beta": 1.0, "num_epochs": 15},
    "Denoising": {"arch": "deep", "latent_dim": 64, "hidden_layers": 1, "hidden_width_0": 256,
                  "noise": "gaussian", "noise_level": 0.4},
}
CUSTOM_PRESET = "Custom"

# What each field is called on the Train page: its widget's label, and the name a teacher
# ticks in the Lesson link builder.
FIELD_LABELS: dict[str, str] = {
    "dataset": "Dataset", "grayscale": "Grayscale view", "arch": "Architecture", "latent_dim": "Latent size",
    "num_epochs": "Epochs", "hidden_layers": "Hidden layers",
    **{f"hidden_width_{i}": f"Layer {i + 1} width" for i in range(MAX_HIDDEN_LAYERS)},
    "mirror_decoder": "Decoder mirrors the encoder", "conv_blocks": "Convolution blocks",
    "conv_base_filters": "Filters in the first block", "activation": "Activation", "loss": "Loss",
    "output_activation": "Output activation", "batch_size": "Batch size", "optimizer": "Optimizer",
    "learning_rate": "Learning rate", "example_limit": "Training examples",
    "validation_fraction": "Validation fraction", "seed": "Seed", "dropout": "Dropout",
    "batch_norm": "Batch normalisation", "l1_weight": "L1 weight penalty", "l2_weight": "L2 weight penalty",
    "l1_activity": "Sparse code (L1 on activity)", "noise": "Denoising: noise on the inputs",
    "noise_level": "Noise level", "beta": "β (KL weight)",
}


def key(name: str) -> str:
    """The session-state key of the Train page widget for form field ``name``."""
    return KEY_PREFIX + name


def preset_values(name: str) -> dict[str, Any]:
    """All form values of preset ``name`` (defaults plus the preset's own).

    Raises:
        ValueError: for an unknown preset.
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(map(repr, PRESETS))}; got {name!r}")
    return {**DEFAULTS, **PRESETS[name]}


def max_conv_blocks(dataset: str) -> int:
    """How many stride-2 convolution blocks the dataset's image size allows (the slider's top, at least 1)."""
    return max(1, config.max_conv_blocks(DATASETS[dataset].image_shape))


def hidden_sizes(values: Mapping[str, Any]) -> tuple[int, ...]:
    """The encoder's hidden layer sizes from the layer count and the per-layer widths."""
    count = int(values["hidden_layers"])
    return tuple(int(values[f"hidden_width_{i}"]) for i in range(count))


def build_config(dataset: str, values: Mapping[str, Any]) -> TrainConfig:
    """Turn the Train page's widget values into a validated ``TrainConfig``.

    Settings that do not apply to the chosen architecture (conv filters for a
    dense model, say) are left at neutral values, so the saved ``config.json``
    describes only what was really built.

    Args:
        dataset: a name from ``DATASETS``.
        values: form values keyed by the names in ``DEFAULTS`` (missing ones
            take their defaults).

    Returns:
        The config to submit.

    Raises:
        ValueError: naming the field and the allowed values, for a setting or
            combination the core rejects.
    """
    v = {**DEFAULTS, **values}
    arch = v["arch"]
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(map(repr, ARCHS))}; got {arch!r}")
    uses_hidden = arch in HIDDEN_ARCHS
    mirror = bool(v["mirror_decoder"]) or arch not in MIRROR_OPTIONAL_ARCHS
    conv_filters = tuple(int(v["conv_base_filters"]) * 2**i for i in range(int(v["conv_blocks"])))
    noise = v["noise"]
    model = ModelConfig(
        arch=arch,
        latent_dim=int(v["latent_dim"]),
        hidden_sizes=hidden_sizes(v) if uses_hidden else (),
        decoder_hidden_sizes=None if mirror or not uses_hidden else (),
        conv_filters=conv_filters if arch in CONV_ARCHS else ModelConfig.conv_filters,
        activation=v["activation"],
        # Binary cross-entropy compares probabilities, so it needs a sigmoid output.
        output_activation="sigmoid" if v["loss"] == "bce" else v["output_activation"],
        loss=v["loss"],
        dropout=float(v["dropout"]),
        batch_norm=bool(v["batch_norm"]),
        l1_weight=float(v["l1_weight"]),
        l2_weight=float(v["l2_weight"]),
        l1_activity=float(v["l1_activity"]),
        noise=noise,
        noise_level=float(v["noise_level"]) if noise != "none" else 0.0,
        beta=float(v["beta"]) if arch in VARIATIONAL_ARCHS else 1.0,
    )
    limit = int(v["example_limit"])
    return TrainConfig(
        dataset=dataset,
        model=model,
        num_epochs=int(v["num_epochs"]),
        batch_size=int(v["batch_size"]),
        optimizer=v["optimizer"],
        learning_rate=float(v["learning_rate"]),
        seed=int(v["seed"]),
        train_limit=limit or None,
        validation_fraction=float(v["validation_fraction"]),
        grayscale=bool(v["grayscale"]) and DATASETS[dataset].channels == 3,
    )


def values_from_config(config: TrainConfig) -> dict[str, Any]:
    """The Train page's form values that rebuild ``config`` (the inverse of ``build_config``).

    "Use these settings" and a run link fill the sidebar with these, so pressing Train
    starts the run that is shown; ``DEFAULTS`` are those of ``TrainConfig()``. Values the
    widgets cannot offer (a width typed into a config by hand) are kept as they are;
    ``build_config`` still validates them.

    Args:
        config: an autoencoder run's config (a classifier run's model is the default one).

    Returns:
        Values keyed by the names in ``DEFAULTS``.
    """
    model = config.model
    values = dict(_WIDGET_DEFAULTS)
    sizes = model.hidden_sizes[:MAX_HIDDEN_LAYERS]
    if sizes:
        values["hidden_layers"] = len(sizes)
        values.update({f"hidden_width_{i}": size for i, size in enumerate(sizes)})
    if model.noise != "none":
        values["noise_level"] = model.noise_level
    values.update(
        arch=model.arch, latent_dim=model.latent_dim, mirror_decoder=model.decoder_hidden_sizes is None,
        conv_blocks=len(model.conv_filters), conv_base_filters=model.conv_filters[0], activation=model.activation,
        output_activation=model.output_activation, loss=model.loss, dropout=model.dropout,
        batch_norm=model.batch_norm, l1_weight=model.l1_weight, l2_weight=model.l2_weight,
        l1_activity=model.l1_activity, noise=model.noise, beta=model.beta, num_epochs=config.num_epochs,
        batch_size=config.batch_size, optimizer=config.optimizer, learning_rate=config.learning_rate,
        seed=config.seed, example_limit=config.train_limit or 0, validation_fraction=config.validation_fraction,
        grayscale=config.grayscale)
    return values


# Every Train widget's default: the core's own defaults, one fact in one place.
DEFAULTS: dict[str, Any] = values_from_config(TrainConfig())

# The values each choice widget offers, by field (the others are RANGES or BOOLEAN_FIELDS).
CHOICES: dict[str, tuple[Any, ...]] = {
    "dataset": tuple(DATASETS), "arch": ARCHS, "latent_dim": LATENT_CHOICES,
    **{f"hidden_width_{i}": WIDTH_CHOICES for i in range(MAX_HIDDEN_LAYERS)},
    "conv_base_filters": CONV_BASE_CHOICES, "activation": ACTIVATIONS, "loss": LOSSES,
    "output_activation": OUTPUT_ACTIVATIONS, "batch_size": BATCH_CHOICES, "optimizer": OPTIMIZERS,
    "learning_rate": LEARNING_RATE_CHOICES, "example_limit": EXAMPLE_LIMIT_CHOICES, "l1_weight": PENALTY_CHOICES,
    "l2_weight": PENALTY_CHOICES, "l1_activity": PENALTY_CHOICES, "noise": NOISE_TYPES,
}


def dataset_title(name: str) -> str:
    """A dataset's short title for narrow places ("MNIST sample"), without the part in brackets."""
    return DATASETS[name].title.split(" (")[0]


def describe(config: TrainConfig) -> str:
    """A one-line summary of a run's setup, for titles and lists."""
    if config.task == "classify":
        parts = [dataset_title(config.dataset), architecture(config)]
        if config.source_run_id:
            parts.append(f"from run {config.source_run_id[:8]}")
        if config.augment:
            parts.append("augmented: " + ", ".join(config.augment))
        return " · ".join(parts)
    model = config.model
    parts = [dataset_title(config.dataset), ARCH_TITLES.get(model.arch, model.arch),
             f"latent {model.latent_dim}"]
    spelt = {"noise": lambda noise: f"{noise[0]} noise {noise[1]:g}", "beta": lambda beta: f"β {beta:g}",
             "exclude_class": lambda label: f"without {DATASETS[config.dataset].class_names[label]}"}
    return " · ".join(parts + [spelt[name](value) for name, value in config.distinctions().items()])


def architecture(config: TrainConfig) -> str:
    """What a run trains, in a few words: an autoencoder's architecture, or "classify · CNN"."""
    if config.task == "classify":
        return f"classify · {CLASSIFIER_TITLES.get(config.classifier, config.classifier)}"
    return ARCH_TITLES.get(config.model.arch, config.model.arch)
