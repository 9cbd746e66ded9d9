"""The model zoo: build, save and load autoencoders from a ``ModelConfig``.

Every model takes and returns images shaped (H, W, C) in [0, 1]; dense-type
models flatten inside and reshape at the end. A built model is an
``Autoencoder`` bundle: the compiled ``autoencoder``, its ``encoder`` (image ->
code; the mean for VAEs) and ``decoder``. Inside the autoencoder these are
sub-models named "encoder" and "decoder" (after a layer named "noise" when
denoising), so a loaded ``.keras`` file is taken apart again with ``get_layer``.

Conventions for every architecture: a hidden layer is linear -> batch norm ->
activation -> dropout (the last two optional); the code layer uses
``activation`` (linear for a VAE's mean and log-variance) and carries the
sparse L1 activity penalty; every kernel carries the L1/L2 weight penalty.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ae_core.config import CONV_ARCHS, OPTIMIZERS, ModelConfig, check_input_shape
from ae_core.layers import MaskingNoise
from ae_core.vae import VariationalAutoencoder

# The ModelConfig travels inside the .keras zip under this name; Keras ignores it.
_CONFIG_ENTRY = "ae_lab_model_config.json"
_RESERVED_COMPILE_KEYS = frozenset({"optimizer", "loss", "metrics"})


@dataclass(frozen=True)
class Autoencoder:
    """A built model: the trainable autoencoder and its two halves.

    Attributes:
        autoencoder: compiled model, image -> reconstruction.
        encoder: image -> code (the mean code for variational models).
        decoder: code -> image.
        config: the ``ModelConfig`` it was built from.
    """

    autoencoder: keras.Model
    encoder: keras.Model
    decoder: keras.Model
    config: ModelConfig


def _kernel_penalty(config: ModelConfig) -> keras.regularizers.Regularizer | None:
    if config.l1_weight == 0.0 and config.l2_weight == 0.0:
        return None
    return keras.regularizers.L1L2(l1=config.l1_weight, l2=config.l2_weight)


def _hidden(layer: keras.layers.Layer, x: Any, config: ModelConfig, *, activate: bool = True) -> Any:
    """A hidden layer's linear part, then batch norm, activation and dropout.

    LSTM layers pass ``activate=False``: they apply their own tanh inside.
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
    return layer_class(filters, 3, strides=2, padding="same", kernel_regularizer=_kernel_penalty(config), name=name)


def _lstm_stack(x: Any, sizes: tuple[int, ...], config: ModelConfig, prefix: str, *, last_sequences: bool) -> Any:
    for index, units in enumerate(sizes):
        sequences = last_sequences or index < len(sizes) - 1
        layer = keras.layers.LSTM(units, return_sequences=sequences, kernel_regularizer=_kernel_penalty(config),
                                  name=f"{prefix}_lstm_{index}")
        x = _hidden(layer, x, config, activate=False)
    return x


def _build_encoder(config: ModelConfig, image_shape: tuple[int, int, int]) -> keras.Model:
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
            x = _hidden(_dense(units, config, f"encoder_dense_{index}"), x, config)
    sparse = keras.regularizers.L1(config.l1_activity) if config.l1_activity > 0.0 else None
    if config.is_variational:
        outputs = [_dense(config.latent_dim, config, "z_mean", activity_regularizer=sparse)(x),
                   _dense(config.latent_dim, config, "z_log_var")(x)]
    else:
        outputs = _dense(config.latent_dim, config, "code", config.activation, activity_regularizer=sparse)(x)
    return keras.Model(inputs, outputs, name="encoder")


def _build_decoder(config: ModelConfig, image_shape: tuple[int, int, int]) -> keras.Model:
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
            x = _hidden(_dense(units, config, f"decoder_dense_{index}"), x, config)
        x = _dense(height * width * channels, config, "pixels_out", config.output_activation)(x)
    outputs = keras.layers.Reshape(image_shape, name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="decoder")


def _noise_layer(config: ModelConfig, seed: int) -> keras.layers.Layer | None:
    if config.noise == "gaussian":
        return keras.layers.GaussianNoise(config.noise_level, seed=seed, name="noise")
    if config.noise == "masking":
        return MaskingNoise(config.noise_level, seed=seed, name="noise")
    return None


def _optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}; got {name!r}")
    classes = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    return classes[name](learning_rate=learning_rate)


