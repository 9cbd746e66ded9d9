"""Benchmark: what does the live view cost? Plain ``model.fit`` vs ``ae_core.training.train``.

Trains the reference autoencoder (system D: 784 -> Dense(64, relu) ->
Dense(784, sigmoid), binary cross-entropy, Adam 1e-3, batch 256, validation on
the test split) on real MNIST, alternating between:

- plain Keras, as the reference material does: float32 arrays and ``fit``;
- ``ae_core.training.train`` with every live event on (batch losses,
  epoch metrics, reconstruction and latent snapshots), events collected.

Both are timed in the same process, alternating, so machine noise hits both
alike. Prints throughput (training samples / wall seconds of the fit), the
ratio ours/plain (target >= 0.95), and test MSE of each (target: ours within
10% of plain).

With ``--tensorboard`` it alternates a third variant: the app's trainer whose events also
go through the worker's ``TensorBoardSink`` (event files, images, the projector at the end),
and prints its throughput against the trainer without it (target: >= 0.98).

    AE_LAB_DATA_DIR=DIR python bench/bench_train.py --epochs 10 --repeats 2 [--tensorboard]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ae_core.config import ModelConfig, TrainConfig  # noqa: E402
from ae_core.data import load_dataset  # noqa: E402
from ae_core.export.tensorboard import TensorBoardSink  # noqa: E402
from ae_core.training import train  # noqa: E402

LATENT_DIM, BATCH_SIZE, LEARNING_RATE = 64, 256, 1e-3


def plain_keras(x_train: np.ndarray, x_test: np.ndarray, epochs: int, seed: int) -> tuple[float, float]:
    """The reference material's code path. Returns (samples/s, test MSE)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(784,))
    code = keras.layers.Dense(LATENT_DIM, activation="relu")(inputs)
    outputs = keras.layers.Dense(784, activation="sigmoid")(code)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="binary_crossentropy", metrics=["mse"])
    start = time.perf_counter()
    model.fit(x_train, x_train, epochs=epochs, batch_size=BATCH_SIZE, shuffle=True,
              validation_data=(x_test, x_test), verbose=0)
    seconds = time.perf_counter() - start
    mse = model.evaluate(x_test, x_test, batch_size=BATCH_SIZE, verbose=0, return_dict=True)["mse"]
    return len(x_train) * epochs / seconds, float(mse)


def ae_lab(epochs: int, seed: int, tensorboard_dir: Path | None = None) -> tuple[float, float, dict[str, int]]:
    """The app's trainer with every live event on, and TensorBoard logs in ``tensorboard_dir`` when given.

    Returns (samples/s, test MSE, event counts).
    """
    config = TrainConfig(dataset="mnist", model=ModelConfig(arch="dense", latent_dim=LATENT_DIM, loss="bce"),
                         num_epochs=epochs, batch_size=BATCH_SIZE, optimizer="adam", learning_rate=LEARNING_RATE,
                         seed=seed, validation_fraction=0.0)
    counts: dict[str, int] = {}

    def on_event(event: dict) -> None:
        counts[event["type"]] = counts.get(event["type"], 0) + 1

    if tensorboard_dir is not None:
        sink = TensorBoardSink(CountingSink(counts), tensorboard_dir, config)
        result = train(config, on_event=lambda event: sink.emit("0" * 32, event))
        ended = time.perf_counter()
        sink.close()  # waits for the writing thread: the last events and the projector's files
        counts["close_seconds"] = round(time.perf_counter() - ended, 2)
    else:
        result = train(config, on_event=on_event)
    return result.metrics["samples_per_second"], result.metrics["test_mse"], counts


class CountingSink:
    """An event sink that only counts events by type."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def emit(self, run_id: str, event: dict) -> None:
        self.counts[event["type"]] = self.counts.get(event["type"], 0) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2, help="alternating pairs of runs")
    parser.add_argument("--tensorboard", action="store_true", help="also time the trainer writing TensorBoard logs")
    args = parser.parse_args()

    splits = load_dataset("mnist", validation_fraction=0.0)
    x_train = splits.x_train.reshape(len(splits.x_train), -1).astype("float32") / 255.0
    x_test = splits.x_test.reshape(len(splits.x_test), -1).astype("float32") / 255.0
    print(f"MNIST {x_train.shape[0]} train / {x_test.shape[0]} test, {args.epochs} epochs, "
          f"{args.repeats} alternating pairs, keras {keras.__version__}, {os.cpu_count()} CPUs")

    plain, ours, plain_mse, ours_mse, logged = [], [], [], [], []
    for repeat in range(args.repeats):
        speed, mse = plain_keras(x_train, x_test, args.epochs, seed=repeat)
        plain.append(speed)
        plain_mse.append(mse)
        print(f"  plain model.fit     : {speed:9.0f} samples/s  test MSE {mse:.5f}", flush=True)
        speed, mse, counts = ae_lab(args.epochs, seed=repeat)
        ours.append(speed)
        ours_mse.append(mse)
        print(f"  ae_core.train (live): {speed:9.0f} samples/s  test MSE {mse:.5f}  events {counts}", flush=True)
        if args.tensorboard:
            with tempfile.TemporaryDirectory() as folder:
                speed, mse, counts = ae_lab(args.epochs, seed=repeat, tensorboard_dir=Path(folder))
            logged.append(speed)
            print(f"  ... + TensorBoard   : {speed:9.0f} samples/s  test MSE {mse:.5f}  events {counts}", flush=True)

    ratio = statistics.median(ours) / statistics.median(plain)
    mse_ratio = statistics.median(ours_mse) / statistics.median(plain_mse)
    print(f"throughput ratio ours/plain (median): {ratio:.3f}  (target >= 0.95)")
    print(f"test MSE plain {statistics.median(plain_mse):.5f}, ours {statistics.median(ours_mse):.5f}, "
          f"ratio {mse_ratio:.3f}  (target <= 1.10)")
    if logged:
        print(f"throughput ratio with TensorBoard logs / without (median): "
              f"{statistics.median(logged) / statistics.median(ours):.3f}  (target >= 0.98)")


if __name__ == "__main__":
    main()
