"""Diagnostics in plain words: each check on crafted cases that must trigger it, must not, and its boundary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ae_core.analysis import diagnostics
from ae_core.analysis.diagnostics import RunEvidence, diagnose, evidence_from_rows
from ae_core.config import ModelConfig, TrainConfig
from ae_core.store import MetricRow

PLAIN = TrainConfig()  # the default run: dense, latent 32, Adam at 3e-3
VAE = TrainConfig(model=ModelConfig(arch="vae", latent_dim=4))
HEALTHY_LOSSES = (0.20, 0.14, 0.12, 0.11, 0.105, 0.10)


def evidence(config: TrainConfig = PLAIN, *, losses: tuple[float, ...] = HEALTHY_LOSSES,
             val_losses: tuple[float, ...] | None = None, first_batch: float = 0.69, **snapshots) -> RunEvidence:
    metrics = {"loss": losses, "val_loss": val_losses if val_losses is not None else tuple(v * 1.05 for v in losses)}
    return RunEvidence(config, (first_batch, 0.4, 0.3), metrics, snapshots.get("latent"),
                       snapshots.get("reconstruction"))


def latent(codes: np.ndarray, epoch: int = len(HEALTHY_LOSSES), **extra) -> dict:
    return {"epoch": epoch, "codes": codes.astype(np.float32), **extra}


def digits(count: int = 16, seed: int = 0) -> np.ndarray:
    """Distinct random 'images' (uint8, 8 x 8 x 1)."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, 8, 8, 1), dtype=np.uint8)


def reconstruction(reconstructions: np.ndarray, originals: np.ndarray | None = None,
                   epoch: int = len(HEALTHY_LOSSES), step: int = 1000) -> dict:
    return {"epoch": epoch, "step": step, "originals": digits() if originals is None else originals,
            "reconstructions": reconstructions}


def kinds(found) -> list[str]:
    return [finding.kind for finding in found]


def test_a_healthy_run_has_no_findings() -> None:
    codes = np.random.default_rng(0).uniform(0, 3, size=(200, 32))
    found = diagnose(evidence(latent=latent(codes), reconstruction=reconstruction(digits())))
    assert found == ()


# --- identity risk -----------------------------------------------------------------

def test_identity_risk_when_the_code_is_as_large_as_the_image() -> None:
    config = TrainConfig(model=ModelConfig(latent_dim=784))  # MNIST: 28 x 28 x 1 = 784 numbers
    finding = diagnostics.identity_risk(RunEvidence(config))  # said from the start: a fact of the setup
    assert finding is not None and finding.severity == "warning"
    assert "it can copy pixels without learning anything" in finding.sentence
    assert "784" in finding.sentence


def test_no_identity_risk_just_below_the_image_size_or_with_noise_sparsity_or_a_vae() -> None:
    assert diagnostics.identity_risk(RunEvidence(TrainConfig(model=ModelConfig(latent_dim=783)))) is None
    for model in (ModelConfig(latent_dim=1024, noise="gaussian", noise_level=0.3),
                  ModelConfig(latent_dim=1024, l1_activity=1e-4), ModelConfig(arch="vae", latent_dim=1024)):
        assert diagnostics.identity_risk(RunEvidence(TrainConfig(model=model))) is None, model


def test_identity_risk_counts_the_channels_the_model_sees() -> None:
    # CIFAR-10 in grayscale is 32 x 32 x 1 = 1024 numbers, which the largest latent size reaches.
    config = TrainConfig(dataset="cifar10", grayscale=True, model=ModelConfig(arch="conv", latent_dim=1024))
    assert diagnostics.identity_risk(RunEvidence(config)) is not None
    assert diagnostics.identity_risk(RunEvidence(config.replace(grayscale=False))) is None  # 3072 in colour


# --- dead code units ---------------------------------------------------------------

def test_dead_code_units_when_most_of_a_large_code_is_zero_for_every_image() -> None:
    codes = np.random.default_rng(0).uniform(0, 3, size=(200, 8))
    codes[:, :6] = 0.0
    finding = diagnostics.dead_code_units(evidence(latent=latent(codes)))
    assert finding is not None
    assert finding.sentence.startswith("6 of 8 code dimensions are dead")


