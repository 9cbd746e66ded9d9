"""Fetching a dataset that is not on this machine, through Keras, without hanging offline.

``ae_core.data.datasets`` looks in the local data folder first; only when a dataset is
missing there does it come here. Keras's download has no timeout, so a reachability probe
runs first, and a failure becomes the sentence that says which file to put where.
"""

from __future__ import annotations

import socket
import tarfile
import threading
import urllib.parse
import urllib.request
from pathlib import Path

from ae_core.data.datasets import DATA_DIR_ENV, DATASETS
from ae_core.data.files import CIFAR_FILES, IDX_FILES

# The published origins and hashes, copied from keras/src/datasets/{mnist,fashion_mnist,cifar10}.py.
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MNIST_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
CIFAR_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"

def missing_message(name: str, directory: Path, reason: str) -> str:
    if name == "mnist":
        hint = f"put mnist.npz (from {KERAS_ORIGIN}mnist.npz) at {directory / 'mnist.npz'}"
    elif name == "fashion_mnist":
        hint = f"put {', '.join(IDX_FILES)} (from {KERAS_ORIGIN}) in {directory / 'fashion-mnist'}"
    else:
        hint = (f"extract {CIFAR_ORIGIN} into {directory}, so that {directory / 'cifar-10-batches-py'} "
                f"holds {', '.join(CIFAR_FILES)}")
    return (f"{DATASETS[name].title} is not on this machine and was not downloaded ({reason}). To use it, "
            f"{hint}. The data folder is ${DATA_DIR_ENV} if set, else Keras's cache folder "
            f"(~/.keras/datasets). Or choose 'mnist_sample', which works offline.")


def reachable(url: str, timeout: float = 3.0) -> bool:
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


def download(name: str, directory: Path) -> str | None:
    """Download ``name`` into ``directory`` through Keras; return why it failed, or None."""
    origin = CIFAR_ORIGIN if name == "cifar10" else KERAS_ORIGIN
    if not reachable(origin):
        return f"{urllib.parse.urlsplit(origin).hostname} cannot be reached from this machine"
    try:
        import keras  # Imported here only: it pulls in TensorFlow, which takes seconds.

        # An absolute cache_subdir makes get_file save exactly there; it shows a progress bar.
        def fetch(fname: str, url: str, file_hash: str | None, folder: Path) -> Path:
            return Path(keras.utils.get_file(fname, origin=url, file_hash=file_hash,
                                             cache_dir=str(directory), cache_subdir=str(folder)))

        if name == "mnist":
            fetch("mnist.npz", KERAS_ORIGIN + "mnist.npz", MNIST_HASH, directory)
        elif name == "fashion_mnist":
            for fname in IDX_FILES:  # Keras publishes no hashes for these.
                fetch(fname, KERAS_ORIGIN + fname, None, directory / "fashion-mnist")
        else:
            archive = fetch("cifar-10-python.tar.gz", CIFAR_ORIGIN, CIFAR_HASH, directory)
            with tarfile.open(archive) as tar:
                tar.extractall(directory, filter="data")
            archive.unlink()
    # get_file raises a bare Exception for network errors and ValueError for a bad hash; either
    # way the user needs the "put the file here" message, not a traceback.
    except Exception as error:  # noqa: BLE001
        return f"the download failed: {error}"
    return None
