"""Accuracy figures: do autoencoder codes help classify? MNIST and CIFAR-10, on the reference data.

Everything is trained the way the app trains it: through the job service
(``ae_core.service.JobManager``, in a temporary ``AE_LAB_HOME``). First an autoencoder run
(system D by default: one Dense(64) code layer, binary cross-entropy, Adam, batch 256;
for CIFAR-10 the convolutional autoencoder with a 128-d code); then the two linear probes
of the Classify page (``ae_core.analysis.fit_probes``: pixels and that run's codes through
logistic regression); then the two classify runs the Classify page submits, the reference
CNN (``classifier="cnn"``) and that run's encoder with a dense head (``"encoder_head"``).
Every run validates on the test split (``validation_fraction=0``). Prints a Markdown table.

    AE_LAB_DATA_DIR=DIR python bench/bench_classify.py --dataset mnist --ae-epochs 50 --epochs 10
    AE_LAB_DATA_DIR=DIR python bench/bench_classify.py --dataset cifar10 --ae-epochs 10 --epochs 10 \\
        --augment crop flip
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ae_core.analysis import CLASSIFY_TITLES, PROBES, fit_probes  # noqa: E402
from ae_core.config import AUGMENTATIONS, CLASSIFIERS, ModelConfig, TrainConfig  # noqa: E402
from ae_core.data import DATASETS, load_dataset  # noqa: E402
from ae_core.service import JobManager  # noqa: E402
from ae_core.store import RunRecord, RunStatus  # noqa: E402

POLL_SECONDS = 1.0


def autoencoder_config(dataset: str, num_epochs: int, latent_dim: int | None, train_limit: int | None) -> TrainConfig:
    """The autoencoder whose codes are probed and whose encoder is fine-tuned."""
    if dataset == "cifar10":
        model = ModelConfig(arch="conv", latent_dim=latent_dim or 128, conv_filters=(32, 64, 128), loss="mse")
    else:
        model = ModelConfig(arch="dense", latent_dim=latent_dim or 64, loss="bce")
    return TrainConfig(dataset=dataset, model=model, num_epochs=num_epochs, batch_size=256, train_limit=train_limit,
                       validation_fraction=0.0)


def wait(manager: JobManager, run_id: str) -> RunRecord:
    """Block until the run ends; its record if it FINISHED, else exit with its message."""
    while manager.get_run(run_id).status.is_active:
        time.sleep(POLL_SECONDS)
    record = manager.get_run(run_id)
    if record.status is not RunStatus.FINISHED:
        sys.exit(f"run {run_id} ended {record.status.value}: {record.message}")
    return record


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=("mnist_sample", "mnist", "fashion_mnist", "cifar10"))
    parser.add_argument("--ae-epochs", type=int, default=50, help="epochs of the autoencoder")
    parser.add_argument("--latent-dim", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the CNN and the fine-tuned encoder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--augment", nargs="*", default=[], choices=AUGMENTATIONS)
    parser.add_argument("--train-limit", type=int, default=None,
                        help="train everything on the first N training images (TrainConfig.train_limit)")
    parser.add_argument("--test-limit", type=int, default=None,
                        help="score the probes on a fixed sample of N test images (the classifiers, as in the "
                             "app, score the whole test split)")
    parser.add_argument("--max-iter", type=int, default=300, help="L-BFGS iterations of the probes")
    parser.add_argument("--methods", nargs="*", default=list(CLASSIFY_TITLES), choices=tuple(CLASSIFY_TITLES))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    methods = [method for method in CLASSIFY_TITLES if method in args.methods]
    rows: dict[str, dict[str, Any]] = {}
    num_pixels = math.prod(DATASETS[args.dataset].image_shape)
    # One run at a time, with every core: the seconds of each are its own, not shared.
    with tempfile.TemporaryDirectory(prefix="ae_lab_bench_") as home, \
            JobManager(home, max_concurrent=1, threads_per_run=os.cpu_count() or 1) as manager:
        source_id = None
        config = autoencoder_config(args.dataset, args.ae_epochs, args.latent_dim, args.train_limit)
        if {"codes", "encoder_head"} & set(methods):
            print(f"... autoencoder: {config.model.arch}, latent {config.model.latent_dim}, {args.ae_epochs} epochs",
                  flush=True)
            source_id = manager.submit(config)
            result = wait(manager, source_id).result or {}
            print(f"autoencoder: test MSE {result.get('test_mse', float('nan')):.5f} in "
                  f"{result.get('seconds', float('nan')):.0f} s", flush=True)
        probes = [method for method in methods if method in PROBES]
        if probes:
            print(f"... {', '.join(CLASSIFY_TITLES[name] for name in probes)}", flush=True)
            # The classifiers' training images (the first N), so all four learn from the same ones.
            splits = load_dataset(args.dataset, train_limit=args.train_limit, validation_fraction=0.0)
            bundle = None
            if "codes" in probes:
                from ae_core.models import load_autoencoder

                bundle = load_autoencoder(manager.model_path(source_id))
            for name, probe in fit_probes(splits, bundle, probes=probes, test_limit=args.test_limit,
                                          max_iter=args.max_iter).items():
                rows[name] = {"features": probe.num_features, "accuracy": probe.accuracy, "train": probe.num_train,
                              "test": probe.num_test, "seconds": probe.seconds}
        for classifier in (method for method in methods if method in CLASSIFIERS):
            print(f"... {CLASSIFY_TITLES[classifier]}", flush=True)
            # The very config the Classify page submits for this autoencoder run.
            classify = config.classifier_run(source_id, classifier, num_epochs=args.epochs, batch_size=args.batch_size,
                                             augment=args.augment, train_limit=args.train_limit)
            result = wait(manager, manager.submit(classify)).result or {}
            rows[classifier] = {"features": num_pixels, "accuracy": result["test_accuracy"],
                                "train": int(result["num_train"]), "test": int(result["num_test"]),
                                "seconds": result["seconds"]}
    print(f"\n{args.dataset}: classifiers {args.epochs} epochs, batch {args.batch_size}, augmentation "
          f"{', '.join(args.augment) or 'none'}; probes {args.max_iter} iterations\n")
    print("| method | numbers per image | test accuracy | training images | test images | seconds |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for method in methods:
        row = rows[method]
        print(f"| {CLASSIFY_TITLES[method]} | {row['features']} | {row['accuracy']:.2%} | {row['train']:,} | "
              f"{row['test']:,} | {row['seconds']:.0f} |")


if __name__ == "__main__":
    main()
