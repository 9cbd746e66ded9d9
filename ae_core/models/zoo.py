"""The model zoo: build, save and load autoencoders from a ``ModelConfig``.

Every model takes and returns images shaped (H, W, C) in [0, 1]; dense-type
models flatten inside and reshape at the end. A built model is an
``Autoencoder`` bundle: the compiled ``autoencoder``, its ``encoder`` (image ->
code; the mean for VAEs) and ``decoder``. Inside the autoencoder these are
sub-models named "encoder" and "decoder" (after a layer named "noise" when
denoising), so a loaded ``.keras`` file is taken apart again with ``get_layer``.

The layers of each architecture are in ``ae_core.models.architectures``.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ae_core.checks import check_choice, check_float, check_int, is_whole
from ae_core.config import MAX_LEARNING_RATE, MAX_SEED, OPTIMIZERS, ModelConfig, check_input_shape
from ae_core.models.architectures import build_decoder, build_encoder, build_noise_layer
from ae_core.models.vae import VariationalAutoencoder

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


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """The Keras optimizer for ``TrainConfig.optimizer`` (plain SGD: no momentum, as the reference material).

    Raises:
        ValueError: for a name that is not in ``OPTIMIZERS``.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    classes = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    return classes[name](learning_rate=learning_rate)


def _check_arguments(model_config: Any, image_shape: Any, optimizer: Any, learning_rate: Any, seed: Any,
                     compile_options: dict[str, Any]) -> tuple[int, int, int]:
    if not isinstance(model_config, ModelConfig):
        raise ValueError(f"model_config must be a ModelConfig; got {model_config!r}")
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else ()
    if len(shape) != 3 or any(not is_whole(v) or v < 1 for v in shape):
        raise ValueError(f"image_shape must be three positive whole numbers (H, W, C); got {image_shape!r}")
    shape = tuple(int(v) for v in shape)
    # The same rules and messages as TrainConfig, which usually supplies these values.
    make_optimizer(optimizer, 1.0)  # checks the name with the config's rule
    check_float("learning_rate", learning_rate, 0.0, MAX_LEARNING_RATE, open_low=True)
    check_int("seed", seed, 0, MAX_SEED)
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
    shape = _check_arguments(model_config, image_shape, optimizer, learning_rate, seed, compile_options)
    optimizer_instance = make_optimizer(optimizer, float(learning_rate))
    keras.utils.set_random_seed(seed)
    encoder, decoder = build_encoder(model_config, shape), build_decoder(model_config, shape)
    noise = build_noise_layer(model_config, seed)
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
        encoder = keras.Model(encoder.input, encoder.outputs[0], name="mean_encoder")
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


def live_settings(bundle: Autoencoder) -> dict[str, Any]:
    """The variables a run's changes assign (``ae_core.changes.CHANGEABLE``), by field, where the model has them.

    ``learning_rate`` is the optimizer's; ``beta`` a VAE's; ``noise_level`` the noise layer's
    (absent for a model saved before noise levels could change, whose Keras ``GaussianNoise`` has none).
    """
    model = bundle.autoencoder
    found: dict[str, Any] = {"learning_rate": model.optimizer.learning_rate}
    if isinstance(model, VariationalAutoencoder):
        found["beta"] = model.beta_setting.variable
    try:
        level = getattr(model.get_layer("noise"), "level", None)
    except ValueError:  # no noise layer
        level = None
    if level is not None:
        found["noise_level"] = level.variable
    return found


def count_parameters(bundle: Autoencoder) -> dict[str, int]:
    """Weights in the encoder, decoder and whole model (a VAE's encoder counts its log-variance head)."""
    return {"encoder": int(bundle.autoencoder.get_layer("encoder").count_params()),
            "decoder": int(bundle.decoder.count_params()), "total": int(bundle.autoencoder.count_params())}


def _check_keras_path(path: str | os.PathLike[str]) -> Path:
    if Path(path).suffix != ".keras":
        raise ValueError(f"path must end with '.keras'; got {str(path)!r}")
    return Path(path)


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
    optimizer = bundle.autoencoder.optimizer
    if not optimizer.built:
        # An untrained model's optimizer has no slots yet; creating them (all
        # zero) now keeps the saved state the shape that loading expects.
        optimizer.build(bundle.autoencoder.trainable_variables)
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
