"""The linear probes: how much of the class can a straight line read off the features?

Logistic regression is fitted once on raw pixels and once on an autoencoder's codes. If
the codes score as well as the pixels with 10-25x fewer numbers, the autoencoder kept
what matters for the class; the reference material's honest finding is that on MNIST
they come close to, but do not beat, the pixels.

The probes are two of the four answers to "do autoencoder codes help classify?"; the
other two are neural classifiers (``TrainConfig.classifier`` ``"cnn"`` and
``"encoder_head"``), which train as classify runs through ``ae_core.training.train``
like every other run. ``CLASSIFY_TITLES`` names all four, so the Classify page and
the benchmark label them alike.

Features are standardised first (codes of different dimensions have very different
scales), and the solver is seeded, so a probe is repeatable. The Classify page's probes
(``pixel_probe``, ``code_probe``: a fixed ``PAGE_SAMPLE``) are kept as small JSON files
under ``cache_folder()``: the pixel probe takes seconds and depends on the data only, so
a server pays for it once, in its warm-up, and never again after a restart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ae_core.checks import fail
from ae_core.data import Splits, fixed_sample, load_dataset
from ae_core.store import CACHE_DIRNAME, default_home, write_json_atomic

if TYPE_CHECKING:
    from ae_core.models import Autoencoder

logger = logging.getLogger(__name__)

DEFAULT_MAX_ITER = 300
# The Classify page's probes: a fixed sample keeps them to seconds; both fit and score the same images.
PAGE_SAMPLE = {"train_limit": 5000, "test_limit": 2000, "max_iter": 200}
# Bump when a change to the probes makes the cached results stale.
CACHE_VERSION = 1
PROBES = ("pixels", "codes")
# The four answers, in the order they are tabled; the neural ones are keyed by TrainConfig.classifier.
CLASSIFY_TITLES = {"pixels": "raw pixels → logistic regression", "codes": "autoencoder codes → logistic regression",
                   "encoder_head": "encoder + dense head, fine-tuned", "cnn": "reference CNN"}


@dataclass(frozen=True)
class ProbeResult:
    """A fitted probe's test accuracy, its confusion matrix (true x predicted) and cost."""

    accuracy: float
    confusion: np.ndarray
    num_features: int
    num_train: int
    num_test: int
    seconds: float


