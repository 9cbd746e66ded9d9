"""Typed, frozen configuration for a model and a training run.

Every run is fully described by one ``TrainConfig`` (which holds a
``ModelConfig``). Both validate themselves on construction, so an invalid
config cannot exist: a wrong value raises ``ValueError`` naming the field and
what is allowed. ``to_dict``/``from_dict`` round-trip through JSON, which is how
a run's ``config.json`` is written and read (``from_json`` reads the file's text
within bounds; see ``ae_core.config_json``). The model's size is capped too
(``MAX_HIDDEN_LAYERS``, ``MAX_LAYER_SIZE``, ``MAX_MODEL_WEIGHTS``), so no config
can ask for a model that would exhaust the machine's memory.

This module imports neither TensorFlow nor Streamlit, so the pages and the job
service can validate input cheaply.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

from ae_core.changes import Change, check_changes
from ae_core.checks import check_bool, check_choice, check_float, check_int, check_run_id, fail, is_whole
from ae_core.config_json import MAX_CONFIG_JSON_BYTES, MAX_CONFIG_JSON_DEPTH  # noqa: F401 (from_json's bounds)
from ae_core.config_json import coerce_fields, parse_config_json
from ae_core.data import DATASETS, MAX_TRAIN_LIMIT, MAX_VALIDATION_FRACTION, check_grayscale
from ae_core.model_size import MAX_CONV_BLOCKS, MAX_MODEL_WEIGHTS, check_input_shape, max_conv_blocks  # noqa: F401

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
MAX_LATENT_DIM = 1024
MAX_LAYER_SIZE = 8192
# The Train page offers at most 4 hidden layers; 8 leaves room for configs written by hand or by code.
MAX_HIDDEN_LAYERS = 8
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 8192
MAX_SEED = 2**31 - 1
MAX_LEARNING_RATE = 10.0


def _check_sizes(field_name: str, value: object, *, allow_empty: bool, most: int = MAX_HIDDEN_LAYERS,
                 unit: str = "layers") -> None:
    allowed = f"a {'' if allow_empty else 'non-empty '}list of layer sizes from 1 to {MAX_LAYER_SIZE}"
    if not isinstance(value, tuple) or (not value and not allow_empty):
        fail(field_name, value, allowed)
    if len(value) > most:  # before looking at each size: the list may be very long
        fail(field_name, value, f"at most {most} {unit}")
    if any(not is_whole(v) or not 1 <= v <= MAX_LAYER_SIZE for v in value):
        fail(field_name, value, allowed)


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
            fail("decoder_hidden_sizes", self.decoder_hidden_sizes,
                  "a non-empty list of layer sizes (or left out) for arch 'lstm'")
        _check_sizes("conv_filters", self.conv_filters, allow_empty=False, most=MAX_CONV_BLOCKS,
                     unit="convolution blocks")
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("output_activation", self.output_activation, OUTPUT_ACTIVATIONS)
        check_choice("loss", self.loss, LOSSES)
        check_float("dropout", self.dropout, 0.0, 1.0, open_high=True)
        check_bool("batch_norm", self.batch_norm)
        for name in ("l1_weight", "l2_weight", "l1_activity"):
            check_float(name, getattr(self, name), 0.0, 1.0)
        check_choice("noise", self.noise, NOISE_TYPES)
        if self.noise == "masking":
            check_float("noise_level", self.noise_level, 0.0, 1.0, open_high=True)
        else:
            check_float("noise_level", self.noise_level, 0.0, 10.0)
        check_float("beta", self.beta, 0.0, 1000.0)
        if self.loss == "bce" and self.output_activation != "sigmoid":
            fail("output_activation", self.output_activation, "'sigmoid' when loss is 'bce'")

    @property
    def is_variational(self) -> bool:
        return self.arch in VARIATIONAL_ARCHS

    @property
    def is_convolutional(self) -> bool:
        return self.arch in CONV_ARCHS

    @property
    def decoder_sizes(self) -> tuple[int, ...]:
        """The decoder's hidden layer sizes, from the code outwards."""
        if self.decoder_hidden_sizes is not None:
            return self.decoder_hidden_sizes
        return tuple(reversed(self.hidden_sizes))


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
    ``changes`` is what was changed while it trained (``ae_core.changes``; empty at submit).
    """

    dataset: str = "mnist_sample"
    model: ModelConfig = field(default_factory=ModelConfig)
    num_epochs: int = 10
    # Small batches and a brisk learning rate, so that the very first run teaches: on the
    # 3,600 offline training digits, batches of 256 at 1e-3 take only 150 steps in 10
    # epochs and end as grey blobs (test MSE 0.054); batches of 32 at 3e-3 take 1,130
    # steps in a few seconds more and show recognisable digits a second after the first
    # batch (snapshot MSE 0.028), 0.015 at the end (README, "The first run").
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 3e-3
    seed: int = 0
    train_limit: int | None = None
    validation_fraction: float = 0.1
    grayscale: bool = False
    exclude_class: int | None = None
    task: str = "reconstruct"
    classifier: str = "cnn"
    augment: tuple[str, ...] = ()
    source_run_id: str | None = None
    # What was changed while the run trained, in the order it was recorded (``ae_core.changes``).
    changes: tuple[Change, ...] = ()

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, tuple(DATASETS))
        if not isinstance(self.model, ModelConfig):
            fail("model", self.model, "a ModelConfig")
        check_int("num_epochs", self.num_epochs, 1, MAX_EPOCHS)
        check_int("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("learning_rate", self.learning_rate, 0.0, MAX_LEARNING_RATE, open_low=True)
        check_int("seed", self.seed, 0, MAX_SEED)
        if self.train_limit is not None:
            check_int("train_limit", self.train_limit, 1, MAX_TRAIN_LIMIT)
        check_float("validation_fraction", self.validation_fraction, 0.0, MAX_VALIDATION_FRACTION)
        check_grayscale(self.dataset, self.grayscale)
        if self.exclude_class is not None:
            check_int("exclude_class", self.exclude_class, 0, DATASETS[self.dataset].num_classes - 1)
        check_input_shape(self.model, self.image_shape)
        self._check_task()
        check_changes(self)

    def _check_task(self) -> None:
        check_choice("task", self.task, TASKS)
        check_choice("classifier", self.classifier, CLASSIFIERS)
        augment = self.augment
        # Every item a known name before set(): set() of an unhashable item (a list from JSON) raises TypeError.
        if not isinstance(augment, tuple) or not all(isinstance(name, str) and name in AUGMENTATIONS
                                                     for name in augment) or len(set(augment)) != len(augment):
            fail("augment", self.augment,
                  "a list of distinct names drawn from " + ", ".join(repr(name) for name in AUGMENTATIONS))
        if self.source_run_id is not None:
            check_run_id("source_run_id", self.source_run_id, "a run id of 32 lowercase hex digits, or null")
        if self.task == "reconstruct":
            # Classifier settings on an autoencoder run would be silently ignored; refuse them instead.
            if self.augment:
                fail("augment", self.augment, "empty for task 'reconstruct' (augmentation is for classifiers)")
            if self.source_run_id is not None:
                fail("source_run_id", self.source_run_id, "null for task 'reconstruct'")
            return
        if self.exclude_class is not None:
            fail("exclude_class", self.exclude_class, "null for task 'classify' (every class must be learned)")
        if self.classifier == "encoder_head" and self.source_run_id is None:
            fail("source_run_id", self.source_run_id,
                  "the id of a finished autoencoder run for classifier 'encoder_head'")
        if self.classifier == "cnn" and self.source_run_id is not None:
            fail("source_run_id", self.source_run_id, "null for classifier 'cnn', which starts from scratch")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The (H, W, C) shape the model sees, after the grayscale option."""
        height, width, channels = DATASETS[self.dataset].image_shape
        return (height, width, 1 if self.grayscale else channels)

    def replace(self, **changes: typing.Any) -> TrainConfig:
        """Return a copy with some fields changed (and validated)."""
        return dataclasses.replace(self, **changes)

    def classifier_run(self, source_run_id: str | None, classifier: str, *, num_epochs: int, batch_size: int,
                       augment: typing.Sequence[str] = (), train_limit: int | None = None) -> TrainConfig:
        """A classify run on the data of this autoencoder run (``source_run_id``), as the Classify page submits it.

        The classifier sees the same dataset, grayscale option and validation split as the
        autoencoder, so the app's and the benchmark's accuracies are measured alike; only
        ``encoder_head`` keeps ``source_run_id`` (it fine-tunes that run's encoder).

        Args:
            source_run_id: this run's id (needed for ``encoder_head`` only).
            classifier: one of ``CLASSIFIERS``.
            num_epochs, batch_size, augment: the classifier's training.
            train_limit: the first N training images; 0 or None for all.

        Raises:
            ValueError: naming the field, for a setting that is not allowed.
        """
        return TrainConfig(dataset=self.dataset, grayscale=self.grayscale, validation_fraction=self.validation_fraction,
                           task="classify", classifier=classifier, augment=tuple(augment), num_epochs=num_epochs,
                           batch_size=batch_size, train_limit=train_limit or None,
                           source_run_id=source_run_id if classifier == "encoder_head" else None)

    def distinctions(self) -> dict[str, typing.Any]:
        """What sets an autoencoder run apart beyond its dataset, architecture and latent size.

        Returns:
            In this order, each only when it applies: ``noise`` as ``(kind, level)``, ``beta``
            (a VAE's β other than 1) and ``exclude_class``; empty for a classifier run. Run
            titles (``form.describe``) and TensorBoard's run names spell these out.
        """
        if self.task != "reconstruct":
            return {}
        model, found = self.model, {}
        if model.noise != "none":
            found["noise"] = (model.noise, model.noise_level)
        if model.is_variational and model.beta != 1.0:
            found["beta"] = model.beta
        if self.exclude_class is not None:
            found["exclude_class"] = self.exclude_class
        return found

    def to_dict(self) -> dict[str, typing.Any]:
        """A JSON-ready dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: typing.Mapping[str, typing.Any]) -> TrainConfig:
        """Build a config from ``to_dict`` output or parsed JSON; whatever ``data`` holds, the only error is ValueError.

        Args:
            data: field names to values; ``model`` (a mapping of ``ModelConfig``
                fields, or a ``ModelConfig``) may be left out for the default model.

        Returns:
            The validated config.

        Raises:
            ValueError: naming the field, for a non-mapping, unknown fields or invalid values.
        """
        values = coerce_fields(cls, data, cls.__name__)
        model = values.get("model", {})
        if not isinstance(model, ModelConfig):
            values["model"] = ModelConfig(**coerce_fields(ModelConfig, model, "model"))
        changes = values.get("changes", ())
        if isinstance(changes, tuple):  # anything else is refused, with its field named, by check_changes
            values["changes"] = tuple(item if isinstance(item, Change) else Change.from_dict(item) for item in changes)
        return cls(**values)

    @classmethod
    def from_json(cls, text: str | bytes) -> TrainConfig:
        """Build a config from the text of a run's ``config.json``.

        Bounded before it is parsed (``MAX_CONFIG_JSON_BYTES``, 64 KiB; ``MAX_CONFIG_JSON_DEPTH``,
        20 levels; numbers of at most 20 digits), so a damaged file costs little and cannot raise
        ``RecursionError`` or ``MemoryError``.

        Args:
            text: the file's contents, ``str`` or UTF-8 ``bytes``.

        Returns:
            The validated config.

        Raises:
            ValueError: with a plain message, for text that is too large, too deep or
                not JSON, or for a config ``from_dict`` refuses.
        """
        return cls.from_dict(parse_config_json(text))

