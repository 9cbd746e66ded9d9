"""Small custom Keras layers used by the model zoo.

``MaskingNoise`` corrupts inputs for denoising autoencoders by switching
pixels off, and ``LevelGaussianNoise`` by adding Gaussian noise; both read their
level from a ``LiveSetting``, so it can change while the model trains
(``ae_core.changes``). ``Sampling`` draws a code from the Gaussian a variational encoder
predicts (the reparameterisation trick). All three are registered with Keras so
that a saved ``.keras`` file can be loaded back without ``custom_objects``.
Each draws its randomness from a ``keras.random.SeedGenerator`` created from
an explicit seed, so a model built with the same seed behaves the same way.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


class LiveSetting:
    """A number a compiled model reads at every step, so that assigning it changes training at the next batch.

    A Python float would be traced into the graph as a constant. The variable is held by this
    plain object, not by the layer, so Keras does not save it with the weights: saved models
    keep their variables (files saved before this existed still load), and the setting is
    saved in the layer's config (its current value) instead.

    Args:
        value: the starting value.
        name: the variable's name.
    """

    def __init__(self, value: float, name: str) -> None:
        self.variable = keras.Variable(float(value), dtype="float32", trainable=False, name=name)

    @property
    def value(self) -> float:
        return float(keras.ops.convert_to_numpy(self.variable))


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
        self.level = LiveSetting(rate, "noise_level")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    @property
    def rate(self) -> float:
        return self.level.value

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        # One draw per pixel (the channel axis has size 1), broadcast over channels. Drawn even at
        # rate 0, since the rate may change while the traced step runs.
        pixel_shape = ops.shape(inputs[..., :1])
        keep = keras.random.uniform(pixel_shape, seed=self.seed_generator) >= self.level.variable
        return inputs * ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="ae_core")
class LevelGaussianNoise(keras.layers.Layer):
    """Add Gaussian noise in training, like Keras's ``GaussianNoise``, with a ``stddev`` that can change mid-run.

    Models saved with Keras's own ``GaussianNoise`` load as before, with a fixed stddev.

    Args:
        stddev: the noise's standard deviation (>= 0).
        seed: seed for the layer's random generator.
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not stddev >= 0.0:
            raise ValueError(f"stddev must be a number >= 0; got {stddev!r}")
        self.level = LiveSetting(stddev, "noise_level")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        noise = keras.random.normal(ops.shape(inputs), dtype=self.compute_dtype, seed=self.seed_generator)
        return inputs + noise * ops.cast(self.level.variable, self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.level.value, "seed": self.seed}


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
