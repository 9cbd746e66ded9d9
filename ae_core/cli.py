"""Command line: ``python -m ae_core train ...``, ``python -m ae_core export RUN_ID`` and ``python -m ae_core datasets``.

``train`` runs the same trainer as the app, in the foreground, with a progress
bar on stderr. With ``--json`` the last line on stdout is one JSON object that
scripts (and the benchmarks) can read. A bad argument gets one line of error
and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from ae_core.config import ACTIVATIONS, ARCHS, LOSSES, NOISE_TYPES, OPTIMIZERS, OUTPUT_ACTIVATIONS, ModelConfig, \
    TrainConfig
from ae_core.data import DATASETS, data_dir, is_available_offline
from ae_core.errors import AELabError
from ae_core.store import RunFolder, write_json_atomic

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 1


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, not usage plus a message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _sizes(text: str) -> tuple[int, ...]:
    """Parse '256,128' (or an empty string for no layers) into a tuple of ints."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers like 256,128; got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m ae_core", description="Autoencoder Lab core: train from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listing = commands.add_parser("datasets", help="list the datasets and whether each is available offline")
    listing.add_argument("--json", action="store_true", help="print one JSON object")

    defaults_model, defaults_train = ModelConfig(), TrainConfig()
    run = commands.add_parser("train", help="train an autoencoder in the foreground and save it")
    run.add_argument("--dataset", choices=tuple(DATASETS), default=defaults_train.dataset)
    run.add_argument("--arch", choices=ARCHS, default=defaults_model.arch)
    run.add_argument("--latent-dim", type=int, default=defaults_model.latent_dim)
    run.add_argument("--hidden", type=_sizes, default=defaults_model.hidden_sizes, help="encoder layers, e.g. 256,128")
    run.add_argument("--decoder-hidden", type=_sizes, default=None, help="decoder layers (default: mirror --hidden)")
    run.add_argument("--conv-filters", type=_sizes, default=defaults_model.conv_filters)
    run.add_argument("--activation", choices=ACTIVATIONS, default=defaults_model.activation)
    run.add_argument("--output-activation", choices=OUTPUT_ACTIVATIONS, default=defaults_model.output_activation)
    run.add_argument("--loss", choices=LOSSES, default=defaults_model.loss)
    run.add_argument("--dropout", type=float, default=0.0)
    run.add_argument("--batch-norm", action="store_true")
    run.add_argument("--l1", type=float, default=0.0, help="L1 weight penalty (the lambda of lambda*R)")
    run.add_argument("--l2", type=float, default=0.0, help="L2 weight penalty")
    run.add_argument("--l1-activity", type=float, default=0.0, help="sparse code: L1 activity penalty")
    run.add_argument("--noise", type=float, default=0.0, help="denoising: noise level (0 = off)")
    run.add_argument("--noise-type", choices=NOISE_TYPES[1:], default="gaussian")
    run.add_argument("--beta", type=float, default=defaults_model.beta, help="VAE: weight of the KL term")
    run.add_argument("--epochs", type=int, default=defaults_train.num_epochs)
    run.add_argument("--batch-size", type=int, default=defaults_train.batch_size)
    run.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults_train.optimizer)
    run.add_argument("--lr", type=float, default=defaults_train.learning_rate)
    run.add_argument("--seed", type=int, default=defaults_train.seed)
    run.add_argument("--train-limit", type=int, default=None, help="train on the first N examples only")
    run.add_argument("--validation-fraction", type=float, default=defaults_train.validation_fraction,
                     help="held-out share of the training split (0 = validate on the test split)")
    run.add_argument("--grayscale", action="store_true", help="CIFAR-10 in grayscale")
    run.add_argument("--out", type=Path, default=None, help="folder for model.keras and config.json")
    run.add_argument("--json", action="store_true", help="end with one JSON line of results on stdout")
    export = commands.add_parser("export", help="write a run of the store ($AE_LAB_HOME) as a Keras script or a zip")
    export.add_argument("run_id", help="the run's id (the Runs page shows it)")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--script", action="store_true", help="a standalone Keras + NumPy script that trains the run")
    what.add_argument("--zip", action="store_true", help="config.json, model.keras, the script, metrics.csv, PNGs")
    export.add_argument("--out", type=Path, default=None,
                        help="the file to write (default: train_<id>.py or run-<id>.zip here; - prints the script)")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Turn parsed arguments into a validated ``TrainConfig`` (ValueError if invalid)."""
    model = ModelConfig(
        arch=args.arch, latent_dim=args.latent_dim, hidden_sizes=args.hidden,
        decoder_hidden_sizes=args.decoder_hidden, conv_filters=args.conv_filters, activation=args.activation,
        output_activation=args.output_activation, loss=args.loss, dropout=args.dropout, batch_norm=args.batch_norm,
        l1_weight=args.l1, l2_weight=args.l2, l1_activity=args.l1_activity,
        noise=args.noise_type if args.noise > 0 else "none", noise_level=max(args.noise, 0.0), beta=args.beta,
    )
    if args.noise < 0:
        raise ValueError(f"noise must be a number >= 0; got {args.noise!r}")
    return TrainConfig(
        dataset=args.dataset, model=model, num_epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, learning_rate=args.lr, seed=args.seed, train_limit=args.train_limit,
        validation_fraction=args.validation_fraction, grayscale=args.grayscale,
    )


class _ProgressBar:
    """A one-line progress bar on stderr, drawn from the trainer's events."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.total_steps, self.num_epochs = stream, 1, 1

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "start":
            self.num_epochs = event["num_epochs"]
            self.total_steps = max(event["num_epochs"] * event["steps_per_epoch"], 1)
        elif kind in ("batch", "epoch"):
            done = event["step"] / self.total_steps
            if kind == "batch":
                epoch, loss, extra = event["epoch"] + 1, event["loss"], ""
            else:
                metrics = event["metrics"]
                epoch, loss = event["epoch"], metrics.get("loss", float("nan"))
                extra = f"  val_loss {metrics['val_loss']:.4f}" if "val_loss" in metrics else ""
            self.stream.write(f"\r[{'#' * int(30 * done):<30}] {100 * done:5.1f}%  epoch {epoch}/{self.num_epochs}"
                              f"  loss {loss:.4f}{extra}   " + ("\n" if kind == "epoch" else ""))
            self.stream.flush()
        elif kind == "end":
            self.stream.write(f"\n{event['message']}\n")


