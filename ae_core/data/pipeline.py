"""The tf.data input pipeline: uint8 images in, float32 batches out.

Images stay uint8 in memory (CIFAR-10 is 150 MB that way and 600 MB as
float32). The pipeline shuffles *indices*, gathers a whole batch at once from a
constant uint8 tensor and scales it to [0, 1], so per-example work never runs
in Python and the float copy only ever exists one batch at a time.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def make_dataset(images: np.ndarray, batch_size: int, *, shuffle: bool, seed: int = 0,
                 labels: np.ndarray | None = None, num_classes: int = 0) -> tf.data.Dataset:
    """Build a dataset of (input, target) float32 batches.

    Args:
        images: uint8 array shaped (N, H, W, C).
        batch_size: examples per batch; the last batch may be smaller.
        shuffle: reshuffle the order every epoch (training) or keep it (evaluation).
        seed: seed of the shuffle, so a run is repeatable.
        labels: int class labels (N,) for a classifier; without them the
            target is the image itself (an autoencoder).
        num_classes: length of the one-hot label vectors, with ``labels``.

    Returns:
        A prefetched ``tf.data.Dataset`` of ``(x, x)`` or ``(x, one_hot(label))`` batches.
    """
    count = len(images)
    # One constant tensor; gathering from it per batch is much cheaper than
    # slicing examples one by one, and keeps the data uint8 until the last step.
    source = tf.constant(images)
    targets = None if labels is None else tf.one_hot(tf.constant(labels), num_classes)
    indices = tf.data.Dataset.range(count)
    if shuffle:
        indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)

    def gather(batch_indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch = tf.cast(tf.gather(source, batch_indices), tf.float32) * (1.0 / 255.0)
        return batch, batch if targets is None else tf.gather(targets, batch_indices)

    dataset = indices.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
