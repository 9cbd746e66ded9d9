"""Do autoencoder codes help classify images? Four answers side by side.

1. raw pixels -> logistic regression;
2. the autoencoder's codes -> logistic regression (the linear probe);
3. the autoencoder's encoder plus a dense head, fine-tuned end to end;
4. the reference CNN, trained from scratch.

Every entry reports test accuracy and a confusion matrix on the same test images. Sample
limits keep an interactive comparison to seconds; the benchmark uses the full splits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ae_core.datasets import Splits
from ae_core.models import Autoencoder
from ae_core.probe import ProbeResult, linear_probe, pixel_features, subsample

METHODS = ("pixels_logistic", "codes_logistic", "encoder_finetuned", "cnn")
METHOD_TITLES = {
    "pixels_logistic": "raw pixels → logistic regression",
    "codes_logistic": "autoencoder codes → logistic regression",
    "encoder_finetuned": "encoder + dense head, fine-tuned",
    "cnn": "reference CNN",
}


@dataclass(frozen=True)
class StudyEntry(ProbeResult):
    """One method's result: a ``ProbeResult`` (accuracy, confusion, sizes, time) with the method's name."""

    method: str = ""

    @property
    def title(self) -> str:
        return METHOD_TITLES[self.method]


def run_study(splits: Splits, bundle: Autoencoder | None, *, methods: tuple[str, ...] = METHODS,
              train_limit: int | None = None, test_limit: int | None = None, num_epochs: int = 5,
              batch_size: int = 64, augment: tuple[str, ...] = (), max_iter: int = 300, seed: int = 0,
              on_progress: Callable[[str], None] | None = None) -> list[StudyEntry]:
    """Train and score each chosen method on the same (sub-sampled) train and test images.

    Args:
        splits: the data; the test split is scored.
        bundle: the trained autoencoder (needed by the two code-based methods).
        methods: which of ``METHODS`` to run, in order.
        train_limit, test_limit: use at most this many images (a fixed, seeded choice).
        num_epochs, batch_size, augment: for the two neural classifiers.
        max_iter: for the two logistic regressions.
        on_progress: told the method's title before each one starts.

    Returns:
        One ``StudyEntry`` per method.

    Raises:
        ValueError: for an unknown method, or a code-based method without a model.
    """
    from ae_core import analysis, classifier

    unknown = [method for method in methods if method not in METHODS]
    if unknown:
        raise ValueError(f"methods must be drawn from {', '.join(map(repr, METHODS))}; got {unknown[0]!r}")
    if bundle is None and {"codes_logistic", "encoder_finetuned"} & set(methods):
        raise ValueError("bundle must be a trained autoencoder for the methods that use its codes")
    train_rows = subsample(len(splits.x_train), train_limit, seed)
    test_rows = subsample(len(splits.x_test), test_limit, seed + 1)
    x_train, y_train = splits.x_train[train_rows], splits.y_train[train_rows]
    x_test, y_test = splits.x_test[test_rows], splits.y_test[test_rows]
    num_classes = splits.spec.num_classes
    entries = []
    for method in methods:
        if on_progress is not None:
            on_progress(METHOD_TITLES[method])
        if method in ("pixels_logistic", "codes_logistic"):
            if method == "pixels_logistic":
                train_features, test_features = pixel_features(x_train), pixel_features(x_test)
            else:
                train_features, test_features = analysis.encode(bundle, x_train), analysis.encode(bundle, x_test)
            probe = linear_probe(train_features, y_train, test_features, y_test, num_classes=num_classes,
                                 max_iter=max_iter, seed=seed)
            entries.append(StudyEntry(**vars(probe), method=method))
            continue
        if method == "cnn":
            model = classifier.build_cnn(tuple(x_train.shape[1:]), num_classes, augment=augment, seed=seed)
        else:
            model = classifier.encoder_classifier(bundle.encoder, num_classes, seed=seed)
        fit = classifier.fit_classifier(model, x_train, y_train, x_test, y_test, num_classes=num_classes,
                                        num_epochs=num_epochs, batch_size=batch_size, seed=seed)
        entries.append(StudyEntry(accuracy=fit.accuracy, confusion=fit.confusion,
                                  num_features=int(np.prod(x_train.shape[1:])), num_train=len(y_train),
                                  num_test=len(y_test), seconds=fit.seconds, method=method))
    return entries