def check_out_folder(out: Path) -> None:
    """Check that ``out`` is, or can become, a folder that the model can be written into.

    Nothing is left behind: the probe is a temporary file in the folder or, when the folder
    does not exist yet, in its nearest existing parent (creating a folder there takes the
    same right). The real test beats ``os.access``, which says yes to root on a read-only disk.

    Args:
        out: the folder ``--out`` names.

    Raises:
        ValueError: when ``out`` or a parent of it is not a folder, or cannot be written.
    """
    allowed = "--out must be a folder that can be created and written; got"
    existing = out
    while True:
        try:
            existing.lstat()  # lstat: a dangling link is in the way too
            break
        except (FileNotFoundError, NotADirectoryError) as error:
            if existing.parent == existing:
                raise ValueError(f"{allowed} {out}; {existing} cannot be found ({error.strerror})") from error
            existing = existing.parent
        except OSError as error:
            raise ValueError(f"{allowed} {out}; {existing} cannot be reached ({error.strerror})") from error
    where = f"{out}" if existing == out else f"{out}, inside {existing}"
    if not existing.is_dir():
        raise ValueError(f"{allowed} {where}, which is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"{allowed} {where}, which cannot be written ({error.strerror})") from error


def _train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or Path("ae_lab_models") / f"{config.dataset}-{config.model.arch}-{config.model.latent_dim}d-{stamp}"
    check_out_folder(out)  # before training, which would otherwise end in a traceback and a lost model
    from ae_core.models import save_autoencoder  # TensorFlow loads only when training.
    from ae_core.training import FAILED, FINISHED, train

    result = train(config, on_event=_ProgressBar(sys.stderr))
    model_path = None
    if result.status != FAILED:
        folder = RunFolder(out)  # the same file names as a run folder of the app's store
        folder.path.mkdir(parents=True, exist_ok=True)
        model_path = folder.model_path
        save_autoencoder(result.model, model_path)
        write_json_atomic(folder.config_path, config.to_dict())
    if args.json:
        summary = {
            "status": result.status, "message": result.message, "dataset": config.dataset,
            "arch": config.model.arch, "latent_dim": config.model.latent_dim, "epochs": config.num_epochs,
            **{key: result.metrics.get(key) for key in ("test_loss", "test_mse", "test_psnr", "seconds",
                                                          "samples_per_second", "epochs_completed")},
            "model_path": str(model_path) if model_path else None, "config": config.to_dict(),
        }
        print(json.dumps(summary))
    return 0 if result.status == FINISHED else 1


class _StoreReader:
    """The job manager's reading API over a bare ``RunStore``: exporting needs no workers."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.get_run, self.metrics_since = store.get_run, store.metrics_since

    def latest_snapshot(self, run_id: str, kind: str) -> dict[str, Any] | None:
        return self.store.read_snapshot(run_id, kind)

    def model_path(self, run_id: str) -> Path | None:
        path = self.store.folder(run_id).model_path
        return path if path.is_file() else None

    def config_path(self, run_id: str) -> Path:
        return self.store.folder(run_id).config_path


def _export(args: argparse.Namespace) -> int:
    from ae_core.export.bundle import gather, run_zip, script_filename, zip_filename
    from ae_core.export.script import training_script
    from ae_core.store import RunStore

    reader = _StoreReader(RunStore())
    record = reader.get_run(args.run_id)
    if args.script:
        text = training_script(record.config, record.run_id)
        if str(args.out) == "-":
            sys.stdout.write(text)
            return 0
        out, data = args.out or Path(script_filename(record.run_id)), text.encode("utf-8")
    else:
        out, data = args.out or Path(zip_filename(record.run_id)), run_zip(gather(reader, record.run_id))
    try:
        out.write_bytes(data)
    except OSError as error:
        raise ValueError(f"--out must be a file that can be written; {out} cannot ({error.strerror})") from error
    print(f"Wrote {out}" + (f"; run it with: python {out}" if args.script else ""))
    return 0


def _datasets(args: argparse.Namespace) -> int:
    rows = [{"name": name, "title": spec.title, "offline": is_available_offline(name)}
            for name, spec in DATASETS.items()]
    if args.json:
        print(json.dumps({"data_dir": str(data_dir()), "datasets": rows}))
        return 0
    print(f"data folder: {data_dir()} (set AE_LAB_DATA_DIR to change it)")
    for row in rows:
        print(f"  {row['name']:<14} {'offline' if row['offline'] else 'download needed':<16} {row['title']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        commands = {"train": _train, "export": _export, "datasets": _datasets}
        return commands[args.command](args)
    except ValueError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except AELabError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
