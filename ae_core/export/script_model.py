"""The model part of an exported script: the encoder, the decoder and how they are put together.

Written layer for layer as ``ae_core.models.architectures`` builds them (the same layers in
the same order, so the same seed gives the same initial weights), in the style of the Keras
tutorials. Each function returns code for one config and writes only the options it uses.
"""

from __future__ import annotations

import math

from ae_core.config import CONV_ARCHS, ModelConfig, TrainConfig
from ae_core.export.script_schedule import scheduled

MASKING_NOISE = '''class MaskingNoise(layers.Layer):
    """Denoising: while training, switch each pixel off with probability `rate` (no rescaling)."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = RATE
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs[..., :1]), seed=self.seed_generator) >= self.rate
        return inputs * ops.cast(keep, inputs.dtype)
'''

SAMPLING = '''class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit (keras-io's vae.py)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon
'''


def _options(model: ModelConfig, activation: str | None = None, **extra: str) -> str:
    """A layer's keyword arguments as code: its activation, the weight penalty, and ``extra``."""
    parts = [] if activation is None else [f'activation="{activation}"']
    parts += [f"{key}={value}" for key, value in extra.items()]
    if model.l1_weight > 0 or model.l2_weight > 0:
        parts.append("kernel_regularizer=weight_penalty")
    return "".join(", " + part for part in parts)


def _hidden(layer: str, source: str, model: ModelConfig, *, activate: bool = True) -> list[str]:
    """A hidden layer, then batch norm (and its activation) and dropout, as the lab builds it."""
    lines = [f"x = {layer}({source})"]
    if model.batch_norm:
        lines.append("x = layers.BatchNormalization()(x)")
        if activate:
            lines.append(f'x = layers.Activation("{model.activation}")(x)')
    if model.dropout > 0:
        lines.append(f"x = layers.Dropout({model.dropout!r})(x)")
    return lines


def _hidden_activation(model: ModelConfig) -> str | None:
    return None if model.batch_norm else model.activation  # with batch norm, the activation comes after it


def _lstm_stack(sizes: tuple[int, ...], source: str, model: ModelConfig, *, last_sequences: bool) -> list[str]:
    lines: list[str] = []
    for index, units in enumerate(sizes):
        sequences = last_sequences or index < len(sizes) - 1
        option = {"return_sequences": "True"} if sequences else {}
        lines += _hidden(f"layers.LSTM({units}{_options(model, **option)})", source, model, activate=False)
        source = "x"
    return lines


def encoder_section(config: TrainConfig) -> str:
    """``encoder``: image -> code (or -> [z_mean, z_log_var] for a VAE)."""
    model, (height, width, channels) = config.model, config.image_shape
    lines = [f"encoder_inputs = keras.Input(shape=({height}, {width}, {channels}))"]
    source = "encoder_inputs"
    if model.arch in CONV_ARCHS:
        for filters in model.conv_filters:
            conv = f"layers.Conv2D({filters}, 3, strides=2, padding=\"same\"{_options(model, _hidden_activation(model))})"
            lines += _hidden(conv, source, model)
            source = "x"
        lines.append("x = layers.Flatten()(x)")
    elif model.arch == "lstm":
        lines.append(f"x = layers.Reshape(({height}, {width * channels}))(encoder_inputs)  # one image row per time step")
        lines += _lstm_stack(model.hidden_sizes, "x", model, last_sequences=False)
    else:
        lines.append("x = layers.Flatten()(encoder_inputs)")
        for units in () if model.arch == "dense" else model.hidden_sizes:
            lines += _hidden(f"layers.Dense({units}{_options(model, _hidden_activation(model))})", "x", model)
    sparse = {"activity_regularizer": f"keras.regularizers.L1({model.l1_activity!r})"} if model.l1_activity > 0 else {}
    if model.is_variational:
        lines += [f"z_mean = layers.Dense(LATENT_DIM{_options(model, **sparse)}, name=\"z_mean\")(x)",
                  f"z_log_var = layers.Dense(LATENT_DIM{_options(model)}, name=\"z_log_var\")(x)",
                  'encoder = keras.Model(encoder_inputs, [z_mean, z_log_var], name="encoder")']
    else:
        comment = "  # sparse code: an L1 penalty on its activity" if sparse else ""
        lines += [f"code = layers.Dense(LATENT_DIM{_options(model, model.activation, **sparse)})(x){comment}",
                  'encoder = keras.Model(encoder_inputs, code, name="encoder")']
    lines.append("encoder.summary()")
    return "\n".join(lines)


