"""What a ``ModelConfig`` can build for an image shape: its convolution blocks and its size.

``ae_core.config`` holds every model to these limits (``check_input_shape``), so no
config can ask for strides that cannot divide the image, or a model that would exhaust
the machine's memory. It reads only the config's fields, so it imports neither Keras
nor ``ae_core.config`` (which imports it).
"""

from __future__ import annotations

import typing

from ae_core.checks import fail

if typing.TYPE_CHECKING:
    from ae_core.config import ModelConfig

MAX_CONV_BLOCKS = 5
# Kernels and biases of the encoder plus decoder (see model_weights): 400 MB as float32, some 1.6 GB in training
# with the gradients and Adam's two moments. The largest model the Train page offers (LSTM, 4 x 1,024 units,
# latent 1,024) has 65.5 million, the reference systems under 1 million.
MAX_MODEL_WEIGHTS = 100_000_000


def max_conv_blocks(image_shape: tuple[int, ...]) -> int:
    """How many stride-2 convolution blocks images of ``image_shape`` (H, W, C) allow (0 to 5).

    Each block halves the image, so height and width must divide by 2 per block.
    """
    height, width = image_shape[0], image_shape[1]
    return max((n for n in range(1, MAX_CONV_BLOCKS + 1) if height % 2**n == 0 and width % 2**n == 0), default=0)


def check_input_shape(model: ModelConfig, image_shape: tuple[int, ...]) -> None:
    """Check that a model can be built for images of ``image_shape`` (H, W, C), within ``MAX_MODEL_WEIGHTS``.

    Raises:
        ValueError: when the convolution strides cannot divide the image size, or the model is too large.
    """
    height, width, channels = image_shape
    if model.is_convolutional and len(model.conv_filters) > max_conv_blocks(image_shape):
        factor = 2 ** len(model.conv_filters)
        fail("conv_filters", model.conv_filters,
             f"at most {max_conv_blocks(image_shape)} blocks for {height}x{width} images "
             f"(each stride-2 block halves the size, so {height}x{width} must divide by {factor})")
    weights = model_weights(model, image_shape)
    if weights > MAX_MODEL_WEIGHTS:
        field_name = "conv_filters" if model.is_convolutional else "hidden_sizes"
        fail(field_name, getattr(model, field_name),
             f"layers of at most {MAX_MODEL_WEIGHTS:,} weights in all for {height}x{width}x{channels} images and "
             f"latent_dim {model.latent_dim} (these make {weights:,}: use fewer or narrower layers)")


def model_weights(model: ModelConfig, image_shape: tuple[int, ...]) -> int:
    """The weights (kernels and biases) of ``model``'s encoder and decoder for images of ``image_shape``.

    Counts the layers ``ae_core.models.architectures`` builds, as Keras's ``count_params``
    would without batch norm (whose few weights it leaves out).

    Args:
        model: the autoencoder; for a convolutional one, ``image_shape`` must suit its blocks
            (``ae_core.config.check_input_shape`` checks that first).
        image_shape: the (H, W, C) of its images.

    Returns:
        The number of weights.
    """
    height, width, channels = image_shape
    pixels = height * width * channels
    code = model.latent_dim * (2 if model.is_variational else 1)  # a VAE's code is its mean and log-variance
    if model.is_convolutional:
        filters, blocks = model.conv_filters, len(model.conv_filters)
        grid = -(-height >> blocks) * -(-width >> blocks) * filters[-1]  # "same" stride-2 blocks round up
        return (_layer_weights((channels, *filters), 9) + _layer_weights((grid, code))
                + _layer_weights((model.latent_dim, grid)) + _layer_weights((filters[-1], *reversed(filters)), 9)
                + _layer_weights((filters[0], channels), 9))
    if model.arch == "lstm":
        row, sizes = width * channels, model.decoder_sizes  # each image row is one step of the sequence
        return (_layer_weights((row, *model.hidden_sizes), lstm=True) + _layer_weights((model.hidden_sizes[-1], code))
                + _layer_weights((model.latent_dim, sizes[0])) + _layer_weights((sizes[0], *sizes), lstm=True)
                + _layer_weights((sizes[-1], row)))
    hidden, decoder = ((), ()) if model.arch == "dense" else (model.hidden_sizes, model.decoder_sizes)
    return _layer_weights((pixels, *hidden, code)) + _layer_weights((model.latent_dim, *decoder, pixels))


def _layer_weights(widths: tuple[int, ...], kernel: int = 1, *, lstm: bool = False) -> int:
    """The weights of a stack of layers from ``widths[i]`` to ``widths[i + 1]`` units (or channels).

    A dense layer has ``a * b`` kernel weights and ``b`` biases, a 3x3 convolution 9 times the
    kernel (``kernel=9``), an LSTM layer 4 gates, each with an input and a recurrent kernel.
    """
    if lstm:
        return sum(4 * (a * b + b * b + b) for a, b in zip(widths, widths[1:]))
    return sum(kernel * a * b + b for a, b in zip(widths, widths[1:]))
