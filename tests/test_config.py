"""ModelConfig / TrainConfig: validation and the JSON round trip."""

from __future__ import annotations

import json

import pytest

from ae_core.checks import shown
from ae_core.model_size import model_weights
from ae_core.config import (
    ARCHS,
    MAX_CONFIG_JSON_BYTES,
    MAX_CONFIG_JSON_DEPTH,
    MAX_HIDDEN_LAYERS,
    MAX_LATENT_DIM,
    MAX_LAYER_SIZE,
    MAX_MODEL_WEIGHTS,
    ModelConfig,
    TrainConfig,
)
from ae_core.data import DATASETS
from ae_lab_ui import form


def test_defaults_are_valid_and_round_trip_through_json() -> None:
    config = TrainConfig(model=ModelConfig(arch="deep", hidden_sizes=(128, 64), decoder_hidden_sizes=()))
    restored = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert restored.model.hidden_sizes == (128, 64)
    assert restored.model.decoder_sizes == ()


def test_decoder_mirrors_encoder_by_default() -> None:
    assert ModelConfig(arch="deep", hidden_sizes=(256, 64)).decoder_sizes == (64, 256)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_is_accepted_on_every_dataset_shape(arch: str) -> None:
    for dataset in ("mnist", "cifar10"):
        assert TrainConfig(dataset=dataset, model=ModelConfig(arch=arch)).model.arch == arch


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"latent_dim": 0}, r"latent_dim must be a whole number from 1 to 1024; got 0"),
        ({"arch": "transformer"}, r"arch must be one of 'dense', 'deep'.*got 'transformer'"),
        ({"dropout": -0.1}, r"dropout must be a number in \[0, 1\)"),
        ({"l2_weight": -1.0}, r"l2_weight must be a number in \[0, 1\]"),
        ({"loss": "hinge"}, r"loss must be one of 'mse', 'bce'"),
        ({"loss": "bce", "output_activation": "linear"}, r"output_activation must be 'sigmoid' when loss is 'bce'"),
        ({"noise": "masking", "noise_level": 1.0}, r"noise_level must be a number in \[0, 1\)"),
        ({"hidden_sizes": (0,)}, r"hidden_sizes must be a list of layer sizes"),
        ({"arch": "lstm", "hidden_sizes": ()}, r"hidden_sizes must be a non-empty list"),
        ({"latent_dim": True}, r"latent_dim must be a whole number"),
    ],
)
def test_invalid_model_fields_name_the_field_and_the_allowed_values(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelConfig(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dataset": "imagenet"}, r"dataset must be one of 'mnist_sample', 'mnist'"),
        ({"learning_rate": -0.01}, r"learning_rate must be a number in \(0, 10\]"),
        ({"learning_rate": float("nan")}, r"learning_rate must be a number"),
        ({"num_epochs": 0}, r"num_epochs must be a whole number from 1 to 1000"),
        ({"optimizer": "adagrad"}, r"optimizer must be one of 'adam', 'sgd', 'rmsprop'"),
        ({"validation_fraction": 0.9}, r"validation_fraction must be a number in \[0, 0.5\]"),
        ({"grayscale": True}, r"grayscale must be false for 'mnist_sample'"),
        ({"train_limit": 0}, r"train_limit must be a whole number from 1 to 1000000000; got 0"),
        ({"train_limit": 10**25}, r"train_limit must be a whole number from 1 to 1000000000"),
    ],
)
def test_invalid_train_fields_raise(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_conv_strides_that_cannot_divide_the_image_are_rejected() -> None:
    three_blocks = ModelConfig(arch="conv", conv_filters=(16, 32, 64))
    assert TrainConfig(dataset="cifar10", model=three_blocks).image_shape == (32, 32, 3)
    with pytest.raises(ValueError, match=r"conv_filters must be at most 2 blocks for 28x28 images"):
        TrainConfig(dataset="mnist", model=three_blocks)


def test_grayscale_changes_the_image_shape() -> None:
    assert TrainConfig(dataset="cifar10", grayscale=True).image_shape == (32, 32, 1)


def test_from_dict_rejects_unknown_fields_and_non_mappings() -> None:
    with pytest.raises(ValueError, match=r"TrainConfig field must be one of .*got 'epochs'"):
        TrainConfig.from_dict({"epochs": 3})
    with pytest.raises(ValueError, match=r"ModelConfig field must be one of .*got 'latent'"):
        TrainConfig.from_dict({"model": {"latent": 3}})
    with pytest.raises(ValueError, match=r"TrainConfig must be a mapping"):
        TrainConfig.from_dict([1, 2])  # type: ignore[arg-type]


def test_a_classifier_run_inherits_the_autoencoder_runs_data_and_validation_split() -> None:
    source = TrainConfig(dataset="cifar10", grayscale=True, validation_fraction=0.0)
    run_id = "ab" * 16
    head = source.classifier_run(run_id, "encoder_head", num_epochs=3, batch_size=64, augment=["flip"], train_limit=0)
    assert (head.task, head.classifier, head.source_run_id, head.augment) == ("classify", "encoder_head", run_id,
                                                                            ("flip",))
    assert (head.dataset, head.grayscale, head.validation_fraction, head.train_limit) == ("cifar10", True, 0.0, None)
    cnn = source.classifier_run(run_id, "cnn", num_epochs=3, batch_size=64)
    assert cnn.source_run_id is None and cnn.validation_fraction == 0.0
    with pytest.raises(ValueError, match=r"classifier must be one of 'cnn', 'encoder_head'; got 'svm'"):
        source.classifier_run(run_id, "svm", num_epochs=3, batch_size=64)


# -- malformed mappings: every one is a ValueError naming the field ------------------------------------------------

def short_id(value: object) -> str:
    """A test id for a parameter that may be megabytes long."""
    return shown(value)[:40]


def deep_list(depth: int) -> list:
    """``[[[...]]]`` nested ``depth`` levels, built without recursion."""
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({1: 2, "epochs": 3}, r"TrainConfig field must be one of .*got 'epochs'"),  # mixed keys cannot be sorted
        ({None: 1, 2.5: 2}, r"TrainConfig field must be one of .*got None"),
        ({"model": {("latent",): 3}}, r"ModelConfig field must be one of .*got \('latent',\)"),
        ({"task": "classify", "augment": [["crop"]]}, r"augment must be a list of distinct names"),  # unhashable
        ({"task": "classify", "augment": [{"crop": 1}, "flip"]}, r"augment must be a list of distinct names"),
        ({"learning_rate": 10**400}, r"learning_rate must be a number in \(0, 10\]; got <a whole number of 401 "),
        ({"validation_fraction": -(10**400)}, r"validation_fraction must be a number in \[0, 0.5\]"),
        ({"model": {"latent_dim": 10**400}}, r"latent_dim must be a whole number from 1 to 1024"),
        ({"model": {"dropout": 10**5000}}, r"dropout must be a number in \[0, 1\)"),  # too long for repr()
        ({"dataset": deep_list(3000)}, r"dataset must be one of .*got \(\[\[\[\.\.\.\]\]\],\)$"),
        ({"model": {"hidden_sizes": deep_list(3000)}}, r"hidden_sizes must be a list of"),
        ({"model": 0}, r"model must be a mapping of ModelConfig field names to values; got 0"),
        ({"model": []}, r"model must be a mapping"),
        ({"model": None}, r"model must be a mapping"),
    ],
    ids=short_id,
)
def test_from_dict_turns_every_malformed_mapping_into_a_value_error(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        TrainConfig.from_dict(data)
    assert len(str(caught.value)) < 1000  # the value is shown shortened, never megabytes of it


def test_a_long_value_is_shown_shortened_in_the_message() -> None:
    with pytest.raises(ValueError, match=r"dataset must be one of .*; got 'xxxx.*\.\.\..*xxx'$") as caught:
        TrainConfig.from_dict({"dataset": "x" * 1_000_000})
    assert len(str(caught.value)) < 1000


# -- caps on the model's size -------------------------------------------------------------------------------------

def test_hidden_layers_are_capped_in_count_and_width() -> None:
    ModelConfig(arch="deep", hidden_sizes=(64,) * MAX_HIDDEN_LAYERS)
    with pytest.raises(ValueError, match=rf"hidden_sizes must be at most {MAX_HIDDEN_LAYERS} layers"):
        ModelConfig(arch="deep", hidden_sizes=(8192,) * 100)
    with pytest.raises(ValueError, match=rf"decoder_hidden_sizes must be at most {MAX_HIDDEN_LAYERS} layers"):
        ModelConfig(arch="deep", decoder_hidden_sizes=(16,) * (MAX_HIDDEN_LAYERS + 1))
    with pytest.raises(ValueError, match=rf"hidden_sizes must be a list of layer sizes from 1 to "
                                         rf"{MAX_LAYER_SIZE}; got \({MAX_LAYER_SIZE + 1},\)"):
        ModelConfig(arch="deep", hidden_sizes=(MAX_LAYER_SIZE + 1,))
    with pytest.raises(ValueError, match=rf"conv_filters must be a non-empty list of layer sizes from 1 to"):
        ModelConfig(arch="conv", conv_filters=(MAX_LAYER_SIZE + 1,))


@pytest.mark.parametrize(
    ("dataset", "model", "field_name"),
    [
        ("cifar10", ModelConfig(arch="deep", hidden_sizes=(MAX_LAYER_SIZE,) * MAX_HIDDEN_LAYERS), "hidden_sizes"),
        ("mnist", ModelConfig(arch="lstm", hidden_sizes=(MAX_LAYER_SIZE,) * 2), "hidden_sizes"),
        ("cifar10", ModelConfig(arch="conv", conv_filters=(MAX_LAYER_SIZE,)), "conv_filters"),  # 16x16x4096 -> code
        ("cifar10", ModelConfig(arch="conv_vae", conv_filters=(8, MAX_LAYER_SIZE, MAX_LAYER_SIZE)), "conv_filters"),
    ],
)
def test_a_model_with_too_many_weights_is_refused(dataset: str, model: ModelConfig, field_name: str) -> None:
    assert model_weights(model, DATASETS[dataset].image_shape) > MAX_MODEL_WEIGHTS
    with pytest.raises(ValueError, match=rf"{field_name} must be layers of at most {MAX_MODEL_WEIGHTS:,} weights"):
        TrainConfig(dataset=dataset, model=model)


def test_model_weights_counts_what_the_reference_systems_build() -> None:
    # System D, 784 -> 64 -> 784: (784 * 64 + 64) + (64 * 784 + 784) kernels and biases.
    assert model_weights(ModelConfig(arch="dense", latent_dim=64), (28, 28, 1)) == 784 * 64 + 64 + 64 * 784 + 784
    # System E, 784 -> 64 -> 64 -> 784 stacked dense.
    deep = ModelConfig(arch="deep", latent_dim=64, hidden_sizes=(64,), decoder_hidden_sizes=())
    assert model_weights(deep, (28, 28, 1)) == (784 * 64 + 64) + (64 * 64 + 64) + (64 * 784 + 784)


REFERENCE_MODELS = {
    "A 784-512-784": ModelConfig(arch="dense", latent_dim=512, loss="mse"),
    "B 784-32-784": ModelConfig(arch="dense", latent_dim=32, loss="mse"),
    "C 784-h-h-784": ModelConfig(arch="deep", latent_dim=128, hidden_sizes=(256,), decoder_hidden_sizes=()),
    "D 784-64-784": ModelConfig(arch="dense", latent_dim=64),
    "E deep 64-64": ModelConfig(arch="deep", latent_dim=64, hidden_sizes=(64,), decoder_hidden_sizes=()),
    "E deep 64-64 mirrored": ModelConfig(arch="deep", latent_dim=64, hidden_sizes=(64, 64)),
    "E lstm": ModelConfig(arch="lstm", latent_dim=64, hidden_sizes=(64,)),
    "E conv": ModelConfig(arch="conv", latent_dim=64),
}


@pytest.mark.parametrize("name", REFERENCE_MODELS)
@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_every_reference_system_is_within_the_caps(name: str, dataset: str) -> None:
    assert TrainConfig(dataset=dataset, model=REFERENCE_MODELS[name]).model == REFERENCE_MODELS[name]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_the_largest_models_the_train_page_offers_are_within_the_caps(arch: str, dataset: str) -> None:
    widest, latent = max(form.WIDTH_CHOICES), MAX_LATENT_DIM
    hidden = (widest,) * form.MAX_HIDDEN_LAYERS
    blocks = form.max_conv_blocks(dataset)
    for conv_filters in [(max(form.CONV_BASE_CHOICES) * 2**i for i in range(n)) for n in (1, blocks)]:
        model = ModelConfig(arch=arch, latent_dim=latent, hidden_sizes=hidden if arch != "dense" else (),
                            conv_filters=tuple(conv_filters))
        assert TrainConfig(dataset=dataset, model=model).model == model


# -- from_json: a damaged config.json is one plain ValueError ----------------------------------------------------

def test_from_json_round_trips_text_and_bytes() -> None:
    config = TrainConfig(model=ModelConfig(arch="deep", hidden_sizes=(128, 64)), seed=7)
    text = json.dumps(config.to_dict(), indent=2)
    assert TrainConfig.from_json(text) == config
    assert TrainConfig.from_json(text.encode("utf-8")) == config
    assert TrainConfig.from_json(b"\xef\xbb\xbf" + text.encode("utf-8")) == config  # a BOM from a Windows editor
    assert TrainConfig.from_json(bytearray(text.encode("utf-8"))) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, r"config\.json is larger than 64 KiB"),
        ("[" * 10_000 + "]" * 10_000, rf"config\.json is nested deeper than {MAX_CONFIG_JSON_DEPTH} levels"),
        ('{"model": ' * 30 + "{}" + "}" * 30, rf"config\.json is nested deeper than {MAX_CONFIG_JSON_DEPTH} levels"),
        ('{"seed": 1' + "0" * 400 + "}", r"config\.json has a number of more than \d+ digits"),
        ('{"learning_rate": -' + "9" * 5000 + "}", r"config\.json has a number of more than \d+ digits"),
        ("x" * 3_000_000, r"config\.json is larger than 64 KiB"),
        (b"\x00\xff" * 3_000_000, r"config\.json is larger than 64 KiB"),
        ("", r"config\.json is not valid JSON: Expecting value: line 1 column 1"),
        ('{"seed": 1', r"config\.json is not valid JSON"),
        (b'{"dataset": "\xff"}', r"config\.json is not UTF-8 text"),
        ("[1, 2]", r"TrainConfig must be a mapping"),
        ('{"dataset": "' + "[" * 30 + '"}', r"dataset must be one of"),  # brackets in strings are not nesting
        ('{"seed": NaN}', r"seed must be a whole number"),
        ('{"learning_rate": 1e400}', r"learning_rate must be a number in \(0, 10\]; got inf"),
        (None, r"config\.json must be text \(str or bytes\); got None"),
    ],
    ids=short_id,
)
def test_from_json_turns_a_damaged_file_into_one_plain_value_error(text: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        TrainConfig.from_json(text)
    assert len(str(caught.value)) < 1000


def test_from_json_bounds_are_named_constants() -> None:
    assert MAX_CONFIG_JSON_BYTES == 64 * 1024 and MAX_CONFIG_JSON_DEPTH == 20
    nested = TrainConfig().to_dict()  # the real file nests two levels: the config and its model
    assert TrainConfig.from_json(json.dumps(nested) + " " * (MAX_CONFIG_JSON_BYTES - len(json.dumps(nested)))) \
        == TrainConfig()
