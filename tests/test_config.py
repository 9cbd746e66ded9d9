"""ModelConfig / TrainConfig: validation and the JSON round trip."""

from __future__ import annotations

import json

import pytest

from ae_core.config import ARCHS, ModelConfig, TrainConfig


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
        ({"train_limit": 0}, r"train_limit must be a whole number of at least 1; got 0"),
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
