"""Image classifiers: the reference CNN, and an autoencoder's encoder with a dense head.

The CNN is the reference material's CIFAR-10 classifier (system B): three blocks of a
3x3 convolution (32, 64, 128 filters, relu) and 2x2 max pooling, then Dense(128, relu)
and Dense(classes, softmax), trained with Adam on categorical cross-entropy. Optional
augmentation layers (random crop, horizontal flip, small rotation) sit in front; Keras
runs them only while training, so evaluation sees the images untouched.

``encoder_classifier`` puts the same dense head on a trained autoencoder's encoder and
fine-tunes both together: the fourth answer to "do autoencoder codes help?".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ae_core.config import AUGMENTATIONS

CROP_PADDING = 4
ROTATION_FRACTION = 0.05  # of a full turn: about +-18 degrees
CONV_FILTERS = (32, 64, 128)
DENSE_UNITS = 128


def _check_augment(augment: tuple[str, ...]) -> None:
    unknown = [name for name in augment if name not in AUGMENTATIONS]
    if unknown or not isinstance(augment, tuple):
        raise ValueError(f"augment must be a tuple drawn from {', '.join(map(repr, AUGMENTATIONS))}; got {augment!r}")


def _augmentation(x: Any, image_shape: tuple[int, int, int], augment: tuple[str, ...], seed: int) -> Any:
    import keras

    height, width, _ = image_shape
    if "crop" in augment:
        # A random crop of the image padded by CROP_PADDING zeros is a random shift of up to
        # that many pixels with zero fill; RandomTranslation does exactly that, and unlike
        # RandomCrop it leaves images untouched at inference (RandomCrop resizes them).
        x = keras.layers.RandomTranslation(CROP_PADDING / height, CROP_PADDING / width, fill_mode="constant",
                                           seed=seed, name="random_crop")(x)
    if "flip" in augment:
        x = keras.layers.RandomFlip("horizontal", seed=seed, name="random_flip")(x)
    if "rotate" in augment:
        x = keras.layers.RandomRotation(ROTATION_FRACTION, fill_mode="constant", seed=seed, name="random_rotation")(x)
    return x


def _head(x: Any, num_classes: int) -> Any:
    import keras

    x = keras.layers.Dense(DENSE_UNITS, activation="relu", name="head_dense")(x)
    return keras.layers.Dense(num_classes, activation="softmax", name="class_probabilities")(x)


def _compile(model: Any, learning_rate: float, optimizer: str = "adam", steps_per_execution: int = 1) -> Any:
    import keras

    classes = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    if optimizer not in classes:
        raise ValueError(f"optimizer must be one of {', '.join(map(repr, classes))}; got {optimizer!r}")
    model.compile(optimizer=classes[optimizer](learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def build_cnn(image_shape: tuple[int, int, int], num_classes: int, *, augment: tuple[str, ...] = (),
              learning_rate: float = 1e-3, seed: int = 0, optimizer: str = "adam",
              steps_per_execution: int = 1) -> Any:
    """The reference CNN, compiled (Adam, categorical cross-entropy, accuracy).

    Args:
        image_shape: (H, W, C) of float images in [0, 1]; at least 22x22 for three blocks.
        num_classes: outputs of the softmax.
        augment: any of "crop", "flip", "rotate".
        learning_rate: the optimizer's learning rate.
        seed: seeds the weights and the augmentation.
        optimizer: "adam" (the reference), "sgd" or "rmsprop".
        steps_per_execution: batches per call of the compiled train step (fewer Python round trips).

    Returns:
        The compiled ``keras.Model``.

    Raises:
        ValueError: for an unknown augmentation or images too small for three blocks.
    """
    import keras

    _check_augment(augment)
    if min(image_shape[:2]) < 22:
        raise ValueError(f"image_shape must be at least 22x22 for three convolution blocks; got {image_shape!r}")
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(image_shape, name="image")
    x = _augmentation(inputs, image_shape, augment, seed)
    for index, filters in enumerate(CONV_FILTERS):
        x = keras.layers.Conv2D(filters, 3, activation="relu", name=f"conv_{index}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{index}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return _compile(keras.Model(inputs, _head(x, num_classes), name="reference_cnn"), learning_rate, optimizer,
                    steps_per_execution)


def encoder_classifier(encoder: Any, num_classes: int, *, learning_rate: float = 1e-3, trainable: bool = True,
                       seed: int = 0, augment: tuple[str, ...] = (), optimizer: str = "adam",
                       steps_per_execution: int = 1) -> Any:
    """A trained encoder plus Dense(128, relu) and a softmax, compiled like the CNN.

    Args:
        encoder: the autoencoder's ``encoder`` (image -> code); its weights are copied, so
            fine-tuning leaves the autoencoder itself unchanged.
        num_classes: outputs of the softmax.
        learning_rate: the optimizer's learning rate.
        trainable: fine-tune the encoder too (True) or train only the head (False).
        seed: seeds the head's weights and the augmentation.
        augment: any of "crop", "flip", "rotate", applied in front of the encoder.
        optimizer, steps_per_execution: as for ``build_cnn``.

    Raises:
        ValueError: for an unknown augmentation or optimizer.
    """
    import keras

    _check_augment(augment)
    keras.utils.set_random_seed(seed)
    copy = keras.models.clone_model(encoder)
    copy.set_weights(encoder.get_weights())
    copy.trainable = trainable
    image_shape = tuple(encoder.input_shape[1:])
    inputs = keras.Input(image_shape, name="image")
    x = _augmentation(inputs, image_shape, augment, seed)
    return _compile(keras.Model(inputs, _head(copy(x), num_classes), name="encoder_classifier"), learning_rate,
                    optimizer, steps_per_execution)


def labelled_dataset(images: np.ndarray, labels: np.ndarray, num_classes: int, batch_size: int, *, shuffle: bool,
                     seed: int = 0) -> Any:
    """(float image, one-hot label) batches, scaled from uint8 one batch at a time.

    Args:
        images: uint8 (N, H, W, C); labels: int (N,).
        num_classes: length of the one-hot vectors.
        batch_size: examples per batch.
        shuffle: reshuffle every epoch (training) or keep the order (evaluation).
        seed: the shuffle's seed.

    Returns:
        A prefetched ``tf.data.Dataset``.
    """
    from ae_core.pipeline import make_dataset  # TensorFlow loads only when a classifier trains.

    return make_dataset(images, batch_size, shuffle=shuffle, seed=seed, labels=labels, num_classes=num_classes)


@dataclass(frozen=True)
class FitResult:
    """A trained classifier's test accuracy, confusion matrix (true x predicted), history and time."""

    accuracy: float
    confusion: np.ndarray
    history: dict[str, list[float]]
    seconds: float


def fit_classifier(model: Any, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
                   num_classes: int, num_epochs: int = 5, batch_size: int = 64, seed: int = 0,
                   on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> FitResult:
    """Train a compiled classifier on uint8 images and score it on the test images.

    Args:
        on_epoch: called with (epochs done, Keras logs) after every epoch, for live display.

    Raises:
        ValueError: for a bad epoch count or batch size.
    """
    import keras
    from sklearn.metrics import confusion_matrix

    for name, value in (("num_epochs", num_epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number of at least 1; got {value!r}")
    callbacks = []
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})))
    start = time.perf_counter()
    validation = labelled_dataset(x_test, y_test, num_classes, batch_size, shuffle=False, seed=seed)
    history = model.fit(labelled_dataset(x_train, y_train, num_classes, batch_size, shuffle=True, seed=seed),
                        validation_data=validation, epochs=num_epochs, callbacks=callbacks, shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    probabilities = model.predict(labelled_dataset(x_test, y_test, num_classes, 512, shuffle=False), verbose=0)
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(y_test, predicted, labels=list(range(num_classes)))
    return FitResult(float(np.mean(predicted == y_test)), confusion,
                     {key: [float(v) for v in values] for key, values in history.history.items()}, seconds)
