"""The linear probes, the reference CNN, the encoder classifier, and training with a class held out.

The two neural classifiers are trained the one way there is: as classify runs through
``ae_core.training.train``.
"""

from __future__ import annotations

import numpy as np
import pytest

from ae_core import analysis
from ae_core.models import classifier
from ae_core.config import CLASSIFIERS, ModelConfig, TrainConfig
from ae_core.data.datasets import load_dataset
from ae_core.models.zoo import build_autoencoder, load_autoencoder, save_autoencoder
from ae_core.analysis.probe import CLASSIFY_TITLES, PROBES, fit_probes, linear_probe, pixel_features
from ae_core.data import fixed_sample as subsample
from ae_core.training import train, without_class
from tests.collect import run

SOURCE_ID = "cd" * 16


def classify_run(**changes) -> TrainConfig:
    """Two epochs on the sample's first 600 digits, validated and scored on its 1,000 test digits."""
    base = dict(dataset="mnist_sample", task="classify", num_epochs=2, batch_size=32, train_limit=600,
                validation_fraction=0.0, seed=0)
    return TrainConfig(**{**base, **changes})


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
    result, events = run(classify_run(classifier="cnn", augment=("crop", "rotate")))
    model = result.model
    convs = [layer for layer in model.layers if layer.name.startswith("conv_")]
    assert [layer.filters for layer in convs] == [32, 64, 128]
    assert [layer.name for layer in model.layers][-2:] == ["head_dense", "class_probabilities"]
    assert model.get_layer("head_dense").units == 128
    # Augmentation is off at inference: the crop of the padded image is the image itself.
    images = digits.x_test[:4].astype(np.float32) / 255.0
    np.testing.assert_allclose(model(images, training=False), model.predict(images, verbose=0), atol=1e-5)
    epochs = [event for event in events if event["type"] == "epoch"]
    assert [event["epoch"] for event in epochs] == [1, 2] and all("accuracy" in event["metrics"] for event in epochs)
    scores = events[-1]["result"]
    assert scores["test_accuracy"] > 0.5 and np.asarray(scores["confusion"]).sum() == len(digits.x_test)
    # Unknown augmentations are refused once, by the config the trainer is given.
    refused = "augment must be a list of distinct names drawn from 'crop', 'flip', 'rotate'"
    with pytest.raises(ValueError, match=refused):
        classify_run(augment=("zoom",))
    with pytest.raises(ValueError, match="image_shape must be at least 22x22"):
        classifier.build_cnn((16, 16, 1), 10)


def test_the_encoder_classifier_fine_tunes_a_copy_of_the_encoder(digits, tmp_path) -> None:
    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=16), (28, 28, 1), seed=0)
    path = tmp_path / "model.keras"
    save_autoencoder(bundle, path)
    before = [weights.copy() for weights in bundle.encoder.get_weights()]
    result, events = run(classify_run(classifier="encoder_head", source_run_id=SOURCE_ID), source_model=path)
    assert events[-1]["result"]["test_accuracy"] > 0.5
    tuned = result.model.get_layer(bundle.encoder.name).get_weights()
    assert any(not np.array_equal(original, after) for original, after in zip(before, tuned))  # fine-tuned...
    for original, after in zip(before, load_autoencoder(path).encoder.get_weights()):
        np.testing.assert_array_equal(original, after)  # ...a copy: the autoencoder's file is untouched
    model = classifier.encoder_classifier(bundle.encoder, 10, seed=0)
    copy = model.get_layer(bundle.encoder.name)
    copy.set_weights([weights + 1.0 for weights in copy.get_weights()])
    for original, after in zip(before, bundle.encoder.get_weights()):
        np.testing.assert_array_equal(original, after)  # and in memory
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