def pixel_features(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C) flattened to float32 (N, H*W*C) in [0, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be a uint8 array shaped (N, H, W, C); got {images.dtype} {images.shape}")
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def _check(name: str, features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features, labels = np.asarray(features, dtype=np.float64), np.asarray(labels)
    if features.ndim != 2 or labels.ndim != 1 or len(features) != len(labels) or len(labels) == 0:
        raise ValueError(f"{name} features must be (n, d) with one label each (n >= 1); got {features.shape} "
                         f"and {labels.shape}")
    if not np.isfinite(features).all():
        raise ValueError(f"{name} features must be finite numbers; some are NaN or infinite")
    return features, labels


def linear_probe(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                 test_labels: np.ndarray, *, num_classes: int, max_iter: int = DEFAULT_MAX_ITER,
                 seed: int = 0) -> ProbeResult:
    """Fit standardised logistic regression on the train features; score it on the test features.

    Args:
        train_features, test_features: float arrays (n, d), the same d.
        train_labels, test_labels: int class labels (n,).
        num_classes: classes in the confusion matrix.
        max_iter: L-BFGS iterations (it may stop before converging; more is slower).
        seed: the solver's random state.

    Returns:
        The ``ProbeResult``.

    Raises:
        ValueError: for mismatched shapes, non-finite features, or fewer than two classes
            among the training labels.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_features, train_labels = _check("train", train_features, train_labels)
    test_features, test_labels = _check("test", test_features, test_labels)
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"test features must have the train features' {train_features.shape[1]} columns; "
                         f"got {test_features.shape[1]}")
    if len(np.unique(train_labels)) < 2:
        raise ValueError("train labels must hold at least two classes for a classifier to learn anything")
    start = time.perf_counter()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
    model.fit(train_features, train_labels)
    predicted = model.predict(test_features)
    seconds = time.perf_counter() - start
    confusion = confusion_matrix(test_labels, predicted, labels=list(range(num_classes)))
    return ProbeResult(accuracy=float(np.mean(predicted == test_labels)), confusion=confusion,
                       num_features=int(train_features.shape[1]), num_train=len(train_labels),
                       num_test=len(test_labels), seconds=seconds)


def fit_probes(splits: Splits, bundle: Autoencoder | None = None, *, probes: Sequence[str] = PROBES,
               train_limit: int | None = None, test_limit: int | None = None, max_iter: int = DEFAULT_MAX_ITER,
               seed: int = 0) -> dict[str, ProbeResult]:
    """Fit the chosen probes on the same (sub-sampled) training images and score them on the same test images.

    Args:
        splits: the data; the training split is fitted and the test split scored.
        bundle: the trained autoencoder whose codes the ``"codes"`` probe reads (unused otherwise).
        probes: which of ``PROBES`` to fit, in order.
        train_limit, test_limit: use at most this many images (a fixed, seeded choice; None for all).
        max_iter: L-BFGS iterations of each logistic regression.
        seed: picks the sample and seeds the solver.

    Returns:
        The ``ProbeResult`` of each probe, keyed by its name in ``PROBES``.

    Raises:
        ValueError: for an unknown probe, the ``"codes"`` probe without an autoencoder, or
            data a probe cannot fit (see ``linear_probe``).
    """
    for name in probes:
        if name not in PROBES:
            fail("probes", name, "drawn from " + ", ".join(map(repr, PROBES)))
    if "codes" in probes and bundle is None:
        fail("bundle", bundle, "a trained autoencoder for the 'codes' probe")
    # Every probe sees the same rows, so their accuracies differ only by the features. The
    # test split has its own seed, so equal-sized splits are not sampled at the same positions.
    train_rows = fixed_sample(len(splits.x_train), train_limit, seed)
    test_rows = fixed_sample(len(splits.x_test), test_limit, seed + 1)
    x_train, x_test = splits.x_train[train_rows], splits.x_test[test_rows]
    results = {}
    for name in probes:
        if name == "pixels":
            train_features, test_features = pixel_features(x_train), pixel_features(x_test)
        else:
            from ae_core.analysis.latent import encode  # Keras loads only when codes are probed.

            train_features, test_features = encode(bundle, x_train), encode(bundle, x_test)
        results[name] = linear_probe(train_features, splits.y_train[train_rows], test_features,
                                     splits.y_test[test_rows], num_classes=splits.spec.num_classes,
                                     max_iter=max_iter, seed=seed)
    return results


def cache_folder() -> Path:
    """Where the Classify page's probe results are kept: ``<the store's home>/cache/probes``."""
    return default_home() / CACHE_DIRNAME / "probes"


def _page_splits(dataset: str, grayscale: bool) -> Splits:
    return load_dataset(dataset, validation_fraction=0.0, grayscale=grayscale, download=False)


def pixel_probe(dataset: str, grayscale: bool, *, folder: Path | None = None) -> ProbeResult:
    """The Classify page's pixel probe of a dataset (``PAGE_SAMPLE``), from the disk cache or fitted and kept there.

    It depends on the data only, so every run of a dataset shares it.

    Args:
        dataset: a name in ``DATASETS``; its files must be on this machine (nothing is downloaded).
        grayscale: whether colour images are turned to gray first.
        folder: the cache folder (default ``cache_folder()``).

    Returns:
        The ``ProbeResult``.

    Raises:
        DatasetUnavailable: when the dataset's files are not on this machine.
        ValueError: for an unknown dataset or data a probe cannot fit.
    """
    key = {"probe": "pixels", "dataset": dataset, "grayscale": bool(grayscale), **PAGE_SAMPLE}
    return cached(key, lambda: fit_probes(_page_splits(dataset, grayscale), probes=("pixels",),
                                          **PAGE_SAMPLE)["pixels"], folder=folder)


def code_probe(dataset: str, grayscale: bool, model_path: Path, *, load: Callable[[Path], Autoencoder] | None = None,
               folder: Path | None = None) -> ProbeResult:
    """The Classify page's probe of the codes of the autoencoder saved at ``model_path``, on the pixel probe's images.

    Kept on disk by the model file's path and modification time, so a resumed run's new
    model is probed afresh.

    Args:
        dataset, grayscale: the run's data, as for ``pixel_probe``.
        model_path: the run's saved autoencoder.
        load: loads the model when the probe must be fitted (default ``load_autoencoder``;
            the app passes its in-memory cache).
        folder: the cache folder (default ``cache_folder()``).

    Returns:
        The ``ProbeResult``.

    Raises:
        DatasetUnavailable: when the dataset's files are not on this machine.
        OSError: when the model file cannot be read.
        ValueError: for data a probe cannot fit.
    """
    if load is None:
        from ae_core.models import load_autoencoder as load  # Keras loads only when codes are probed.
    model_path = Path(model_path)
    key = {"probe": "codes", "dataset": dataset, "grayscale": bool(grayscale), "model": str(model_path.resolve()),
           "mtime": model_path.stat().st_mtime, **PAGE_SAMPLE}
    return cached(key, lambda: fit_probes(_page_splits(dataset, grayscale), load(model_path),
                                          probes=("codes",), **PAGE_SAMPLE)["codes"], folder=folder)


def cached(key: dict[str, Any], fit: Callable[[], ProbeResult], *, folder: Path | None = None) -> ProbeResult:
    """The probe result kept under ``key`` in ``folder``, else ``fit()``, kept there for next time.

    A damaged or unwritable cache file is logged and never fatal: the probe is fitted again.

    Args:
        key: JSON-able facts that decide the result (the probe, its data and options).
        fit: fits the probe when nothing is kept.
        folder: the cache folder (default ``cache_folder()``).

    Returns:
        The ``ProbeResult``.
    """
    folder = Path(folder) if folder is not None else cache_folder()
    text = json.dumps({**key, "version": CACHE_VERSION}, sort_keys=True)
    path = folder / f"{key.get('probe', 'probe')}-{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
    kept = _read(path, text)
    if kept is not None:
        return kept
    result = fit()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"key": text, "result": {**asdict(result), "confusion": result.confusion.tolist()}})
    except OSError as error:
        logger.warning("could not keep the probe result in %s: %s", path, error)
    return result


def _read(path: Path, key: str) -> ProbeResult | None:
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored["key"] != key:
            return None
        fields = stored["result"]
        return ProbeResult(accuracy=float(fields["accuracy"]), confusion=np.asarray(fields["confusion"], np.int64),
                           num_features=int(fields["num_features"]), num_train=int(fields["num_train"]),
                           num_test=int(fields["num_test"]), seconds=float(fields["seconds"]))
    except Exception as error:  # noqa: BLE001 - any damage means the same: fit it again
        logger.warning("ignoring the damaged probe cache %s (%s: %s)", path, type(error).__name__, str(error)[:100])
        return None
