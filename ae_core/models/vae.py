"""The variational autoencoder: the one subclassed model in the zoo.

It follows keras-io's ``examples/generative/vae.py``: an encoder predicting
``z_mean`` and ``z_log_var``, a ``Sampling`` layer, a decoder, and a custom
``train_step`` that adds the KL divergence to the reconstruction loss, with
``keras.metrics.Mean`` trackers for every logged value. On top of that it has
a ``test_step`` (so ``fit`` reports ``val_*`` keys and ``evaluate`` works), a
``beta`` weight on the KL term, optional input noise for denoising, and
``get_config``/``from_config`` so that it saves to and loads from ``.keras``.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ae_core.models.layers import LiveSetting, Sampling

RECONSTRUCTION_LOSSES = ("mse", "bce")


def _per_element_loss(kind: str, target: Any, reconstruction: Any) -> Any:
    """The chosen loss for every pixel and channel, not yet reduced."""
    if kind == "bce":
        return ops.binary_crossentropy(target, reconstruction)
    return ops.square(target - reconstruction)


@keras.saving.register_keras_serializable(package="ae_core")
class VariationalAutoencoder(keras.Model):
    """A VAE trained on ``reconstruction_loss + beta * kl_loss``.

    ``reconstruction_loss`` is the per-image sum over all pixels and channels
    of the chosen loss, averaged over the batch (as in keras-io), and
    ``kl_loss`` is the KL divergence of the encoder's Gaussian from N(0, I),
    summed over the code and averaged over the batch. Weight and activity
    penalties of the sub-models are added to ``loss`` as well.

    Calling the model (``predict``, ``model(x)``) decodes the *mean* code at
    inference, so reconstructions are deterministic; in training it decodes a
    sample, like ``train_step`` does.

    Args:
        encoder: model from images to ``[z_mean, z_log_var]``; named "encoder".
        decoder: model from codes to images; named "decoder".
        beta: weight of the KL term (0 turns the model into a plain
            autoencoder with a noisy code).
        reconstruction: "mse" or "bce", the per-pixel reconstruction loss.
        noise: optional layer named "noise" that corrupts inputs in training.
        seed: seed for the sampling layer's random generator.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, *, beta: float = 1.0,
                 reconstruction: str = "mse", noise: keras.layers.Layer | None = None,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if reconstruction not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction must be one of 'mse', 'bce'; got {reconstruction!r}")
        self.encoder = encoder
        self.decoder = decoder
        self.noise = noise
        # A variable the traced train step reads, so that beta can change while the model trains.
        self.beta_setting = LiveSetting(beta, "beta")
        self.reconstruction = reconstruction
        self.seed = seed
        self.sampling = Sampling(seed=seed, name="sampling")
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.mse_tracker = keras.metrics.Mean(name="mse")
        # The sub-models are built already; building the wrapper now records its
        # input shape, which Keras needs to rebuild it when a saved file loads.
        self.build(tuple(encoder.inputs[0].shape))

    @property
    def beta(self) -> float:
        """The KL term's weight now."""
        return self.beta_setting.value

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if self.noise is not None and not self.noise.built:
            self.noise.build(input_shape)
        code_shape = (input_shape[0], self.decoder.inputs[0].shape[-1])
        self.sampling.build([code_shape, code_shape])
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listing the trackers here lets Keras reset them at each epoch start.
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker,
                self.mse_tracker]

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if self.noise is not None:
            inputs = self.noise(inputs, training=training)
        z_mean, z_log_var = self.encoder(inputs, training=training)
        code = self.sampling([z_mean, z_log_var]) if training else z_mean
        return self.decoder(code, training=training)

    def _loss_terms(self, data: Any, training: bool) -> dict[str, Any]:
        """Run one forward pass (with sampling) and compute every loss term."""
        inputs, target, _ = keras.utils.unpack_x_y_sample_weight(data)
        if target is None:
            target = inputs
        if self.noise is not None:
            inputs = self.noise(inputs, training=training)
        z_mean, z_log_var = self.encoder(inputs, training=training)
        reconstruction = self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        target = ops.cast(target, reconstruction.dtype)
        per_element = _per_element_loss(self.reconstruction, target, reconstruction)
        reconstruction_loss = ops.mean(ops.sum(per_element, axis=tuple(range(1, len(per_element.shape)))))
        kl = -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl, axis=1))
        total_loss = reconstruction_loss + ops.cast(self.beta_setting.variable, kl_loss.dtype) * kl_loss
        # Weight penalties and the sparse-code activity penalty live in the sub-models.
        penalties = self.encoder.losses + self.decoder.losses
        if penalties:
            total_loss = total_loss + ops.sum(ops.stack(penalties))
        return {
            "loss": total_loss,
            "reconstruction_loss": reconstruction_loss,
            "kl_loss": kl_loss,
            "mse": ops.mean(ops.square(target - reconstruction)),
        }

    def _update_trackers(self, values: dict[str, Any]) -> dict[str, Any]:
        self.total_loss_tracker.update_state(values["loss"])
        self.reconstruction_loss_tracker.update_state(values["reconstruction_loss"])
        self.kl_loss_tracker.update_state(values["kl_loss"])
        self.mse_tracker.update_state(values["mse"])
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf  # The custom step is written for the TensorFlow backend.

        with tf.GradientTape() as tape:
            values = self._loss_terms(data, training=True)
        gradients = tape.gradient(values["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_trackers(values)

    def test_step(self, data: Any) -> dict[str, Any]:
        return self._update_trackers(self._loss_terms(data, training=False))

    def get_config(self) -> dict[str, Any]:
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": serialize(self.encoder),
            "decoder": serialize(self.decoder),
            "noise": None if self.noise is None else serialize(self.noise),
            "beta": self.beta,
            "reconstruction": self.reconstruction,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> VariationalAutoencoder:
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        for key in ("encoder", "decoder", "noise"):
            if config.get(key) is not None:
                config[key] = deserialize(config[key], custom_objects=custom_objects)
        return cls(**config)
