"""The linear probe, the reference CNN, the encoder classifier, and training with a class held out."""

from __future__ import annotations

import numpy as np
import pytest

from ae_core import analysis, classifier
from ae_core.config import ModelConfig, TrainConfig
from ae_core.datasets import load_dataset
from ae_core.models import build_autoencoder
from ae_core.probe import linear_probe, pixel_features, subsample
from ae_core.training import train, without_class


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist_sample")


def test_the_pixel_probe_reads_digits_well_above_chance(digits) -> None:
    train_rows, test_rows = subsample(len(digits.x_train), 1500, seed=0), subsample(len(digits.x_test), 400, seed=1)
    result = linear_probe(pixel_features(digits.x_train[train_rows]), digits.y_train[train_rows],
                          pixel_features(digits.x_test[test_rows]), digits.y_test[test_rows], num_classes=10,
                          max_iter=100)
    # Logistic regression on 1,500 MNIST digits scores about 85-90%; chance is 10%.
    assert 0.75 < result.accuracy < 1.0
    assert result.confusion.shape == (10, 10) and result.confusion.sum() == 400
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / 400)
    assert result.num_features == 784 and result.num_train == 1500


def test_a_probe_on_random_features_stays_near_chance() -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(600) % 3
    result = linear_probe(rng.normal(size=(600, 5)), labels, rng.normal(size=(300, 5)), labels[:300], num_classes=3)
    assert result.accuracy < 0.45


def test_probe_input_errors_name_what_is_wrong() -> None:
    features = np.zeros((4, 3))
    with pytest.raises(ValueError, match="train labels must hold at least two classes"):
        linear_probe(features, np.zeros(4), features, np.zeros(4), num_classes=2)
    with pytest.raises(ValueError, match="test features must have the train features' 3 columns"):
        linear_probe(features, np.array([0, 1, 0, 1]), np.zeros((4, 2)), np.zeros(4), num_classes=2)
    with pytest.raises(ValueError, match="train features must be finite"):
        linear_probe(np.full((4, 3), np.nan), np.array([0, 1, 0, 1]), features, np.zeros(4), num_classes=2)
    with pytest.raises(ValueError, match="images must be a uint8 array"):
        pixel_features(np.zeros((2, 4, 4, 1), np.float32))
    np.testing.assert_array_equal(subsample(5, None), np.arange(5))
    picked = subsample(100, 10, seed=3)
    assert len(set(picked)) == 10 and np.all(np.diff(picked) > 0)
    np.testing.assert_array_equal(picked, subsample(100, 10, seed=3))


def test_the_reference_cnn_has_the_reference_layers_and_learns(digits) -> None:
    model = classifier.build_cnn((28, 28, 1), 10, augment=("crop", "rotate"), seed=0)
    convs = [layer for layer in model.layers if layer.name.startswith("conv_")]
    assert [layer.filters for layer in convs] == [32, 64, 128]
    assert [layer.name for layer in model.layers][-2:] == ["head_dense", "class_probabilities"]
    assert model.get_layer("head_dense").units == 128
    # Augmentation is off at inference: the crop of the padded image is the image itself.
    images = digits.x_test[:4].astype(np.float32) / 255.0
    np.testing.assert_allclose(model(images, training=False), model.predict(images, verbose=0), atol=1e-5)
    epochs: list[int] = []
    result = classifier.fit_classifier(model, digits.x_train[:600], digits.y_train[:600], digits.x_test[:200],
                                       digits.y_test[:200], num_classes=10, num_epochs=2, batch_size=32,
                                       on_epoch=lambda epoch, logs: epochs.append(epoch))
    assert epochs == [1, 2] and len(result.history["accuracy"]) == 2
    assert result.accuracy > 0.5 and result.confusion.sum() == 200
    with pytest.raises(ValueError, match="augment must be a tuple drawn from 'crop', 'flip', 'rotate'"):
        classifier.build_cnn((28, 28, 1), 10, augment=("zoom",))
    with pytest.raises(ValueError, match="image_shape must be at least 22x22"):
        classifier.build_cnn((16, 16, 1), 10)