def decoder_section(config: TrainConfig) -> str:
    """``decoder``: code -> image."""
    model, (height, width, channels) = config.model, config.image_shape
    lines = ["latent_inputs = keras.Input(shape=(LATENT_DIM,))"]
    if model.arch in CONV_ARCHS:
        factor = 2 ** len(model.conv_filters)
        grid = (height // factor, width // factor, model.conv_filters[-1])
        lines += [f"x = layers.Dense({' * '.join(map(str, grid))}{_options(model, model.activation)})(latent_inputs)",
                  f"x = layers.Reshape({grid})(x)"]
        for filters in reversed(model.conv_filters):
            lines += _hidden(f"layers.Conv2DTranspose({filters}, 3, strides=2, padding=\"same\""
                             f"{_options(model, _hidden_activation(model))})", "x", model)
        lines.append(f"decoder_outputs = layers.Conv2D({channels}, 3, padding=\"same\""
                     f"{_options(model, model.output_activation)})(x)")
    elif model.arch == "lstm":
        sizes = model.decoder_sizes
        lines += [f"x = layers.Dense({sizes[0]}{_options(model, model.activation)})(latent_inputs)",
                  f"x = layers.RepeatVector({height})(x)  # the code, once per image row"]
        lines += _lstm_stack(sizes, "x", model, last_sequences=True)
        lines += [f"x = layers.Dense({width * channels}{_options(model, model.output_activation)})(x)"
                  "  # applied to every row",
                  f"decoder_outputs = layers.Reshape(({height}, {width}, {channels}))(x)"]
    else:
        source = "latent_inputs"
        for units in () if model.arch == "dense" else model.decoder_sizes:
            lines += _hidden(f"layers.Dense({units}{_options(model, _hidden_activation(model))})", source, model)
            source = "x"
        lines += [f"x = layers.Dense({math.prod(config.image_shape)}{_options(model, model.output_activation)})"
                  f"({source})",
                  f"decoder_outputs = layers.Reshape(({height}, {width}, {channels}))(x)"]
    lines += ['decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")', "decoder.summary()"]
    return "\n".join(lines)


def masking_noise(config: TrainConfig) -> str:
    """The ``MaskingNoise`` layer's class; its rate a variable when the run's noise level changed mid-run."""
    changing = "noise_level" in scheduled(config)
    return MASKING_NOISE.replace("self.rate = RATE", 'self.rate = keras.Variable(rate, trainable=False, name="noise_level")'
                                 if changing else "self.rate = rate")


def _noise_layer(config: TrainConfig) -> str:
    # Keras's GaussianNoise unless the level changed mid-run: then the script's own (script_schedule).
    keras_layer = config.model.noise == "gaussian" and "noise_level" not in scheduled(config)
    layer = "GaussianNoise" if config.model.noise == "gaussian" else "MaskingNoise"
    return f"{'layers.' if keras_layer else ''}{layer}(NOISE_LEVEL, seed=SEED)"


def autoencoder_section(config: TrainConfig) -> str:
    """``autoencoder``: the encoder and decoder in a row (after a noise layer when denoising)."""
    height, width, channels = config.image_shape
    lines = [f"inputs = keras.Input(shape=({height}, {width}, {channels}))"]
    source = "inputs"
    if config.model.noise != "none":
        lines.append(f"noise = {_noise_layer(config)}  # denoising: noise only while training")
        lines.append("noisy = noise(inputs)")
        source = "noisy"
    lines.append(f'autoencoder = keras.Model(inputs, decoder(encoder({source})), name="autoencoder")')
    return "\n".join(lines)


def vae_class(config: TrainConfig) -> str:
    """The VAE model class (keras-io's, with the lab's β, loss and noise) and ``vae`` built from it."""
    model = config.model
    if model.loss == "bce":
        per_pixel = "ops.binary_crossentropy(targets, reconstruction)"
    else:
        per_pixel = "ops.square(targets - reconstruction)"
    extra_init = f"\n        self.noise = {_noise_layer(config)}  # denoising" if model.noise != "none" else ""
    beta = "BETA"
    if "beta" in scheduled(config):
        beta = "self.beta"
        extra_init += '\n        self.beta = keras.Variable(BETA, trainable=False, name="beta")  # SCHEDULE changes it'
    noise_call = "\n        inputs = self.noise(inputs, training=training)" if model.noise != "none" else ""
    penalised = model.l1_weight > 0 or model.l2_weight > 0 or model.l1_activity > 0
    penalties = ("\n        total_loss = total_loss + ops.sum(self.encoder.losses + self.decoder.losses)"
                 "  # weight and activity penalties") if penalised else ""
    return f'''class VAE(keras.Model):
    """keras-io's VAE: the loss is the reconstruction loss plus BETA times the KL divergence."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder{extra_init}
        self.sampling = Sampling(seed=SEED)
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.mse_tracker = keras.metrics.Mean(name="mse")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker, self.mse_tracker]

    def call(self, inputs, training=False):
        z_mean, z_log_var = self.encoder(inputs)
        return self.decoder(z_mean)  # at inference, decode the mean code

    def loss_terms(self, data, training):
        inputs, targets = data{noise_call}
        z_mean, z_log_var = self.encoder(inputs, training=training)
        reconstruction = self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        # Summed over every pixel of an image, averaged over the batch.
        reconstruction_loss = ops.mean(ops.sum({per_pixel}, axis=(1, 2, 3)))
        kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
        total_loss = reconstruction_loss + {beta} * kl_loss{penalties}
        mse = ops.mean(ops.square(targets - reconstruction))
        return total_loss, reconstruction_loss, kl_loss, mse

    def update_trackers(self, total_loss, reconstruction_loss, kl_loss, mse):
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        self.mse_tracker.update_state(mse)
        return {{metric.name: metric.result() for metric in self.metrics}}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.loss_terms(data, training=True)
        grads = tape.gradient(terms[0], self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self.update_trackers(*terms)

    def test_step(self, data):
        return self.update_trackers(*self.loss_terms(data, training=False))


vae = VAE(encoder, decoder, name="vae")'''