def test_dead_code_units_boundary_and_units_that_wake_for_one_image() -> None:
    codes = np.random.default_rng(0).uniform(0, 3, size=(200, 8))
    codes[:, :5] = 0.0  # 5 of 8, under three quarters: a large code can spare them
    assert diagnostics.dead_code_units(evidence(latent=latent(codes))) is None
    codes[:, 5] = 0.0
    codes[17, 5] = 0.5  # alive for one image: not dead
    assert diagnostics.dead_code_units(evidence(latent=latent(codes))) is None
    codes[17, 5] = diagnostics.DEAD_CODE_TOLERANCE  # within the tolerance: dead
    assert diagnostics.dead_code_units(evidence(latent=latent(codes))) is not None


def test_a_small_code_cannot_spare_one_dimension() -> None:
    codes = np.random.default_rng(0).uniform(0, 3, size=(200, 2))
    assert diagnostics.dead_code_units(evidence(latent=latent(codes))) is None
    codes[:, 1] = 0.0  # a 2-D map that is a line
    assert diagnostics.dead_code_units(evidence(latent=latent(codes))).sentence.startswith(
        "1 of 2 code dimensions is dead")
    vae = evidence(VAE, latent=latent(np.zeros((200, 4)), log_var=np.zeros((200, 4))))
    assert diagnostics.dead_code_units(vae) is None  # a VAE's means are linear: its check is the collapse


def test_dead_code_units_wait_for_an_epoch_and_for_its_own_snapshot() -> None:
    codes = np.zeros((200, 8))
    assert diagnostics.dead_code_units(evidence(losses=(), latent=latent(codes, epoch=0))) is None  # too young
    # The metrics of epoch 6 are in, but the snapshot is still the one of epoch 4: not judged by it.
    assert diagnostics.dead_code_units(evidence(latent=latent(codes, epoch=4))) is None
    assert diagnostics.dead_code_units(evidence(latent=latent(codes, epoch=6))) is not None


# --- posterior collapse ------------------------------------------------------------

def test_posterior_collapse_names_the_dimensions_that_carry_no_information() -> None:
    rng = np.random.default_rng(0)
    means, log_var = rng.normal(0, 2, size=(300, 4)), np.full((300, 4), -3.0)
    means[:, 2:], log_var[:, 2:] = 0.0, 0.0  # q(z|x) = N(0, 1) for every image: KL 0
    finding = diagnostics.posterior_collapse(evidence(VAE, latent=latent(means, log_var=log_var)))
    assert finding is not None and finding.severity == "info"  # two still carry the code
    assert finding.sentence.startswith("2 of 4 code dimensions carry no information")
    means[:, :2], log_var[:, :2] = 0.0, 0.0
    assert diagnostics.posterior_collapse(evidence(VAE, latent=latent(means, log_var=log_var))).severity == "warning"


def test_posterior_collapse_boundary_and_a_plain_autoencoder() -> None:
    # KL of N(m, 1) from N(0, 1) is m^2 / 2: just above and just below the threshold.
    threshold = diagnostics.COLLAPSE_KL_NATS
    above = np.full((100, 2), np.sqrt(2 * threshold * 1.1))
    below = np.full((100, 2), np.sqrt(2 * threshold * 0.9))
    zeros = np.zeros((100, 2))
    np.testing.assert_allclose(diagnostics.kl_per_dimension(above, zeros), threshold * 1.1)
    assert diagnostics.posterior_collapse(evidence(VAE, latent=latent(above, log_var=zeros))) is None
    assert diagnostics.posterior_collapse(evidence(VAE, latent=latent(below, log_var=zeros))) is not None
    assert diagnostics.posterior_collapse(evidence(latent=latent(zeros))) is None  # no log_var: not a VAE


# --- the mean image ----------------------------------------------------------------