def test_the_encoder_classifier_fine_tunes_a_copy_of_the_encoder(digits) -> None:
    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=16), (28, 28, 1), seed=0)
    before = [weights.copy() for weights in bundle.encoder.get_weights()]
    model = classifier.encoder_classifier(bundle.encoder, 10, seed=0)
    result = classifier.fit_classifier(model, digits.x_train[:600], digits.y_train[:600], digits.x_test[:200],
                                       digits.y_test[:200], num_classes=10, num_epochs=2, batch_size=32)
    assert result.accuracy > 0.5
    for original, after in zip(before, bundle.encoder.get_weights()):
        np.testing.assert_array_equal(original, after)
    frozen = classifier.encoder_classifier(bundle.encoder, 10, trainable=False)
    assert len(frozen.trainable_weights) == 4  # only the head's two Dense layers


def test_training_can_hold_one_class_out(digits) -> None:
    held_out = without_class(digits, 3)
    assert 3 not in held_out.y_train and len(held_out.x_train) == np.sum(digits.y_train != 3)
    assert 3 in held_out.y_test and held_out.x_val is digits.x_val
    with pytest.raises(ValueError, match="exclude_class must be a whole number from 0 to 9"):
        without_class(digits, 10)
    with pytest.raises(ValueError, match="exclude_class must be a whole number from 0 to 9; got 12"):
        TrainConfig(exclude_class=12)
    config = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="dense", latent_dim=16), num_epochs=5,
                         batch_size=32, train_limit=2000, seed=0, exclude_class=1)
    assert TrainConfig.from_dict(config.to_dict()) == config
    events: list[dict] = []
    result = train(config, on_event=events.append)
    assert events[0]["num_train"] == int(np.sum(digits.y_train[:2000] != 1))
    full = train(config.replace(exclude_class=None))
    ones = digits.x_test[digits.y_test == 1]
    held_out_error = analysis.rank_errors(result.model, ones).errors.mean()
    full_error = analysis.rank_errors(full.model, ones).errors.mean()
    # The same model and budget, but one never saw a "1": it reconstructs ones clearly worse.
    assert held_out_error > 1.2 * full_error
    errors = analysis.rank_errors(result.model, digits.x_test).errors
    by_class = analysis.errors_by_class(errors, digits.y_test, 10)
    assert sum(len(group) for group in by_class.values()) == len(digits.x_test)


@pytest.mark.slow
def test_the_codes_study_scores_every_method_on_the_same_test_images(digits) -> None:
    from ae_core.codes_study import METHOD_TITLES, run_study

    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=16), (28, 28, 1), seed=0)
    seen: list[str] = []
    entries = run_study(digits, bundle, train_limit=500, test_limit=150, num_epochs=1, batch_size=32, max_iter=50,
                        on_progress=seen.append)
    assert [entry.method for entry in entries] == ["pixels_logistic", "codes_logistic", "encoder_finetuned", "cnn"]
    assert seen == [METHOD_TITLES[entry.method] for entry in entries]
    assert [entry.num_features for entry in entries] == [784, 16, 784, 784]
    assert {(entry.num_train, entry.num_test) for entry in entries} == {(500, 150)}
    for entry in entries:
        assert entry.confusion.sum() == 150 and entry.accuracy == pytest.approx(np.trace(entry.confusion) / 150)
    assert entries[0].accuracy > 0.6  # pixels on 500 digits, far above the 10% of chance
    with pytest.raises(ValueError, match="bundle must be a trained autoencoder"):
        run_study(digits, None, methods=("codes_logistic",))
    with pytest.raises(ValueError, match="methods must be drawn from"):
        run_study(digits, bundle, methods=("svm",))
