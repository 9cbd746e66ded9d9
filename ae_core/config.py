"""Typed, frozen configuration for a model and a training run.

Every run is fully described by one ``TrainConfig`` (which holds a
``ModelConfig``). Both validate themselves on construction, so an invalid
config cannot exist: a wrong value raises ``ValueError`` naming the field and
what is allowed. ``to_dict``/``from_dict`` round-trip through JSON, which is how
a run's ``config.json`` is written and read.

This module imports neither TensorFlow nor Streamlit, so the pages and the job
service can validate input cheaply.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field

from ae_core.datasets import DATASETS

ARCHS = ("dense", "deep", "conv", "vae", "conv_vae", "lstm")
VARIATIONAL_ARCHS = ("vae", "conv_vae")
CONV_ARCHS = ("conv", "conv_vae")
LOSSES = ("mse", "bce")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
ACTIVATIONS = ("relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid", "leaky_relu", "linear")
OUTPUT_ACTIVATIONS = ("sigmoid", "linear", "relu")
NOISE_TYPES = ("none", "gaussian", "masking")
TASKS = ("reconstruct", "classify")
CLASSIFIERS = ("cnn", "encoder_head")
AUGMENTATIONS = ("crop", "flip", "rotate")
# The service's run ids: 32 lowercase hex digits (``ae_core.runs`` re-exports this;
# it lives here because runs.py imports this module, not the other way round).
RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")

MAX_LATENT_DIM = 1024
MAX_LAYER_SIZE = 8192
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 8192


def _fail(field_name: str, value: object, allowed: str) -> typing.NoReturn:
    raise ValueError(f"{field_name} must be {allowed}; got {value!r}")


def check_choice(field_name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(field_name, value, "one of " + ", ".join(repr(c) for c in choices))


def check_int(field_name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(field_name, value, f"a whole number from {low} to {high}")


def check_float(field_name: str, value: object, low: float, high: float, *, open_low: bool = False,
                 open_high: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        _fail(field_name, value, f"a number in {left}{low:g}, {high:g}{right}")


def _check_sizes(field_name: str, value: object, *, allow_empty: bool) -> None:
    if not isinstance(value, tuple) or (not value and not allow_empty) or any(
        isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_LAYER_SIZE for v in value
    ):
        empty = "" if allow_empty else "non-empty "
        _fail(field_name, value, f"a {empty}list of layer sizes from 1 to {MAX_LAYER_SIZE}")


@dataclass(frozen=True)
class ModelConfig:
    """What to build: the architecture and its knobs.

    ``hidden_sizes`` are the encoder's hidden layers for ``deep``, ``vae`` and
    ``lstm`` (``dense`` has none; it is input -> code -> output). The decoder
    mirrors them unless ``decoder_hidden_sizes`` is given. ``conv_filters`` are
    the stride-2 convolution blocks of ``conv`` and ``conv_vae``.
    """

    arch: str = "dense"
    latent_dim: int = 32
    hidden_sizes: tuple[int, ...] = (256,)
    decoder_hidden_sizes: tuple[int, ...] | None = None
    conv_filters: tuple[int, ...] = (32, 64)
    activation: str = "relu"
    output_activation: str = "sigmoid"
    loss: str = "bce"
    dropout: float = 0.0
    batch_norm: bool = False
    l1_weight: float = 0.0
    l2_weight: float = 0.0
    l1_activity: float = 0.0
    noise: str = "none"
    noise_level: float = 0.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        check_choice("arch", self.arch, ARCHS)
        check_int("latent_dim", self.latent_dim, 1, MAX_LATENT_DIM)
        _check_sizes("hidden_sizes", self.hidden_sizes, allow_empty=self.arch != "lstm")
        if self.decoder_hidden_sizes is not None:
            _check_sizes("decoder_hidden_sizes", self.decoder_hidden_sizes, allow_empty=True)
        if self.arch == "lstm" and self.decoder_hidden_sizes == ():
            _fail("decoder_hidden_sizes", self.decoder_hidden_sizes,
                  "a non-empty list of layer sizes (or left out) for arch 'lstm'")
        _check_sizes("conv_filters", self.conv_filters, allow_empty=False)
        if len(self.conv_filters) > 5:
            _fail("conv_filters", self.conv_filters, "at most 5 convolution blocks")
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("output_activation", self.output_activation, OUTPUT_ACTIVATIONS)
        check_choice("loss", self.loss, LOSSES)
        check_float("dropout", self.dropout, 0.0, 1.0, open_high=True)
        if not isinstance(self.batch_norm, bool):
            _fail("batch_norm", self.batch_norm, "true or false")
        for name in ("l1_weight", "l2_weight", "l1_activity"):
            check_float(name, getattr(self, name), 0.0, 1.0)
        check_choice("noise", self.noise, NOISE_TYPES)
        if self.noise == "masking":
            check_float("noise_level", self.noise_level, 0.0, 1.0, open_high=True)
        else:
            check_float("noise_level", self.noise_level, 0.0, 10.0)
        check_float("beta", self.beta, 0.0, 1000.0)
        if self.loss == "bce" and self.output_activation != "sigmoid":
            _fail("output_activation", self.output_activation, "'sigmoid' when loss is 'bce'")

    @property
    def is_variational(self) -> bool:
        return self.arch in VARIATIONAL_ARCHS

    @property
    def decoder_sizes(self) -> tuple[int, ...]:
        """The decoder's hidden layer sizes, from the code outwards."""
        if self.decoder_hidden_sizes is not None:
            return self.decoder_hidden_sizes
        return tuple(reversed(self.hidden_sizes))


