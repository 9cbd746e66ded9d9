"""Diagnostics in plain words: the failures students actually hit, each said in one sentence.

Each check is a small pure function over a run's ``RunEvidence`` (its config, its metric
series and its latest snapshots) that returns a ``Finding`` or None; ``diagnose`` runs them
all. The thresholds are named constants, set from real runs (``bench/bench_diagnostics.py``;
README, "Diagnostics in plain words"): the default run and every preset of the Train page
on ``mnist_sample`` stay quiet.

A run too young to judge gets no finding: every check that reads metrics or snapshots
waits for whole epochs, because an untrained model's first seconds look like every
failure at once (grey guesses, codes near zero, a loss that has not moved yet). Only the
identity risk, a fact of the setup, is said from the start.

Nothing here imports TensorFlow or Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ae_core.config import TrainConfig
from ae_core.store import MetricRow

WARNING, INFO = "warning", "info"

# Snapshot checks (dead units, collapse, mean image) wait for this many whole epochs.
MIN_EPOCHS_FOR_SNAPSHOTS = 1
# A code dimension is dead when its largest magnitude over the snapshot's images is at most
# DEAD_CODE_TOLERANCE. A small code (at most SMALL_CODE_DIMS numbers) cannot spare one: a 2-D
# map with a dead dimension is a line. A large one can lose many and still work: the default
# run has 1 of 32 dead from its first batch on, the Deep dense preset 10 of 32, the
# Convolutional preset 17 to 21 of 32 with good reconstructions. So for a large code the
# check speaks when at least DEAD_CODE_FRACTION of it is dead.
DEAD_CODE_TOLERANCE = 1e-6
SMALL_CODE_DIMS = 4
DEAD_CODE_FRACTION = 0.75
# A VAE code dimension whose KL from the prior, averaged over the snapshot's images, is
# below this many nats says (almost) the same for every image: it carries no information.
COLLAPSE_KL_NATS = 0.01
# Reconstructions whose spread across images is below MEAN_IMAGE_SPREAD_RATIO of the
# originals' spread are (nearly) one picture: the mean image. Healthy runs pass through it
# first (the Convolutional and Classic presets are at 0.01 to 0.2 until about step 60, above
# 0.3 from step 80 and about 0.4 at step 100, and the Convolutional preset's whole run is
# 145 steps), so it is judged from MIN_STEPS_FOR_MEAN_IMAGE training steps.
MEAN_IMAGE_SPREAD_RATIO = 0.3
MIN_STEPS_FOR_MEAN_IMAGE = 100
# Overfitting: validation loss rose at each of the last OVERFIT_EPOCHS epochs, by at least
# OVERFIT_MIN_RISE of its best value in all, while the training loss fell over them.
OVERFIT_EPOCHS = 3
OVERFIT_MIN_RISE = 0.01
# Too high: the epoch training loss is above where the run began (its first epoch's, or the
# untrained model's first batch loss) by more than RISE_TOLERANCE, or it rose (by more than
# RISE_TOLERANCE) at least HIGH_LR_RISES times in the last HIGH_LR_WINDOW epochs.
HIGH_LR_WINDOW = 5
HIGH_LR_RISES = 2
RISE_TOLERANCE = 0.01
# Too low: after MIN_EPOCHS_FOR_LOW_LR epochs the training loss is still at least this
# fraction of the run's first batch loss (the untrained model's), and not above it.
LOW_LR_FRACTION = 0.8
MIN_EPOCHS_FOR_LOW_LR = 2

KINDS = ("identity_risk", "dead_code_units", "posterior_collapse", "mean_image", "overfitting",
         "learning_rate_too_high", "learning_rate_too_low")


@dataclass(frozen=True)
class Finding:
    """One diagnosis: what went wrong in one sentence, and what to try.

    ``kind`` is one of ``KINDS``; ``severity`` is ``"warning"`` (the run will not teach
    what it should) or ``"info"`` (worth knowing, often part of the lesson).
    """

    kind: str
    severity: str
    sentence: str
    what_to_try: str


@dataclass(frozen=True)
class RunEvidence:
    """What the checks read about one run.

    Attributes:
        config: the run's ``TrainConfig``.
        batch_losses: the live per-batch loss, oldest first (the first is the untrained model's).
        epoch_metrics: Keras log key (``loss``, ``val_loss``...) -> one value per epoch done.
        latent: the latest ``latent`` snapshot (``codes``, and ``log_var`` for a VAE), or None.
        reconstruction: the latest ``reconstruction`` snapshot (``originals``,
            ``reconstructions``), or None.
    """

    config: TrainConfig
    batch_losses: tuple[float, ...] = ()
    epoch_metrics: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    latent: Mapping[str, Any] | None = None
    reconstruction: Mapping[str, Any] | None = None

    @property
    def epochs_done(self) -> int:
        return len(self.epoch_metrics.get("loss", ()))

    def series(self, metric_key: str) -> tuple[float, ...]:
        return tuple(self.epoch_metrics.get(metric_key, ()))


def evidence_from_rows(config: TrainConfig, rows: Iterable[MetricRow], latent: Mapping[str, Any] | None = None,
                       reconstruction: Mapping[str, Any] | None = None) -> RunEvidence:
    """Gather a run's metric rows (``batch`` and ``epoch`` rows, oldest first) into ``RunEvidence``."""
    batch_losses: list[float] = []
    epoch_metrics: dict[str, list[float]] = {}
    for row in rows:
        if row.kind == "batch":
            batch_losses.append(row.value)
        elif row.kind == "epoch":
            epoch_metrics.setdefault(row.key, []).append(row.value)
    return RunEvidence(config, tuple(batch_losses), {key: tuple(values) for key, values in epoch_metrics.items()},
                       latent, reconstruction)


def _count(number: int, total: int) -> str:
    return f"{number} of {total} code dimension{'s' if total != 1 else ''}"


def identity_risk(evidence: RunEvidence) -> Finding | None:
    """A code as large as the image, with nothing (noise, sparsity, a VAE's prior) to stop it copying pixels."""
    config, model = evidence.config, evidence.config.model
    input_size = math.prod(config.image_shape)
    if model.latent_dim < input_size or model.noise != "none" or model.l1_activity > 0 or model.is_variational:
        return None
    return Finding("identity_risk", WARNING,
                   f"The code has {model.latent_dim} numbers for an image of {input_size}: it can copy pixels "
                   "without learning anything.",
                   f"Pick a latent size well below {input_size}, or add input noise (denoising) or a sparsity "
                   "penalty so that copying no longer works.")


def dead_code_units(evidence: RunEvidence) -> Finding | None:
    """Code dimensions that are zero for every image of the latent snapshot (dead ReLU units)."""
    codes = _snapshot_array(evidence, evidence.latent, "codes")
    if codes is None or evidence.config.model.is_variational:
        return None
    dead, total = int(np.sum(np.max(np.abs(codes), axis=0) <= DEAD_CODE_TOLERANCE)), codes.shape[1]
    if not dead or (total > SMALL_CODE_DIMS and dead < DEAD_CODE_FRACTION * total):
        return None
    return Finding("dead_code_units", WARNING,
                   f"{_count(dead, total)} {'are' if dead != 1 else 'is'} dead: zero for every validation image, "
                   "so the decoder learns nothing from them.",
                   "Try a lower learning rate, or a code activation that never goes flat (leaky_relu, elu, linear).")


def posterior_collapse(evidence: RunEvidence) -> Finding | None:
    """VAE code dimensions whose KL from the prior is near zero: they carry no information."""
    means = _snapshot_array(evidence, evidence.latent, "codes")
    log_var = _snapshot_array(evidence, evidence.latent, "log_var")
    if means is None or log_var is None or means.shape != log_var.shape:
        return None
    kl = kl_per_dimension(means, log_var)
    collapsed = int(np.sum(kl < COLLAPSE_KL_NATS))
    if not collapsed:
        return None
    total = len(kl)
    return Finding("posterior_collapse", WARNING if collapsed == total else INFO,
                   f"{_count(collapsed, total)} carry no information: their KL is near zero, so the encoder "
                   "gives every image the same code there (posterior collapse).",
                   "Lower β to let the code carry more, or use fewer code dimensions; a few unused ones in a "
                   "large code are normal for a VAE.")


def kl_per_dimension(means: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """Each code dimension's KL divergence of q(z|x) from N(0, 1), in nats, averaged over the images."""
    means, log_var = np.asarray(means, np.float64), np.asarray(log_var, np.float64)
    return np.mean(0.5 * (np.square(means) + np.exp(log_var) - 1.0 - log_var), axis=0)


def mean_image(evidence: RunEvidence) -> Finding | None:
    """Reconstructions that barely differ from one image to the next: the model draws the average."""
    reconstructions = _snapshot_array(evidence, evidence.reconstruction, "reconstructions")
    originals = _snapshot_array(evidence, evidence.reconstruction, "originals")
    if reconstructions is None or originals is None or len(originals) < 2 \
            or int(evidence.reconstruction.get("step", 0)) < MIN_STEPS_FOR_MEAN_IMAGE:
        return None
    ratio = spread_ratio(originals, reconstructions)
    if ratio >= MEAN_IMAGE_SPREAD_RATIO:
        return None
    return Finding("mean_image", WARNING,
                   f"The reconstructions barely differ from one image to the next ({ratio:.0%} of the originals' "
                   "variety): the model draws the average image.",
                   "Train longer, raise a learning rate that is too low (or lower one that is too high), or lower "
                   "β for a VAE.")


def spread_ratio(originals: np.ndarray, reconstructions: np.ndarray) -> float:
    """How much the reconstructions vary across images, as a fraction of how much the originals do."""
    def spread(images: np.ndarray) -> float:
        return float(np.mean(np.std(np.asarray(images, np.float64), axis=0)))

    return spread(reconstructions) / max(spread(originals), 1e-12)


def overfitting(evidence: RunEvidence) -> Finding | None:
    """Validation loss rising while training loss falls, epoch after epoch."""
    train, val = evidence.series("loss"), evidence.series("val_loss")
    if min(len(train), len(val)) < OVERFIT_EPOCHS + 1:
        return None
    recent_val, recent_train = val[-OVERFIT_EPOCHS - 1:], train[-OVERFIT_EPOCHS - 1:]
    rising = all(later > earlier for earlier, later in zip(recent_val, recent_val[1:]))
    best = min(val)
    if not rising or recent_train[-1] >= recent_train[0] or val[-1] < best + OVERFIT_MIN_RISE * abs(best):
        return None
    best_epoch = val.index(best) + 1
    return Finding("overfitting", WARNING,
                   f"The validation loss has risen for {OVERFIT_EPOCHS} epochs while the training loss fell: the "
                   "model is memorising its training images (overfitting).",
                   f"Its best epoch was {best_epoch}: train that many epochs, use more training examples, or add "
                   "dropout, noise or a smaller model.")


def learning_rate_too_high(evidence: RunEvidence) -> Finding | None:
    """The epoch training loss goes up and down, or is above where the run began."""
    train = evidence.series("loss")
    if not train:
        return None
    # Above the untrained model's loss after a whole epoch, or above the first epoch's: no
    # schedule explains that (Adam at 0.1 on a deep ELU model ended at 6.5 times its first loss).
    began = min(train[0], evidence.batch_losses[0]) if evidence.batch_losses else train[0]
    if train[-1] > began * (1 + RISE_TOLERANCE):
        how = f"has climbed above where it began ({train[-1]:.3g}, from {began:.3g})"
    else:
        recent = train[-HIGH_LR_WINDOW - 1:]
        rises = sum(later > earlier * (1 + RISE_TOLERANCE) for earlier, later in zip(recent, recent[1:]))
        if rises < HIGH_LR_RISES:
            return None
        how = f"went up in {rises} of the last {len(recent) - 1} epochs"
    return Finding("learning_rate_too_high", WARNING,
                   f"The training loss {how}: the learning rate ({evidence.config.learning_rate:g}) is probably "
                   "too high.",
                   f"Lower the learning rate three to ten times (to {evidence.config.learning_rate / 10:g} or "
                   f"{evidence.config.learning_rate / 3:.2g}).")


def learning_rate_too_low(evidence: RunEvidence) -> Finding | None:
    """The training loss has barely moved from the untrained model's after whole epochs (and has not grown)."""
    train = evidence.series("loss")
    if len(train) < MIN_EPOCHS_FOR_LOW_LR or not evidence.batch_losses or evidence.batch_losses[0] <= 0:
        return None
    fraction = train[-1] / evidence.batch_losses[0]
    if not LOW_LR_FRACTION <= fraction <= 1 + RISE_TOLERANCE:  # a loss that grew is learning_rate_too_high's
        return None
    config = evidence.config
    return Finding("learning_rate_too_low", WARNING,
                   f"The loss has barely moved: after {len(train)} epochs it is still {fraction:.0%} of where it "
                   f"started, so the learning rate ({config.learning_rate:g}) is probably too low.",
                   f"Raise the learning rate about ten times (to {10 * config.learning_rate:g})"
                   + (", or switch from SGD to Adam." if config.optimizer == "sgd" else "."))


def is_current(snapshot: Mapping[str, Any] | None, epochs_done: int) -> bool:
    """Whether ``snapshot`` was taken after the last epoch done (at its end, or in the epoch after).

    An epoch's metrics reach a page a moment before the snapshots taken at its end; judging
    the run by the snapshot before them (an epoch old, or the untrained model's) would be wrong.
    """
    return snapshot is not None and int(snapshot.get("epoch", 0)) >= epochs_done


def _snapshot_array(evidence: RunEvidence, snapshot: Mapping[str, Any] | None, name: str) -> np.ndarray | None:
    """An array of a current snapshot once the run is old enough to judge by it (None before, or if absent)."""
    if evidence.epochs_done < MIN_EPOCHS_FOR_SNAPSHOTS or not is_current(snapshot, evidence.epochs_done) \
            or snapshot.get(name) is None:
        return None
    array = np.asarray(snapshot[name])
    if array.ndim < 2 or len(array) == 0:
        return None
    return array.reshape(len(array), -1) if name in ("codes", "log_var") else array


CHECKS: tuple[Callable[[RunEvidence], Finding | None], ...] = (
    identity_risk, learning_rate_too_high, learning_rate_too_low, mean_image, dead_code_units, posterior_collapse,
    overfitting)


def diagnose(evidence: RunEvidence) -> tuple[Finding, ...]:
    """Every check's finding, warnings first (in ``CHECKS`` order within a severity).

    Args:
        evidence: what is known of the run so far.

    Returns:
        The findings; empty for a healthy run or one too young to judge.
    """
    findings = [finding for check in CHECKS if (finding := check(evidence)) is not None]
    return tuple(sorted(findings, key=lambda finding: finding.severity != WARNING))