def test_the_probes_score_pixels_and_codes_on_the_same_images(digits) -> None:
    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=16), (28, 28, 1), seed=0)
    probes = fit_probes(digits, bundle, train_limit=500, test_limit=150, max_iter=50)
    assert list(probes) == ["pixels", "codes"]
    assert [probe.num_features for probe in probes.values()] == [784, 16]
    assert {(probe.num_train, probe.num_test) for probe in probes.values()} == {(500, 150)}
    for probe in probes.values():
        assert probe.confusion.sum() == 150 and probe.accuracy == pytest.approx(np.trace(probe.confusion) / 150)
    assert probes["pixels"].accuracy > 0.6  # pixels on 500 digits, far above the 10% of chance
    # The same seed picks the same images, so a probe is repeatable (and the page can cache it).
    again = fit_probes(digits, probes=("pixels",), train_limit=500, test_limit=150, max_iter=50)
    assert list(again) == ["pixels"]
    np.testing.assert_array_equal(again["pixels"].confusion, probes["pixels"].confusion)
    with pytest.raises(ValueError, match="bundle must be a trained autoencoder for the 'codes' probe"):
        fit_probes(digits, None, probes=("codes",))
    with pytest.raises(ValueError, match="probes must be drawn from 'pixels', 'codes'; got 'svm'"):
        fit_probes(digits, bundle, probes=("svm",))


def test_one_title_table_names_the_probes_and_the_trainer_s_classifiers() -> None:
    # The neural methods are keyed by TrainConfig.classifier itself: no table translates names.
    assert list(CLASSIFY_TITLES) == [*PROBES, "encoder_head", "cnn"]
    assert set(CLASSIFY_TITLES) - set(PROBES) == set(CLASSIFIERS)
    assert len(set(CLASSIFY_TITLES.values())) == 4


def test_a_probe_result_is_kept_on_disk_and_read_back(tmp_path, caplog) -> None:
    from ae_core.analysis.probe import ProbeResult, cached

    fitted = []

    def fit() -> ProbeResult:
        fitted.append(1)
        return ProbeResult(accuracy=0.875, confusion=np.array([[3, 1], [0, 4]]), num_features=784, num_train=8,
                           num_test=8, seconds=1.5)

    key = {"probe": "pixels", "dataset": "mnist_sample", "grayscale": False}
    first = cached(key, fit, folder=tmp_path)
    again = cached(key, fit, folder=tmp_path)
    assert len(fitted) == 1 and again.accuracy == 0.875 and again.num_train == 8
    np.testing.assert_array_equal(again.confusion, first.confusion)
    assert again.confusion.dtype == np.int64
    # Other options are another result; a damaged file is logged and fitted again, never fatal.
    cached({**key, "grayscale": True}, fit, folder=tmp_path)
    assert len(fitted) == 2
    for path in tmp_path.glob("pixels-*.json"):
        path.write_text("{not json", encoding="utf-8")
    assert cached(key, fit, folder=tmp_path).accuracy == 0.875
    assert len(fitted) == 3 and "ignoring the damaged probe cache" in caplog.text


def test_the_page_probes_of_the_sample_are_fitted_once(tmp_path, monkeypatch) -> None:
    from ae_core.analysis import probe

    monkeypatch.setenv("AE_LAB_HOME", str(tmp_path / "home"))
    assert probe.cache_folder() == tmp_path / "home" / "cache" / "probes"
    bundle = build_autoencoder(ModelConfig(arch="dense", latent_dim=8), (28, 28, 1), seed=0)
    model_path = tmp_path / "model.keras"
    save_autoencoder(bundle, model_path)
    pixels = probe.pixel_probe("mnist_sample", False)
    codes = probe.code_probe("mnist_sample", False, model_path, load=lambda path: bundle)
    assert (pixels.num_features, codes.num_features) == (784, 8)
    assert pixels.num_test == codes.num_test == 1000 and pixels.accuracy > 0.8
    monkeypatch.setattr(probe, "fit_probes", lambda *args, **kwargs: pytest.fail("fitted twice"))
    assert probe.pixel_probe("mnist_sample", False).accuracy == pixels.accuracy
    assert probe.code_probe("mnist_sample", False, model_path).accuracy == codes.accuracy
    # A model written again (a resumed run) is probed afresh.
    save_autoencoder(bundle, model_path)
    with pytest.raises(pytest.fail.Exception, match="fitted twice"):
        probe.code_probe("mnist_sample", False, model_path, load=lambda path: bundle)
