"""Tests for the model zoo: ae_core.models.zoo, ae_core.models.vae and ae_core.models.layers.

Models are tiny (a few dozen units) and data is 8 random images, so the whole
file runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import math
import warnings
import zipfile

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ae_core.config import ARCHS, ModelConfig  # noqa: E402
from ae_core.models.layers import MaskingNoise, Sampling  # noqa: E402
from ae_core.models.zoo import (  # noqa: E402
    Autoencoder,
    build_autoencoder,
    corrupt,
    count_parameters,
    load_autoencoder,
    save_autoencoder,
)

MNIST_SHAPE = (28, 28, 1)
CIFAR_SHAPE = (32, 32, 3)
NUM_IMAGES = 8
VAE_KEYS = {"loss", "reconstruction_loss", "kl_loss", "mse"}


def small_config(arch: str, **changes: object) -> ModelConfig:
    """A tiny model of ``arch`` so every test stays fast."""
    values: dict[str, object] = dict(arch=arch, latent_dim=3, hidden_sizes=(8,), conv_filters=(4, 8), loss="mse")
    values.update(changes)
    return ModelConfig(**values)  # type: ignore[arg-type]


def images(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((NUM_IMAGES, *shape)).astype("float32")


def as_numpy(tensor: object) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def dense_layers(bundle: Autoencoder) -> list[tuple[int, str]]:
    """(units, activation) of every Dense layer, encoder first then decoder."""
    layers = bundle.autoencoder.get_layer("encoder").layers + bundle.decoder.layers
    return [(layer.units, layer.activation.__name__) for layer in layers if isinstance(layer, keras.layers.Dense)]


CASES = [(arch, shape) for arch in ARCHS for shape in (MNIST_SHAPE, CIFAR_SHAPE)]


@pytest.fixture(scope="module", params=CASES, ids=[f"{arch}-{shape[0]}x{shape[1]}x{shape[2]}" for arch, shape in CASES])
def trained(request: pytest.FixtureRequest) -> tuple[Autoencoder, dict[str, float], np.ndarray]:
    """One model per (arch, image shape), after a single training step."""
    arch, shape = request.param
    bundle = build_autoencoder(small_config(arch), shape, seed=1)
    x = images(shape)
    logs = bundle.autoencoder.train_on_batch(x, x, return_dict=True)
    return bundle, logs, x


def test_encoder_and_decoder_shapes(trained: tuple[Autoencoder, dict[str, float], np.ndarray]) -> None:
    bundle, _, x = trained
    codes = as_numpy(bundle.encoder(x))
    assert codes.shape == (NUM_IMAGES, 3)
    decoded = as_numpy(bundle.decoder(codes))
    assert decoded.shape == x.shape
    reconstruction = as_numpy(bundle.autoencoder(x, training=False))
    assert reconstruction.shape == x.shape
    assert reconstruction.min() >= 0.0 and reconstruction.max() <= 1.0
    # At inference the autoencoder is exactly decoder(encoder(x)), VAEs included (they decode the mean).
    np.testing.assert_allclose(reconstruction, decoded, rtol=1e-5, atol=1e-6)


def test_one_training_step_gives_finite_loss_with_keras_log_keys(
        trained: tuple[Autoencoder, dict[str, float], np.ndarray]) -> None:
    bundle, logs, _ = trained
    expected = VAE_KEYS if bundle.config.is_variational else {"loss", "mse"}
    assert set(logs) == expected
    assert all(math.isfinite(float(value)) for value in logs.values())
    assert int(bundle.autoencoder.optimizer.iterations) == 1


def test_save_load_round_trip(trained: tuple[Autoencoder, dict[str, float], np.ndarray], tmp_path) -> None:
    bundle, _, x = trained
    path = tmp_path / "model.keras"
    save_autoencoder(bundle, path)
    loaded = load_autoencoder(path)
    assert loaded.config == bundle.config
    codes = as_numpy(bundle.encoder(x))
    np.testing.assert_array_equal(as_numpy(loaded.encoder(x)), codes)
    np.testing.assert_array_equal(as_numpy(loaded.decoder(codes)), as_numpy(bundle.decoder(codes)))
    np.testing.assert_array_equal(as_numpy(loaded.autoencoder(x, training=False)),
                                  as_numpy(bundle.autoencoder(x, training=False)))
    # The optimizer state comes back too, so training can resume where it stopped.
    original_state = bundle.autoencoder.optimizer.variables
    loaded_state = loaded.autoencoder.optimizer.variables
    assert len(loaded_state) == len(original_state) > 1
    for original, restored in zip(original_state, loaded_state):
        np.testing.assert_array_equal(as_numpy(restored), as_numpy(original))


def test_resumed_training_continues_exactly(tmp_path) -> None:
    x = images(MNIST_SHAPE)
    bundle = build_autoencoder(small_config("deep"), MNIST_SHAPE, optimizer="rmsprop", learning_rate=0.01,
                               compile_options={"steps_per_execution": 2})
    bundle.autoencoder.train_on_batch(x, x)
    save_autoencoder(bundle, tmp_path / "checkpoint.keras")
    loaded = load_autoencoder(tmp_path / "checkpoint.keras")
    assert isinstance(loaded.autoencoder.optimizer, keras.optimizers.RMSprop)
    assert loaded.autoencoder.steps_per_execution == 2
    bundle.autoencoder.train_on_batch(x, x)
    loaded.autoencoder.train_on_batch(x, x)
    for original, restored in zip(bundle.autoencoder.get_weights(), loaded.autoencoder.get_weights()):
        np.testing.assert_array_equal(restored, original)


@pytest.mark.parametrize("arch", ["dense", "conv", "vae", "lstm"])
@pytest.mark.parametrize("noise,level", [("gaussian", 0.3), ("masking", 0.5)])
def test_denoising_corrupts_inputs_only_in_training(arch: str, noise: str, level: float) -> None:
    bundle = build_autoencoder(small_config(arch, noise=noise, noise_level=level), CIFAR_SHAPE)
    x = images(CIFAR_SHAPE)
    assert bundle.autoencoder.get_layer("noise") is not None
    noisy = corrupt(bundle, x, seed=7)
    assert noisy.shape == x.shape and not np.allclose(noisy, x)
    np.testing.assert_array_equal(corrupt(bundle, x, seed=7), noisy)
    # Inference ignores the noise, and the public encoder never sees it.
    np.testing.assert_allclose(as_numpy(bundle.autoencoder(x, training=False)),
                               as_numpy(bundle.decoder(bundle.encoder(x))), rtol=1e-5, atol=1e-6)
    logs = bundle.autoencoder.train_on_batch(x, x, return_dict=True)
    assert math.isfinite(logs["loss"])


def test_masking_noise_zeroes_whole_pixels_without_rescaling() -> None:
    x = images(CIFAR_SHAPE) + 0.1  # No pixel is zero before masking.
    masked = as_numpy(MaskingNoise(0.3, seed=3)(x, training=True))
    zeroed = masked == 0.0
    # All channels of a pixel are switched off together, and survivors keep their values.
    assert np.array_equal(zeroed.all(axis=-1), zeroed.any(axis=-1))
    np.testing.assert_array_equal(masked[~zeroed], x[~zeroed])
    assert 0.25 < zeroed[..., 0].mean() < 0.35
    np.testing.assert_array_equal(as_numpy(MaskingNoise(0.3, seed=3)(x, training=False)), x)


def test_model_without_noise_returns_inputs_from_corrupt() -> None:
    bundle = build_autoencoder(small_config("dense"), MNIST_SHAPE)
    x = images(MNIST_SHAPE)
    assert corrupt(bundle, x) is x
    with pytest.raises(ValueError):
        bundle.autoencoder.get_layer("noise")


@pytest.mark.parametrize("arch", ["dense", "conv", "vae"])
def test_sparse_code_adds_the_l1_activity_penalty(arch: str) -> None:
    x = images(MNIST_SHAPE)
    plain = build_autoencoder(small_config(arch), MNIST_SHAPE, seed=5)
    sparse = build_autoencoder(small_config(arch, l1_activity=0.5), MNIST_SHAPE, seed=5)
    codes = as_numpy(sparse.encoder(x))
    penalty = 0.5 * np.abs(codes).sum() / NUM_IMAGES  # Keras divides activity penalties by the batch size.
    assert penalty > 0
    plain_loss = plain.autoencoder.test_on_batch(x, x, return_dict=True)
    sparse_loss = sparse.autoencoder.test_on_batch(x, x, return_dict=True)
    assert sparse_loss["mse"] == pytest.approx(plain_loss["mse"], rel=1e-5)
    if not plain.config.is_variational:  # A VAE's sampled loss is compared in test_vae_* instead.
        assert sparse_loss["loss"] - plain_loss["loss"] == pytest.approx(penalty, rel=1e-3)
    assert sparse_loss["loss"] > plain_loss["loss"]


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_vae_logs_and_per_image_sum_reconstruction_loss(loss: str) -> None:
    x = images(MNIST_SHAPE)
    bundle = build_autoencoder(small_config("vae", loss=loss, beta=2.0), MNIST_SHAPE, seed=3)
    logs = bundle.autoencoder.test_on_batch(x, x, return_dict=True)
    assert set(logs) == VAE_KEYS
    assert logs["kl_loss"] > 0
    assert logs["loss"] == pytest.approx(logs["reconstruction_loss"] + 2.0 * logs["kl_loss"], rel=1e-5)
    if loss == "mse":
        # Summed over the 784 pixels of each image, then averaged over images.
        assert logs["reconstruction_loss"] == pytest.approx(784 * logs["mse"], rel=1e-4)
    history = bundle.autoencoder.fit(x, x, validation_data=(x, x), epochs=1, verbose=0).history
    assert {"val_loss", "val_reconstruction_loss", "val_kl_loss", "val_mse"} <= set(history)


def test_vae_beta_weights_the_kl_term() -> None:
    x = images(MNIST_SHAPE)
    results = {}
    for beta in (0.0, 4.0):
        bundle = build_autoencoder(small_config("conv_vae", beta=beta), MNIST_SHAPE, seed=2)
        results[beta] = bundle.autoencoder.test_on_batch(x, x, return_dict=True)
    # Same seed, so same weights and same samples: only the KL weight differs.
    assert results[0.0]["reconstruction_loss"] == pytest.approx(results[4.0]["reconstruction_loss"], rel=1e-6)
    assert results[0.0]["loss"] == pytest.approx(results[0.0]["reconstruction_loss"], rel=1e-6)
    assert results[4.0]["loss"] - results[0.0]["loss"] == pytest.approx(4.0 * results[4.0]["kl_loss"], rel=1e-4)


def test_vae_encoder_returns_the_mean_code() -> None:
    x = images(MNIST_SHAPE)
    bundle = build_autoencoder(small_config("vae", hidden_sizes=()), MNIST_SHAPE)
    z_mean, z_log_var = bundle.autoencoder.get_layer("encoder")(x)
    np.testing.assert_array_equal(as_numpy(bundle.encoder(x)), as_numpy(z_mean))
    assert not np.allclose(as_numpy(z_log_var), as_numpy(z_mean))


def test_sampling_layer_draws_around_the_mean() -> None:
    z_mean = np.full((2000, 2), 3.0, dtype="float32")
    z_log_var = np.full((2000, 2), math.log(0.25), dtype="float32")
    samples = as_numpy(Sampling(seed=1)([z_mean, z_log_var]))
    assert samples.mean() == pytest.approx(3.0, abs=0.05)
    assert samples.std() == pytest.approx(0.5, abs=0.05)
    np.testing.assert_array_equal(as_numpy(Sampling(seed=1)([z_mean, z_log_var])), samples)


@pytest.mark.parametrize("arch", ["dense", "conv_vae"])
def test_seed_fixes_initial_weights(arch: str) -> None:
    def weights(seed: int) -> list[np.ndarray]:
        return build_autoencoder(small_config(arch), MNIST_SHAPE, seed=seed).autoencoder.get_weights()

    first, again, other = weights(11), weights(11), weights(12)
    for left, right in zip(first, again):
        np.testing.assert_array_equal(left, right)
    assert any(not np.array_equal(left, right) for left, right in zip(first, other))


def test_reference_a_wide_dense_autoencoder() -> None:
    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=512, loss="mse"), MNIST_SHAPE)
    assert dense_layers(bundle) == [(512, "relu"), (784, "sigmoid")]
    assert count_parameters(bundle)["total"] == 784 * 512 + 512 + 512 * 784 + 784
    assert isinstance(bundle.autoencoder.optimizer, keras.optimizers.Adam)
    assert float(bundle.autoencoder.optimizer.learning_rate) == pytest.approx(1e-3)
    assert isinstance(bundle.autoencoder.loss, keras.losses.MeanSquaredError)


def test_reference_b_dense_autoencoder_with_sgd() -> None:
    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=32, loss="mse"), MNIST_SHAPE,
                               optimizer="sgd", learning_rate=0.01)
    assert dense_layers(bundle) == [(32, "relu"), (784, "sigmoid")]
    assert count_parameters(bundle)["total"] == 50_992
    assert isinstance(bundle.autoencoder.optimizer, keras.optimizers.SGD)
    assert float(bundle.autoencoder.optimizer.learning_rate) == pytest.approx(0.01)


def test_reference_c_deep_autoencoder_with_weight_penalty() -> None:
    config = ModelConfig(arch="deep", hidden_sizes=(16,), latent_dim=16, decoder_hidden_sizes=(), loss="mse",
                         l1_weight=1e-4, l2_weight=1e-3)
    bundle = build_autoencoder(config, MNIST_SHAPE)
    assert dense_layers(bundle) == [(16, "relu"), (16, "relu"), (784, "sigmoid")]
    assert count_parameters(bundle)["total"] == (784 * 16 + 16) + (16 * 16 + 16) + (16 * 784 + 784)
    # loss = MSE + lambda * R, with R the L1 and L2 norms of every kernel.
    kernels = [layer.kernel for layer in bundle.autoencoder.get_layer("encoder").layers + bundle.decoder.layers
               if isinstance(layer, keras.layers.Dense)]
    penalty = sum(1e-4 * np.abs(as_numpy(k)).sum() + 1e-3 * np.square(as_numpy(k)).sum() for k in kernels)
    x = images(MNIST_SHAPE)
    logs = bundle.autoencoder.test_on_batch(x, x, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["mse"] + penalty, rel=1e-4)


def test_reference_d_dense_autoencoder_with_bce() -> None:
    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=64, loss="bce"), MNIST_SHAPE)
    assert dense_layers(bundle) == [(64, "relu"), (784, "sigmoid")]
    assert count_parameters(bundle)["total"] == 101_200
    assert isinstance(bundle.autoencoder.loss, keras.losses.BinaryCrossentropy)


def test_reference_e_deep_autoencoder() -> None:
    config = ModelConfig(arch="deep", hidden_sizes=(64,), latent_dim=64, decoder_hidden_sizes=(), loss="mse")
    bundle = build_autoencoder(config, MNIST_SHAPE)
    assert dense_layers(bundle) == [(64, "relu"), (64, "relu"), (784, "sigmoid")]
    assert count_parameters(bundle) == {"encoder": 784 * 64 + 64 + 64 * 64 + 64, "decoder": 64 * 784 + 784,
                                        "total": 105_360}


def test_deep_decoder_mirrors_the_encoder_and_knobs_add_layers() -> None:
    config = small_config("deep", hidden_sizes=(32, 16), dropout=0.2, batch_norm=True, activation="tanh")
    bundle = build_autoencoder(config, MNIST_SHAPE)
    # With batch norm the hidden Dense layers are linear; an Activation follows the normalisation.
    assert dense_layers(bundle) == [(32, "linear"), (16, "linear"), (3, "tanh"), (16, "linear"), (32, "linear"),
                                    (784, "sigmoid")]
    layer_types = [type(layer).__name__ for layer in bundle.decoder.layers]
    assert layer_types.count("BatchNormalization") == 2 and layer_types.count("Dropout") == 2
    assert [layer.activation.__name__ for layer in bundle.decoder.layers if type(layer).__name__ == "Activation"] \
        == ["tanh", "tanh"]


def test_conv_and_lstm_layouts() -> None:
    conv = build_autoencoder(small_config("conv", conv_filters=(4, 8, 16)), CIFAR_SHAPE)
    conv_layers = [layer for layer in conv.autoencoder.get_layer("encoder").layers
                   if isinstance(layer, keras.layers.Conv2D)]
    assert [(layer.filters, layer.strides) for layer in conv_layers] == [(4, (2, 2)), (8, (2, 2)), (16, (2, 2))]
    assert conv.decoder.get_layer("decoder_grid").output.shape[1:] == (4, 4, 16)
    lstm = build_autoencoder(small_config("lstm", hidden_sizes=(12, 6)), CIFAR_SHAPE)
    encoder_lstms = [layer for layer in lstm.autoencoder.get_layer("encoder").layers
                     if isinstance(layer, keras.layers.LSTM)]
    assert [(layer.units, layer.return_sequences) for layer in encoder_lstms] == [(12, True), (6, False)]
    assert lstm.decoder.get_layer("repeat_rows").output.shape[1:] == (32, 6)


@pytest.mark.parametrize("make,match", [
    (lambda: build_autoencoder(ModelConfig(latent_dim=0), MNIST_SHAPE), "latent_dim"),
    (lambda: build_autoencoder(ModelConfig(arch="transformer"), MNIST_SHAPE), "arch"),
    (lambda: build_autoencoder(ModelConfig(dropout=-0.1), MNIST_SHAPE), "dropout"),
    (lambda: build_autoencoder(ModelConfig(noise="masking", noise_level=-0.2), MNIST_SHAPE), "noise_level"),
    (lambda: build_autoencoder(ModelConfig(arch="lstm", decoder_hidden_sizes=()), MNIST_SHAPE),
     "decoder_hidden_sizes"),
    (lambda: build_autoencoder(ModelConfig(arch="conv", conv_filters=(4, 4, 4)), MNIST_SHAPE),
     "conv_filters must be at most 2 blocks for 28x28"),
    (lambda: build_autoencoder(ModelConfig(), MNIST_SHAPE, optimizer="adagrad"), "optimizer"),
    (lambda: build_autoencoder(ModelConfig(), MNIST_SHAPE, learning_rate=-1.0), "learning_rate"),
    (lambda: build_autoencoder(ModelConfig(), (28, 28)), "image_shape"),
    (lambda: build_autoencoder(ModelConfig(), MNIST_SHAPE, compile_options={"loss": "mae"}), "compile_options"),
], ids=["latent-0", "unknown-arch", "negative-dropout", "negative-noise", "lstm-empty-decoder", "conv-strides",
        "optimizer", "learning-rate", "image-shape", "compile-options"])
def test_invalid_input_raises_value_error(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_save_and_load_files(tmp_path) -> None:
    bundle = build_autoencoder(small_config("dense"), MNIST_SHAPE)
    with pytest.raises(ValueError, match="path must end with '.keras'"):
        save_autoencoder(bundle, tmp_path / "model.h5")
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_autoencoder(tmp_path / "missing.keras")
    # A plain Keras file lacks the config this project stores alongside the model.
    bundle.autoencoder.save(tmp_path / "plain.keras")
    with pytest.raises(ValueError, match="not a model saved by Autoencoder Lab"):
        load_autoencoder(tmp_path / "plain.keras")
    save_autoencoder(bundle, tmp_path / "model.keras")
    assert "ae_lab_model_config.json" in zipfile.ZipFile(tmp_path / "model.keras").namelist()
    assert not list(tmp_path.glob(".*partial*"))
    # An untrained model loads cleanly too (Keras warns when optimizer state does not match).
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert load_autoencoder(tmp_path / "model.keras").config == bundle.config