def test_mean_image_when_every_reconstruction_is_the_same_picture() -> None:
    originals = digits()
    average = np.repeat(originals.mean(axis=0, keepdims=True), 16, axis=0).astype(np.uint8)
    finding = diagnostics.mean_image(evidence(reconstruction=reconstruction(average, originals)))
    assert finding is not None
    assert "the model draws the average image" in finding.sentence
    # Healthy runs draw the average first: not judged before MIN_STEPS_FOR_MEAN_IMAGE steps.
    early = reconstruction(average, originals, step=diagnostics.MIN_STEPS_FOR_MEAN_IMAGE - 1)
    assert diagnostics.mean_image(evidence(reconstruction=early)) is None


def test_mean_image_boundary_and_good_reconstructions() -> None:
    originals = digits()
    average = originals.mean(axis=0, keepdims=True)
    for weight, fires in ((0.25, True), (0.35, False), (1.0, False)):
        blend = (average + weight * (originals - average)).round().astype(np.uint8)
        assert diagnostics.spread_ratio(originals, blend) == pytest.approx(weight, abs=0.01)
        assert (diagnostics.mean_image(evidence(reconstruction=reconstruction(blend, originals))) is not None) is fires


# --- overfitting -------------------------------------------------------------------

def test_overfitting_when_validation_rises_while_training_falls() -> None:
    losses = (0.20, 0.15, 0.12, 0.10, 0.09, 0.08)
    val = (0.21, 0.17, 0.150, 0.153, 0.157, 0.162)
    finding = diagnostics.overfitting(evidence(losses=losses, val_losses=val))
    assert finding is not None
    assert "overfitting" in finding.sentence and "best epoch was 3" in finding.what_to_try


def test_no_overfitting_for_two_rises_a_tiny_rise_or_a_rising_training_loss() -> None:
    losses = (0.20, 0.15, 0.12, 0.10, 0.09, 0.08)
    two_rises = (0.21, 0.17, 0.15, 0.14, 0.153, 0.157)
    assert diagnostics.overfitting(evidence(losses=losses, val_losses=two_rises)) is None
    tiny = (0.21, 0.17, 0.150, 0.1501, 0.1502, 0.1503)  # rose three times, by 0.2% in all
    assert diagnostics.overfitting(evidence(losses=losses, val_losses=tiny)) is None
    assert diagnostics.overfitting(evidence(losses=(0.2, 0.15, 0.12, 0.12, 0.13, 0.14),
                                            val_losses=(0.21, 0.17, 0.150, 0.153, 0.157, 0.162))) is None


# --- the learning rate -------------------------------------------------------------

def test_learning_rate_too_high_when_the_loss_oscillates_or_climbs() -> None:
    oscillating = (0.20, 0.15, 0.18, 0.14, 0.17, 0.13)
    finding = diagnostics.learning_rate_too_high(evidence(losses=oscillating))
    assert finding is not None and "went up in 2 of the last 5 epochs" in finding.sentence
    climbing = (0.20, 0.19, 0.21)
    assert "has climbed above where it began (0.21, from 0.2)" in diagnostics.learning_rate_too_high(
        evidence(losses=climbing)).sentence


def test_a_loss_above_the_untrained_models_is_too_high_after_one_epoch_and_never_too_low() -> None:
    # Adam at 0.1 on a deep ELU model: the first batch at 0.69, the epochs at 4.5 (bench_diagnostics.py).
    grown = evidence(losses=(4.5,), first_batch=0.69)
    assert "climbed above where it began (4.5, from 0.69)" in diagnostics.learning_rate_too_high(grown).sentence
    assert diagnostics.learning_rate_too_low(evidence(losses=(4.5, 4.4), first_batch=0.69)) is None
    assert diagnostics.learning_rate_too_high(evidence(losses=(0.69,), first_batch=0.69)) is None  # not grown


def test_learning_rate_not_too_high_for_one_rise_or_wiggles_within_the_tolerance() -> None:
    assert diagnostics.learning_rate_too_high(evidence(losses=(0.20, 0.15, 0.16, 0.14, 0.13, 0.12))) is None
    wiggles = (0.20, 0.15, 0.1514, 0.14, 0.1414, 0.13)  # rises under 1%
    assert diagnostics.learning_rate_too_high(evidence(losses=wiggles)) is None
    assert diagnostics.learning_rate_too_high(evidence(losses=(0.20, 0.1515, 0.1525))) is None  # one rise, young


