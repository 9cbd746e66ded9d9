"""Tests for ae_core.data.datasets against the real datasets (and tiny synthetic files for error paths).

The real data lives in $AE_LAB_DATA_DIR (written by ``python ../shared/datasets/prepare.py
/tmp/ae_data``). These tests skip only when that variable is unset and /tmp/ae_data is missing.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import re
import socket
import sys
import tarfile
import time
import types
from pathlib import Path

import numpy as np
import pytest

from ae_core.data import datasets, download
from ae_core.data import files as dataset_files
from ae_core.data.datasets import (
    DATASETS,
    Splits,
    data_dir,
    is_available_offline,
    load_dataset,
)
from ae_core.errors import DatasetUnavailable

DATA_DIR = Path(os.environ.get("AE_LAB_DATA_DIR") or "/tmp/ae_data")
pytestmark = pytest.mark.skipif(
    "AE_LAB_DATA_DIR" not in os.environ and not DATA_DIR.is_dir(),
    reason="real datasets not found: set AE_LAB_DATA_DIR or run `python ../shared/datasets/prepare.py /tmp/ae_data`",
)
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(autouse=True)
def real_data_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AE_LAB_DATA_DIR", str(DATA_DIR))
    return DATA_DIR


@pytest.fixture
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AE_LAB_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def cifar() -> Splits:
    # Loaded once per module: CIFAR-10 takes a couple of seconds to unpickle.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AE_LAB_DATA_DIR", str(DATA_DIR))
        return load_dataset("cifar10", validation_fraction=0, download=False)


class CallsGetcwd:
    """Pickles as a call to os.getcwd: the kind of gadget a tampered pickle uses to run code."""

    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


def class_counts(labels: np.ndarray) -> list[int]:
    return np.bincount(labels, minlength=10).tolist()


def test_data_dir_prefers_env_then_keras_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert data_dir() == DATA_DIR
    monkeypatch.delenv("AE_LAB_DATA_DIR")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert data_dir() == tmp_path / "datasets"
    monkeypatch.delenv("KERAS_HOME")
    assert data_dir() == Path.home() / ".keras" / "datasets"


def test_every_dataset_is_available_offline_in_the_data_folder() -> None:
    assert [is_available_offline(name) for name in DATASETS] == [True, True, True, True]


def test_mnist_sample_is_a_stratified_shuffled_split() -> None:
    splits = load_dataset("mnist_sample", validation_fraction=0, download=False)
    assert splits.x_train.shape == (4000, 28, 28, 1) and splits.x_test.shape == (1000, 28, 28, 1)
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.int64
    assert splits.image_shape == (28, 28, 1) and splits.class_names == tuple("0123456789")
    assert class_counts(splits.y_train) == [400] * 10 and class_counts(splits.y_test) == [100] * 10
    # The file is sorted by class; after the shuffle the first 50 examples mix many classes.
    assert len(set(splits.y_train[:50].tolist())) >= 7 and len(set(splits.y_test[:50].tolist())) >= 7
    train_rows = {row.tobytes() for row in splits.x_train}
    assert not any(row.tobytes() in train_rows for row in splits.x_test)
    datasets._read_raw.cache_clear()
    again = load_dataset("mnist_sample", validation_fraction=0, download=False)
    assert np.array_equal(again.x_train, splits.x_train) and np.array_equal(again.y_test, splits.y_test)


def test_mnist_sample_images_are_real_mnist_training_images() -> None:
    mnist = load_dataset("mnist", validation_fraction=0, download=False)
    sample = load_dataset("mnist_sample", validation_fraction=0, download=False)
    known = {row.tobytes(): label for row, label in zip(mnist.x_train, mnist.y_train)}
    for images, labels in ((sample.x_train, sample.y_train), (sample.x_test, sample.y_test)):
        assert [known.get(row.tobytes()) for row in images] == labels.tolist()


def test_mnist_shapes_and_label_counts() -> None:
    splits = load_dataset("mnist", validation_fraction=0, download=False)
    assert splits.x_train.shape == (60000, 28, 28, 1) and splits.x_test.shape == (10000, 28, 28, 1)
    assert splits.x_train.dtype == np.uint8 and splits.y_test.dtype == np.int64
    assert class_counts(splits.y_train) == MNIST_TRAIN_COUNTS
    assert splits.x_train.max() == 255 and splits.x_train.min() == 0


def test_fashion_mnist_shapes_and_label_counts() -> None:
    splits = load_dataset("fashion_mnist", validation_fraction=0, download=False)
    assert splits.x_train.shape == (60000, 28, 28, 1) and splits.x_test.shape == (10000, 28, 28, 1)
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.int64
    assert class_counts(splits.y_train) == [6000] * 10 and class_counts(splits.y_test) == [1000] * 10
    assert splits.class_names[9] == "Ankle boot"


def test_cifar10_shapes_counts_and_channel_order(cifar: Splits) -> None:
    assert cifar.x_train.shape == (50000, 32, 32, 3) and cifar.x_test.shape == (10000, 32, 32, 3)
    assert cifar.x_train.dtype == np.uint8 and cifar.y_train.dtype == np.int64
    assert class_counts(cifar.y_train) == [5000] * 10 and class_counts(cifar.y_test) == [1000] * 10
    with open(DATA_DIR / "cifar-10-batches-py" / "data_batch_5", "rb") as file:
        batch = pickle.load(file, encoding="bytes")  # Trusted test data.
    # A batch row is 1024 red, then 1024 green, then 1024 blue values, each row-major.
    assert np.array_equal(cifar.x_train[40007], batch[b"data"][7].reshape(3, 32, 32).transpose(1, 2, 0))
    assert cifar.y_train[40007] == batch[b"labels"][7]


def test_cifar10_grayscale_is_rounded_itu_601_luma(cifar: Splits) -> None:
    gray = load_dataset("cifar10", validation_fraction=0, grayscale=True, download=False)
    assert gray.x_train.shape == (50000, 32, 32, 1) and gray.x_test.shape == (10000, 32, 32, 1)
    assert gray.x_train.dtype == np.uint8 and gray.image_shape == (32, 32, 1)
    assert np.array_equal(gray.y_train, cifar.y_train)
    for colour, luma in ((cifar.x_train[-3000:], gray.x_train[-3000:]), (cifar.x_test[:300], gray.x_test[:300])):
        rgb = colour.astype(np.float64)
        expected = np.floor(0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2] + 0.5)
        # Float round-off can only matter at exact halves, so allow a difference of one there.
        difference = np.abs(luma[..., 0].astype(np.float64) - expected)
        assert difference.max() <= 1 and difference.mean() < 1e-3
    from PIL import (
        Image,  # An independent implementation of the same ITU-R 601 formula.
    )

    pil = np.stack([np.asarray(Image.fromarray(image).convert("L")) for image in cifar.x_test[:200]])
    assert np.abs(pil.astype(int) - gray.x_test[:200, ..., 0].astype(int)).max() <= 1


def test_validation_split_and_train_limit() -> None:
    full = load_dataset("mnist_sample", validation_fraction=0, download=False)
    assert full.x_val is full.x_test and full.y_val is full.y_test
    split = load_dataset("mnist_sample", validation_fraction=0.1, download=False)
    assert np.array_equal(split.x_val, full.x_train[-400:]) and np.array_equal(split.y_val, full.y_train[-400:])
    assert np.array_equal(split.x_train, full.x_train[:-400]) and np.array_equal(split.x_test, full.x_test)
    odd = load_dataset("mnist_sample", validation_fraction=0.123, download=False)
    assert len(odd.x_val) == 492 and len(odd.x_train) == 4000 - 492
    limited = load_dataset("mnist_sample", validation_fraction=0.25, train_limit=100, download=False)
    assert np.array_equal(limited.x_train, full.x_train[:100]) and np.array_equal(limited.y_train, full.y_train[:100])
    assert np.array_equal(limited.y_val, full.y_train[-1000:])
    assert len(load_dataset("mnist_sample", train_limit=10**6, download=False).x_train) == 3600
    assert len(load_dataset("mnist_sample", validation_fraction=1e-6, download=False).x_val) == 1


def test_arrays_are_read_only_and_the_cache_survives_attempts_to_edit(cifar: Splits) -> None:
    splits = load_dataset("mnist_sample", download=False)
    for array in (splits.x_train, splits.y_train, splits.x_val, splits.y_val, splits.x_test, splits.y_test,
                  cifar.x_train, cifar.y_test):
        assert not array.flags.writeable
    original = splits.x_train[0].copy()
    with pytest.raises(ValueError, match="read-only"):
        splits.x_train[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        np.add(splits.x_test, 1, out=splits.x_test)
    assert np.array_equal(load_dataset("mnist_sample", download=False).x_train[0], original)


@pytest.mark.parametrize(("name", "path"), [
    ("mnist", "mnist.npz"),
    ("fashion_mnist", "fashion-mnist"),
    ("cifar10", "cifar-10-batches-py"),
])
def test_missing_dataset_says_where_to_put_it(empty_data_dir: Path, name: str, path: str) -> None:
    assert not is_available_offline(name)
    assert is_available_offline("mnist_sample")
    with pytest.raises(DatasetUnavailable, match=re.escape(str(empty_data_dir / path))) as caught:
        load_dataset(name, download=False)
    assert "AE_LAB_DATA_DIR" in str(caught.value) and "'mnist_sample'" in str(caught.value)


def test_unreachable_host_is_detected_within_the_timeout() -> None:
    started = time.monotonic()
    # 192.0.2.0/24 is reserved for documentation and never routed: the probe must give up on time.
    assert not download.reachable("https://192.0.2.1/data.npz", timeout=0.5)
    assert time.monotonic() - started < 2.0
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert download.reachable(f"http://127.0.0.1:{server.getsockname()[1]}/", timeout=2.0)


def test_offline_download_fails_fast_with_the_same_advice(empty_data_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "reachable", lambda url, timeout=3.0: False)
    with pytest.raises(DatasetUnavailable, match=r"cannot be reached.*'mnist_sample'"):
        load_dataset("mnist", download=True)


def fake_keras(monkeypatch: pytest.MonkeyPatch, get_file: object) -> None:
    """Install a stand-in ``keras`` module (the real one would try the network) and pretend to be online."""
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(utils=types.SimpleNamespace(get_file=get_file)))
    monkeypatch.setattr(download, "reachable", lambda url, timeout=3.0: True)


def test_download_saves_into_the_data_folder(empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []

    def get_file(fname: str, origin: str, file_hash: str | None, cache_dir: str, cache_subdir: str) -> str:
        calls.append(dict(fname=fname, origin=origin, file_hash=file_hash, folder=cache_subdir))
        source = DATA_DIR / ("fashion-mnist" if "ubyte" in fname else "") / fname
        target = Path(cache_subdir) / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        return str(target)

    fake_keras(monkeypatch, get_file)
    mnist = load_dataset("mnist", validation_fraction=0)
    assert calls == [dict(fname="mnist.npz", origin="https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
                          "mnist.npz", file_hash=download.MNIST_HASH, folder=str(empty_data_dir))]
    assert class_counts(mnist.y_train) == MNIST_TRAIN_COUNTS and is_available_offline("mnist")
    load_dataset("fashion_mnist")
    assert sorted(call["fname"] for call in calls[1:]) == sorted(dataset_files.IDX_FILES)
    assert {call["folder"] for call in calls[1:]} == {str(empty_data_dir / "fashion-mnist")}


def test_cifar_download_is_extracted_and_read(empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:  # A tiny CIFAR-10 archive, 4 images a batch.
        for batch in dataset_files.CIFAR_FILES:
            record = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 9]}
            payload = pickle.dumps(record, protocol=2)
            member = tarfile.TarInfo(f"cifar-10-batches-py/{batch}")
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))

    def get_file(fname: str, origin: str, file_hash: str | None, cache_dir: str, cache_subdir: str) -> str:
        assert origin == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" and file_hash
        (Path(cache_subdir) / fname).write_bytes(archive.getvalue())
        return str(Path(cache_subdir) / fname)

    fake_keras(monkeypatch, get_file)
    splits = load_dataset("cifar10", validation_fraction=0)
    assert splits.x_train.shape == (20, 32, 32, 3) and splits.y_test.tolist() == [1, 2, 3, 9]
    assert not (empty_data_dir / "cifar-10-python.tar.gz").exists()


def test_failed_download_becomes_dataset_unavailable(empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def get_file(*args: object, **kwargs: object) -> str:
        raise Exception("URL fetch failure on https://example: None -- [Errno -2] Name or service not known")

    fake_keras(monkeypatch, get_file)
    with pytest.raises(DatasetUnavailable, match=r"download failed: URL fetch failure.*'mnist_sample'"):
        load_dataset("fashion_mnist")


def test_damaged_or_tampered_files_become_dataset_unavailable(empty_data_dir: Path) -> None:
    (empty_data_dir / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(DatasetUnavailable, match="could not be read"):
        load_dataset("mnist", download=False)
    folder = empty_data_dir / "fashion-mnist"
    folder.mkdir()
    for fname in dataset_files.IDX_FILES:
        with gzip.open(folder / fname, "wb") as file:
            file.write(b"\x00\x00\x0d\x01" + b"\x00" * 8)  # Type code 0x0d is float, not unsigned bytes.
    with pytest.raises(DatasetUnavailable, match="not an IDX file of unsigned bytes"):
        load_dataset("fashion_mnist", download=False)
    folder = empty_data_dir / "cifar-10-batches-py"
    folder.mkdir()
    for batch in dataset_files.CIFAR_FILES:
        (folder / batch).write_bytes(pickle.dumps({b"data": CallsGetcwd(), b"labels": [0]}))
    with pytest.raises(DatasetUnavailable, match=r"refusing to load (posix|os)\.getcwd"):
        load_dataset("cifar10", download=False)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(name="foo"), r"dataset must be one of 'mnist_sample', 'mnist', 'fashion_mnist', 'cifar10'; got 'foo'"),
    (dict(name="mnist_sample", grayscale=True), r"grayscale must be false for 'mnist_sample'"),
    (dict(name="cifar10", grayscale="yes"), r"grayscale must be true or false; got 'yes'"),
    (dict(name="mnist_sample", validation_fraction=0.6), r"validation_fraction must be a number in \[0, 0\.5\]"),
    (dict(name="mnist_sample", validation_fraction=-0.1), r"validation_fraction must be .*; got -0\.1"),
    (dict(name="mnist_sample", validation_fraction=float("nan")), r"validation_fraction must be .*; got nan"),
    (dict(name="mnist_sample", train_limit=0), r"train_limit must be a whole number from 1 to 1000000000; got 0"),
    (dict(name="mnist_sample", train_limit=2.5), r"train_limit must be .*; got 2\.5"),
    (dict(name="mnist_sample", train_limit=True), r"train_limit must be .*; got True"),
    (dict(name="mnist_sample", download="no"), r"download must be true or false; got 'no'"),
])
def test_bad_options_raise_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_dataset(**kwargs)


def test_unknown_name_for_availability_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"dataset must be one of .*; got 'svhn'"):
        is_available_offline("svhn")
