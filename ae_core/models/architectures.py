"""The architectures of the model zoo: encoder, decoder and noise layers from a ``ModelConfig``.

Conventions for every architecture: a hidden layer applies ``activation``
itself, or with batch norm is linear -> BatchNormalization -> activation; then
optional dropout. The code layer uses ``activation`` (linear for a VAE's mean
and log-variance) and carries the sparse L1 activity penalty; every kernel
carries the L1/L2 weight penalty. ``ae_core.models.zoo`` assembles and compiles them.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from ae_core.config import CONV_ARCHS, ModelConfig
from ae_core.models.layers import LevelGaussianNoise, MaskingNoise


def _kernel_penalty(config: ModelConfig) -> keras.regularizers.Regularizer | None:
    penalised = config.l1_weight > 0.0 or config.l2_weight > 0.0
    return keras.regularizers.L1L2(l1=config.l1_weight, l2=config.l2_weight) if penalised else None


def _hidden_activation(config: ModelConfig) -> str | None:
    return None if config.batch_norm else config.activation


def _hidden(layer: keras.layers.Layer, x: Any, config: ModelConfig, *, activate: bool = True) -> Any:
    """Apply a hidden layer, then batch norm + activation (if batch_norm) and dropout.

    Without batch norm the layer applies ``activation`` itself, so a reference
    model reads "Dense(64, relu)". LSTM layers keep their own tanh inside.
    """
    x = layer(x)
    if config.batch_norm:
        x = keras.layers.BatchNormalization(name=f"{layer.name}_bn")(x)
        if activate:
            x = keras.layers.Activation(config.activation, name=f"{layer.name}_act")(x)
    if config.dropout > 0.0:
        x = keras.layers.Dropout(config.dropout, name=f"{layer.name}_dropout")(x)
    return x


def _dense(units: int, config: ModelConfig, name: str, activation: str | None = None,
           **kwargs: Any) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation, kernel_regularizer=_kernel_penalty(config), name=name,
                              **kwargs)


def _conv(filters: int, config: ModelConfig, name: str, *, transpose: bool) -> keras.layers.Layer:
    layer_class = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    return layer_class(filters, 3, strides=2, padding="same", activation=_hidden_activation(config),
                       kernel_regularizer=_kernel_penalty(config), name=name)


def _lstm_stack(x: Any, sizes: tuple[int, ...], config: ModelConfig, prefix: str, *, last_sequences: bool) -> Any:
    for index, units in enumerate(sizes):
        sequences = last_sequences or index < len(sizes) - 1
        layer = keras.layers.LSTM(units, return_sequences=sequences, kernel_regularizer=_kernel_penalty(config),
                                  name=f"{prefix}_lstm_{index}")
        x = _hidden(layer, x, config, activate=False)
    return x


def build_encoder(config: ModelConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Image -> code, or image -> [z_mean, z_log_var] for variational models."""
    height, width, channels = image_shape
    inputs = keras.Input(image_shape, name="encoder_input")
    if config.arch in CONV_ARCHS:
        x = inputs
        for index, filters in enumerate(config.conv_filters):
            x = _hidden(_conv(filters, config, f"encoder_conv_{index}", transpose=False), x, config)
        x = keras.layers.Flatten(name="flatten")(x)
    elif config.arch == "lstm":
        x = keras.layers.Reshape((height, width * channels), name="rows")(inputs)
        x = _lstm_stack(x, config.hidden_sizes, config, "encoder", last_sequences=False)
    else:
        x = keras.layers.Flatten(name="flatten")(inputs)
        for index, units in enumerate(() if config.arch == "dense" else config.hidden_sizes):
            x = _hidden(_dense(units, config, f"encoder_dense_{index}", _hidden_activation(config)), x, config)
    sparse = keras.regularizers.L1(config.l1_activity) if config.l1_activity > 0.0 else None
    if config.is_variational:
        outputs = [_dense(config.latent_dim, config, "z_mean", activity_regularizer=sparse)(x),
                   _dense(config.latent_dim, config, "z_log_var")(x)]
    else:
        outputs = _dense(config.latent_dim, config, "code", config.activation, activity_regularizer=sparse)(x)
    return keras.Model(inputs, outputs, name="encoder")


def build_decoder(config: ModelConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Code -> image of ``image_shape``."""
    height, width, channels = image_shape
    inputs = keras.Input((config.latent_dim,), name="decoder_input")
    if config.arch in CONV_ARCHS:
        factor = 2 ** len(config.conv_filters)
        grid = (height // factor, width // factor, config.conv_filters[-1])
        x = _dense(math.prod(grid), config, "decoder_dense", config.activation)(inputs)
        x = keras.layers.Reshape(grid, name="decoder_grid")(x)
        for index, filters in enumerate(reversed(config.conv_filters)):
            x = _hidden(_conv(filters, config, f"decoder_conv_{index}", transpose=True), x, config)
        outputs = keras.layers.Conv2D(channels, 3, padding="same", activation=config.output_activation,
                                      kernel_regularizer=_kernel_penalty(config), name="reconstruction")(x)
        return keras.Model(inputs, outputs, name="decoder")
    if config.arch == "lstm":
        sizes = config.decoder_sizes
        x = _dense(sizes[0], config, "decoder_dense", config.activation)(inputs)
        x = keras.layers.RepeatVector(height, name="repeat_rows")(x)
        x = _lstm_stack(x, sizes, config, "decoder", last_sequences=True)
        # A Dense layer on a sequence applies to every time step, like TimeDistributed(Dense).
        x = _dense(width * channels, config, "rows_out", config.output_activation)(x)
    else:
        x = inputs
        for index, units in enumerate(() if config.arch == "dense" else config.decoder_sizes):
            x = _hidden(_dense(units, config, f"decoder_dense_{index}", _hidden_activation(config)), x, config)
        x = _dense(height * width * channels, config, "pixels_out", config.output_activation)(x)
    outputs = keras.layers.Reshape(image_shape, name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="decoder")


def build_noise_layer(config: ModelConfig, seed: int) -> keras.layers.Layer | None:
    if config.noise == "gaussian":
        return LevelGaussianNoise(config.noise_level, seed=seed, name="noise")
    if config.noise == "masking":
        return MaskingNoise(config.noise_level, seed=seed, name="noise")
    return None