def _check_arguments(model_config: Any, image_shape: Any, learning_rate: Any, seed: Any,
                     compile_options: dict[str, Any]) -> tuple[int, int, int]:
    if not isinstance(model_config, ModelConfig):
        raise ValueError(f"model_config must be a ModelConfig; got {model_config!r}")
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else ()
    if len(shape) != 3 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape):
        raise ValueError(f"image_shape must be three positive whole numbers (H, W, C); got {image_shape!r}")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not (
            math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number; got {learning_rate!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise ValueError(f"seed must be a whole number from 0 to {2**31 - 1}; got {seed!r}")
    reserved = sorted(_RESERVED_COMPILE_KEYS & set(compile_options))
    if reserved:
        raise ValueError(f"compile_options must not set {reserved[0]!r}; it comes from the config")
    check_input_shape(model_config, shape)
    return shape  # type: ignore[return-value]


def build_autoencoder(model_config: ModelConfig, image_shape: tuple[int, int, int], *, optimizer: str = "adam",
                      learning_rate: float = 1e-3, seed: int = 0,
                      compile_options: dict[str, Any] | None = None) -> Autoencoder:
    """Build and compile the autoencoder described by ``model_config``.

    Args:
        model_config: the architecture and its knobs.
        image_shape: (H, W, C) of the images the model sees.
        optimizer: "adam", "sgd" (plain, no momentum) or "rmsprop".
        learning_rate: the optimizer's learning rate (> 0).
        seed: seeds Python, NumPy and Keras before building, so the same seed
            gives identical initial weights (and noise/sampling sequences).
        compile_options: extra ``model.compile`` keyword arguments, such as
            ``steps_per_execution`` or ``jit_compile``.

    Returns:
        The compiled ``Autoencoder`` bundle. Its logs have the keys ``loss``
        and ``mse``, plus ``reconstruction_loss`` and ``kl_loss`` for VAEs.

    Raises:
        ValueError: for an unknown optimizer, a bad learning rate, seed or
            image shape, or convolution strides that cannot divide the image.
    """
    compile_options = dict(compile_options or {})
    shape = _check_arguments(model_config, image_shape, learning_rate, seed, compile_options)
    keras.utils.set_random_seed(seed)
    encoder = _build_encoder(model_config, shape)
    decoder = _build_decoder(model_config, shape)
    noise = _noise_layer(model_config, seed)
    optimizer_instance = _optimizer(optimizer, float(learning_rate))
    if model_config.is_variational:
        autoencoder: keras.Model = VariationalAutoencoder(
            encoder, decoder, beta=model_config.beta, reconstruction=model_config.loss, noise=noise, seed=seed,
            name=f"{model_config.arch}_autoencoder")
        autoencoder.compile(optimizer=optimizer_instance, **compile_options)
    else:
        inputs = keras.Input(shape, name="image")
        x = inputs if noise is None else noise(inputs)
        autoencoder = keras.Model(inputs, decoder(encoder(x)), name=f"{model_config.arch}_autoencoder")
        loss = keras.losses.BinaryCrossentropy() if model_config.loss == "bce" else keras.losses.MeanSquaredError()
        autoencoder.compile(optimizer=optimizer_instance, loss=loss, metrics=["mse"], **compile_options)
    return _bundle(autoencoder, model_config)


def _bundle(autoencoder: keras.Model, config: ModelConfig) -> Autoencoder:
    """Take a (built or loaded) autoencoder apart into the public bundle."""
    encoder = autoencoder.get_layer("encoder")
    if config.is_variational:
        # The public encoder gives the mean code, the VAE's best point estimate.
        encoder = keras.Model(encoder.inputs, encoder.outputs[0], name="mean_encoder")
    return Autoencoder(autoencoder=autoencoder, encoder=encoder, decoder=autoencoder.get_layer("decoder"),
                       config=config)


def corrupt(bundle: Autoencoder, x: np.ndarray, seed: int | None = None) -> np.ndarray:
    """Apply the model's input noise, as in training, to float images in [0, 1].

    Args:
        bundle: a built or loaded autoencoder.
        x: images shaped (N, H, W, C), float in [0, 1].
        seed: when given, a fresh copy of the noise layer with this seed is
            used, so the same seed gives the same corruption; otherwise the
            model's own layer draws the next noise.

    Returns:
        The corrupted images (Gaussian noise may leave [0, 1]), or ``x``
        itself when the model has no noise layer.
    """
    try:
        layer = bundle.autoencoder.get_layer("noise")
    except ValueError:
        return x
    if seed is not None:
        layer = type(layer).from_config({**layer.get_config(), "seed": seed})
    images = keras.ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    return np.asarray(keras.ops.convert_to_numpy(layer(images, training=True)))


def count_parameters(bundle: Autoencoder) -> dict[str, int]:
    """Weights in the encoder, decoder and whole model (a VAE's encoder counts its log-variance head)."""
    return {"encoder": int(bundle.autoencoder.get_layer("encoder").count_params()),
            "decoder": int(bundle.decoder.count_params()), "total": int(bundle.autoencoder.count_params())}


def _check_keras_path(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.suffix != ".keras":
        raise ValueError(f"path must end with '.keras'; got {str(target)!r}")
    return target


def save_autoencoder(bundle: Autoencoder, path: str | os.PathLike[str]) -> None:
    """Save the autoencoder, its optimizer state and its config to one file.

    The file is written next to ``path`` first and then moved into place, so
    a checkpoint is never left half-written if the process is killed.

    Args:
        bundle: the model to save.
        path: destination ending in ``.keras``; an existing file is replaced.

    Raises:
        ValueError: when ``path`` does not end with ``.keras``.
    """
    target = _check_keras_path(path)
    partial = target.with_name(f".{target.stem}.partial.keras")
    bundle.autoencoder.save(partial, overwrite=True)
    with zipfile.ZipFile(partial, "a") as archive:
        archive.writestr(_CONFIG_ENTRY, json.dumps(asdict(bundle.config)))
    os.replace(partial, target)


def load_autoencoder(path: str | os.PathLike[str]) -> Autoencoder:
    """Load a file written by ``save_autoencoder``, compiled and ready to train on.

    Args:
        path: a ``.keras`` file from ``save_autoencoder``.

    Returns:
        The bundle with weights and optimizer state restored.

    Raises:
        FileNotFoundError: when there is no file at ``path``.
        ValueError: when the path does not end with ``.keras`` or the file was
            not written by ``save_autoencoder``.
    """
    source = _check_keras_path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no saved model at {str(source)!r}")
    try:
        with zipfile.ZipFile(source) as archive:
            raw = json.loads(archive.read(_CONFIG_ENTRY))
        config = ModelConfig(**{key: tuple(value) if isinstance(value, list) else value
                                for key, value in raw.items()})
    except (zipfile.BadZipFile, KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
        raise ValueError(f"{str(source)!r} is not a model saved by Autoencoder Lab ({error})") from error
    autoencoder = keras.saving.load_model(source, compile=True)
    return _bundle(autoencoder, config)