def check_input_shape(model: ModelConfig, image_shape: tuple[int, ...]) -> None:
    """Check that a model can be built for images of ``image_shape`` (H, W, C).

    Raises:
        ValueError: when the convolution strides cannot divide the image size.
    """
    if model.arch in CONV_ARCHS:
        factor = 2 ** len(model.conv_filters)
        height, width = image_shape[0], image_shape[1]
        if height % factor or width % factor:
            blocks = [n for n in range(1, 6) if height % 2**n == 0 and width % 2**n == 0]
            _fail("conv_filters", model.conv_filters,
                  f"at most {max(blocks, default=0)} blocks for {height}x{width} images "
                  f"(each stride-2 block halves the size, so {height}x{width} must divide by {factor})")


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run: data, model and optimisation.

    ``validation_fraction`` of the training split (taken from its end, so it is
    the same every time) is held out for validation; 0 validates on the test
    split instead, as the reference material does. ``train_limit`` keeps only
    the first N training examples. ``exclude_class`` removes one class from the
    training split (validation and test keep it), for the anomaly demo: a model
    that never saw a class should reconstruct it worse.

    ``task`` is ``"reconstruct"`` (train the autoencoder described by ``model``)
    or ``"classify"`` (train an image classifier; ``model`` is then unused).
    A classify run trains ``classifier``: ``"cnn"``, the reference CNN, or
    ``"encoder_head"``, the encoder of the finished autoencoder run
    ``source_run_id`` plus a dense head, fine-tuned. ``augment`` (classify only)
    picks random ``"crop"``, ``"flip"`` and ``"rotate"`` of the training images.
    """

    dataset: str = "mnist_sample"
    model: ModelConfig = field(default_factory=ModelConfig)
    num_epochs: int = 10
    batch_size: int = 256
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    seed: int = 0
    train_limit: int | None = None
    validation_fraction: float = 0.1
    grayscale: bool = False
    exclude_class: int | None = None
    task: str = "reconstruct"
    classifier: str = "cnn"
    augment: tuple[str, ...] = ()
    source_run_id: str | None = None

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, tuple(DATASETS))
        if not isinstance(self.model, ModelConfig):
            _fail("model", self.model, "a ModelConfig")
        check_int("num_epochs", self.num_epochs, 1, MAX_EPOCHS)
        check_int("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("learning_rate", self.learning_rate, 0.0, 10.0, open_low=True)
        check_int("seed", self.seed, 0, 2**31 - 1)
        if self.train_limit is not None:
            check_int("train_limit", self.train_limit, 1, 10**7)
        check_float("validation_fraction", self.validation_fraction, 0.0, 0.5)
        if not isinstance(self.grayscale, bool):
            _fail("grayscale", self.grayscale, "true or false")
        if self.grayscale and DATASETS[self.dataset].channels == 1:
            _fail("grayscale", self.grayscale, f"false for {self.dataset!r}, which is grayscale already")
        if self.exclude_class is not None:
            check_int("exclude_class", self.exclude_class, 0, DATASETS[self.dataset].num_classes - 1)
        check_input_shape(self.model, self.image_shape)
        self._check_task()

    def _check_task(self) -> None:
        check_choice("task", self.task, TASKS)
        check_choice("classifier", self.classifier, CLASSIFIERS)
        if not isinstance(self.augment, tuple) or len(set(self.augment)) != len(self.augment) \
                or any(name not in AUGMENTATIONS for name in self.augment):
            _fail("augment", self.augment,
                  "a list of distinct names drawn from " + ", ".join(repr(name) for name in AUGMENTATIONS))
        if self.source_run_id is not None and (not isinstance(self.source_run_id, str)
                                               or not RUN_ID_PATTERN.match(self.source_run_id)):
            _fail("source_run_id", self.source_run_id, "a run id of 32 lowercase hex digits, or null")
        if self.task == "reconstruct":
            # Classifier settings on an autoencoder run would be silently ignored; refuse them instead.
            if self.augment:
                _fail("augment", self.augment, "empty for task 'reconstruct' (augmentation is for classifiers)")
            if self.source_run_id is not None:
                _fail("source_run_id", self.source_run_id, "null for task 'reconstruct'")
            return
        if self.exclude_class is not None:
            _fail("exclude_class", self.exclude_class, "null for task 'classify' (every class must be learned)")
        if self.classifier == "encoder_head" and self.source_run_id is None:
            _fail("source_run_id", self.source_run_id,
                  "the id of a finished autoencoder run for classifier 'encoder_head'")
        if self.classifier == "cnn" and self.source_run_id is not None:
            _fail("source_run_id", self.source_run_id, "null for classifier 'cnn', which starts from scratch")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The (H, W, C) shape the model sees, after the grayscale option."""
        height, width, channels = DATASETS[self.dataset].image_shape
        return (height, width, 1 if self.grayscale else channels)

    def replace(self, **changes: typing.Any) -> TrainConfig:
        """Return a copy with some fields changed (and validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, typing.Any]:
        """A JSON-ready dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: typing.Mapping[str, typing.Any]) -> TrainConfig:
        """Build a config from ``to_dict`` output or parsed JSON.

        Raises:
            ValueError: for unknown fields or invalid values.
        """
        values = _coerce(cls, data)
        values["model"] = ModelConfig(**_coerce(ModelConfig, values.get("model") or {}))
        return cls(**values)


def _coerce(cls: type, data: typing.Any) -> dict[str, typing.Any]:
    """Check field names and turn JSON lists back into tuples."""
    if not isinstance(data, typing.Mapping):
        _fail(cls.__name__, data, "a mapping of field names to values")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        _fail(f"{cls.__name__} field", unknown[0], "one of " + ", ".join(sorted(names)))
    values = dict(data)
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = tuple(value)
    return values
