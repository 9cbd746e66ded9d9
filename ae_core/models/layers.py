"""Small custom Keras layers used by the model zoo.

``MaskingNoise`` corrupts inputs for denoising autoencoders by switching
pixels off; ``Sampling`` draws a code from the Gaussian a variational encoder
predicts (the reparameterisation trick). Both are registered with Keras so
that a saved ``.keras`` file can be loaded back without ``custom_objects``.
Both draw their randomness from a ``keras.random.SeedGenerator`` created from
an explicit seed, so a model built with the same seed behaves the same way.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ae_core")
class MaskingNoise(keras.layers.Layer):
    """Zero each input pixel with probability ``rate`` during training.

    Unlike ``Dropout`` the surviving pixels are not rescaled: the corrupted
    image should look like the original with holes in it, which is the
    classic "masking noise" of denoising autoencoders. A pixel is switched off
    in all of its channels at once, so colour images get black holes rather
    than tinted ones. At inference the layer passes its input through.

    Args:
        rate: probability in [0, 1) that a pixel is set to zero.
        seed: seed for the layer's random generator.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be a number in [0, 1); got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training or self.rate == 0.0:
            return inputs
        # One draw per pixel (the channel axis has size 1), broadcast over channels.
        pixel_shape = ops.shape(inputs[..., :1])
        keep = keras.random.uniform(pixel_shape, seed=self.seed_generator) >= self.rate
        return inputs * ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="ae_core")
class Sampling(keras.layers.Layer):
    """Draw ``z = z_mean + exp(z_log_var / 2) * epsilon`` with ``epsilon ~ N(0, I)``.

    This is the reparameterisation trick of keras-io's VAE example: the noise
    is an input to the graph rather than a sampling step, so gradients flow
    through ``z_mean`` and ``z_log_var``.

    Args:
        seed: seed for the layer's random generator.
    """

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any) -> Any:
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}
