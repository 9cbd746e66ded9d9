"""Accuracy figures: do autoencoder codes help classify? MNIST and CIFAR-10, on the reference data.

For each dataset it trains an autoencoder through ``ae_core.training.train`` (system D
by default: one Dense(64) code layer, binary cross-entropy, Adam, batch 256, validated
on the test split; for CIFAR-10 the convolutional autoencoder with a 128-d code), then
runs ``ae_core.codes_study.run_study``: pixels and codes through logistic regression,
the encoder fine-tuned with a dense head, and the reference CNN. Prints a Markdown table.

    AE_LAB_DATA_DIR=DIR python bench/bench_classify.py --dataset mnist --ae-epochs 50 --epochs 10
    AE_LAB_DATA_DIR=DIR python bench/bench_classify.py --dataset cifar10 --ae-epochs 10 --epochs 10 \\
        --augment crop flip
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ae_core.codes_study import METHODS, run_study  # noqa: E402
from ae_core.config import ModelConfig, TrainConfig  # noqa: E402
from ae_core.datasets import load_dataset  # noqa: E402
from ae_core.training import train  # noqa: E402


def autoencoder_config(dataset: str, num_epochs: int, latent_dim: int | None) -> TrainConfig:
    if dataset == "cifar10":
        model = ModelConfig(arch="conv", latent_dim=latent_dim or 128, conv_filters=(32, 64, 128), loss="mse")
    else:
        model = ModelConfig(arch="dense", latent_dim=latent_dim or 64, loss="bce")
    return TrainConfig(dataset=dataset, model=model, num_epochs=num_epochs, batch_size=256, validation_fraction=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=("mnist_sample", "mnist", "fashion_mnist", "cifar10"))
    parser.add_argument("--ae-epochs", type=int, default=50, help="epochs of the autoencoder")
    parser.add_argument("--latent-dim", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the CNN and the fine-tuned encoder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--augment", nargs="*", default=[], choices=("crop", "flip", "rotate"))
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    args = parser.parse_args()

    config = autoencoder_config(args.dataset, args.ae_epochs, args.latent_dim)
    start = time.perf_counter()
    result = train(config)
    print(f"autoencoder: {config.model.arch}, latent {config.model.latent_dim}, {args.ae_epochs} epochs, "
          f"test MSE {result.metrics.get('test_mse', float('nan')):.5f} in {time.perf_counter() - start:.0f} s",
          flush=True)
    splits = load_dataset(args.dataset, validation_fraction=0.0)
    entries = run_study(splits, result.model, methods=tuple(args.methods), train_limit=args.train_limit,
                        test_limit=args.test_limit, num_epochs=args.epochs, batch_size=args.batch_size,
                        augment=tuple(args.augment), max_iter=args.max_iter,
                        on_progress=lambda title: print(f"... {title}", flush=True))
    train_count = args.train_limit or len(splits.x_train)
    test_count = args.test_limit or len(splits.x_test)
    print(f"\n{args.dataset}: {train_count:,} train / {test_count:,} test images; classifiers {args.epochs} epochs, "
          f"batch {args.batch_size}, augmentation {', '.join(args.augment) or 'none'}\n")
    print("| method | numbers per image | test accuracy | seconds |\n| --- | --- | --- | --- |")
    for entry in entries:
        print(f"| {entry.title} | {entry.num_features} | {entry.accuracy:.2%} | {entry.seconds:.0f} |")


if __name__ == "__main__":
    main()