def test_learning_rate_too_low_when_the_loss_barely_moved() -> None:
    config = PLAIN.replace(optimizer="sgd", learning_rate=1e-4)
    finding = diagnostics.learning_rate_too_low(evidence(config, losses=(0.69, 0.68), first_batch=0.70))
    assert finding is not None
    assert finding.sentence.startswith("The loss has barely moved: after 2 epochs it is still 97%")
    assert "switch from SGD to Adam" in finding.what_to_try


def test_learning_rate_too_low_boundary_and_a_young_run() -> None:
    fraction = diagnostics.LOW_LR_FRACTION
    assert diagnostics.learning_rate_too_low(evidence(losses=(0.9, fraction * 0.99), first_batch=1.0)) is None
    assert diagnostics.learning_rate_too_low(evidence(losses=(0.9, fraction), first_batch=1.0)) is not None
    assert diagnostics.learning_rate_too_low(evidence(losses=(0.99,), first_batch=1.0)) is None  # one epoch
    assert diagnostics.learning_rate_too_low(evidence(losses=(1.0, 1 + diagnostics.RISE_TOLERANCE),
                                                      first_batch=1.0)) is not None


# --- all together ------------------------------------------------------------------

def test_a_run_too_young_to_judge_shows_nothing() -> None:
    # The untrained model's first snapshot looks like every failure at once.
    first = RunEvidence(PLAIN, (0.69,), {}, latent(np.zeros((200, 32)), epoch=0),
                        reconstruction(np.full((16, 8, 8, 1), 128, np.uint8), epoch=0))
    assert diagnose(first) == ()


def test_diagnose_puts_warnings_first_and_reads_metric_rows() -> None:
    rows = [MetricRow(1, "batch", "loss", 0.70, 0, 1, 0.1)]
    for epoch, (loss, val) in enumerate(((0.69, 0.70), (0.685, 0.69)), start=1):
        rows += [MetricRow(len(rows) + 1, "epoch", "loss", loss, epoch, 10 * epoch, epoch),
                 MetricRow(len(rows) + 2, "epoch", "val_loss", val, epoch, 10 * epoch, epoch)]
    means, log_var = np.zeros((50, 4)), np.zeros((50, 4))
    means[:, 0] = np.linspace(-2, 2, 50)
    found = diagnose(evidence_from_rows(VAE.replace(optimizer="sgd"), rows, latent(means, 2, log_var=log_var)))
    assert kinds(found) == ["learning_rate_too_low", "posterior_collapse"]
    assert [finding.severity for finding in found] == ["warning", "info"]
    assert all(dataclasses.is_dataclass(finding) and finding.what_to_try and finding.kind in diagnostics.KINDS
               for finding in found)


# --- a real VAE's snapshot -----------------------------------------------------------

@pytest.mark.slow
def test_a_real_vae_latent_snapshot_carries_its_log_variance_to_the_store(tmp_path) -> None:
    from ae_core.service.sinks import StoreSink
    from ae_core.store import RunStore
    from tests.collect import run

    config = TrainConfig(dataset="mnist_sample", model=ModelConfig(arch="vae", latent_dim=3, hidden_sizes=(32,)),
                         num_epochs=1, train_limit=256, seed=3)
    store = RunStore(tmp_path / "home")
    owner = "ab" * 16  # a job manager's id
    run_id = store.create_run(config, owner=owner)
    assert store.lifecycle.claim(run_id, owner, worker_pid=None)
    _, events = run(config)
    sink = StoreSink(store)
    for event in events:
        sink.emit(run_id, event)
    snapshot = store.read_snapshot(run_id, "latent")
    assert snapshot["codes"].shape == snapshot["log_var"].shape == (400, 3)
    assert snapshot["log_var"].dtype == np.float32 and np.isfinite(snapshot["log_var"]).all()
    # What the collapse check reads: each dimension's KL from the prior, which training made positive.
    kl = diagnostics.kl_per_dimension(snapshot["codes"], snapshot["log_var"])
    assert kl.shape == (3,) and (kl >= 0).all() and kl.sum() > diagnostics.COLLAPSE_KL_NATS
