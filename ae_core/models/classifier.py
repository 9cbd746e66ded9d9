"""Image classifiers: the reference CNN, and an autoencoder's encoder with a dense head.

The CNN is the reference material's CIFAR-10 classifier (system B): three blocks of a
3x3 convolution (32, 64, 128 filters, relu) and 2x2 max pooling, then Dense(128, relu)
and Dense(classes, softmax), trained with Adam on categorical cross-entropy. Optional
augmentation layers (random crop, horizontal flip, small rotation) sit in front; Keras
runs them only while training, so evaluation sees the images untouched.

``encoder_classifier`` puts the same dense head on a trained autoencoder's encoder and
fine-tunes both together: the fourth answer to "do autoencoder codes help?".

Both are trained only as classify runs (``TrainConfig(task="classify")``) through
``ae_core.training.train``, so the app, the CLI and the benchmark share one fit loop.
They are built from a config that already validated its settings (``augment`` among
them), so nothing is checked twice here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CROP_PADDING = 4
ROTATION_FRACTION = 0.05  # of a full turn: about +-18 degrees
CONV_FILTERS = (32, 64, 128)
DENSE_UNITS = 128


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
    from ae_core.models.zoo import make_optimizer

    model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def build_cnn(image_shape: tuple[int, int, int], num_classes: int, *, augment: tuple[str, ...] = (),
              learning_rate: float = 1e-3, seed: int = 0, optimizer: str = "adam",
              steps_per_execution: int = 1) -> Any:
    """The reference CNN, compiled (Adam, categorical cross-entropy, accuracy).

    Args:
        image_shape: (H, W, C) of float images in [0, 1]; at least 22x22 for three blocks.
        num_classes: outputs of the softmax.
        augment: distinct names among "crop", "flip", "rotate" (``TrainConfig.augment``,
            validated there).
        learning_rate: the optimizer's learning rate.
        seed: seeds the weights and the augmentation.
        optimizer: "adam" (the reference), "sgd" or "rmsprop".
        steps_per_execution: batches per call of the compiled train step (fewer Python round trips).

    Returns:
        The compiled ``keras.Model``.

    Raises:
        ValueError: for images too small for three blocks, or an unknown optimizer.
    """
    import keras

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
        augment: as for ``build_cnn``, applied in front of the encoder.
        optimizer, steps_per_execution: as for ``build_cnn``.

    Returns:
        The compiled ``keras.Model``.

    Raises:
        ValueError: for an unknown optimizer.
    """
    import keras

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
    from ae_core.data import make_dataset  # TensorFlow loads only when a classifier trains.

    return make_dataset(images, batch_size, shuffle=shuffle, seed=seed, labels=labels, num_classes=num_classes)
