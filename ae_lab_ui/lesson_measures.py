"""What a lesson's reveal measures: the fixed vocabulary of reveal kinds, and their arithmetic.

A lesson file names one reveal kind per step (``reveal = "latent_sweep"``). Each kind says
what the student predicts (one of its ``answers``, or a number on a slider when it has
none), which runs it needs (``check_runs``), and how the runs' results become the measured
answer (the functions below). ``lesson_views`` draws each kind; this module imports no
streamlit, so the loader and the tests use it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ae_core.config import TrainConfig

# The decoded prior samples: few, so a reveal takes well under a second.
PRIOR_SAMPLES = 64
# A standard normal 2-D draw lies within 3 of the origin 99% of the time.
CENTRE_RADIUS = 3.0
WORST_COUNT = 12


def _sweep_runs(configs: Sequence[TrainConfig]) -> str | None:
    sizes = [config.model.latent_dim for config in configs]
    if len(sizes) < 3 or len(set(sizes)) != len(sizes):
        return "at least 3 runs with different latent_dim values"
    return None


def _plain_and_variational(configs: Sequence[TrainConfig]) -> str | None:
    kinds = sorted(config.model.is_variational for config in configs)
    if kinds != [False, True] or any(config.model.latent_dim != 2 for config in configs):
        return "2 runs with latent_dim 2: one plain autoencoder and one VAE (arch 'vae' or 'conv_vae')"
    return None


def _one_noisy_run(configs: Sequence[TrainConfig]) -> str | None:
    if len(configs) != 1 or configs[0].model.noise == "none":
        return "1 run with noise 'gaussian' or 'masking'"
    return None


def _one_held_out_run(configs: Sequence[TrainConfig]) -> str | None:
    if len(configs) != 1 or configs[0].exclude_class is None:
        return "1 run with exclude_class set (the class it never sees)"
    return None


def _one_run(configs: Sequence[TrainConfig]) -> str | None:
    return None if len(configs) == 1 else "exactly 1 run"


@dataclass(frozen=True)
class RevealKind:
    """One kind of reveal: what is predicted, and which runs it needs.

    ``answers`` are the ids a choice step's ``choices`` must name, one each; a kind
    without answers measures a number, which the student predicts with a slider.
    ``check_runs`` returns what the step's runs should be, or None when they fit.
    ``needs_finished``: the reveal reads the runs' final results, so it waits for the end.
    """

    name: str
    answers: tuple[str, ...]
    check_runs: Callable[[Sequence[TrainConfig]], str | None]
    needs_finished: bool = False

    @property
    def is_numeric(self) -> bool:
        return not self.answers


REVEAL_KINDS = {kind.name: kind for kind in (
    # Test MSE against latent size, with the reconstructions side by side: where the curve bends.
    RevealKind("latent_sweep", ("early", "late"), _sweep_runs, needs_finished=True),
    # A plain autoencoder's 2-D latent map beside a VAE's: which keeps its codes near the centre.
    RevealKind("two_maps", ("plain", "variational"), _plain_and_variational),
    # Noisy inputs, clean targets and reconstructions: the percentage of the noise's error removed.
    RevealKind("denoise", (), _one_noisy_run),
    # Each model's decoded plane and decoded N(0, I) draws: whose draws look like real images.
    RevealKind("generate", ("plain", "variational"), _plain_and_variational),
    # The worst reconstructions and the error by class: how many of the worst are the held-out class.
    RevealKind("anomaly", (), _one_held_out_run),
    # Logistic regression on the pixels against the codes: which scores higher.
    RevealKind("probe", ("pixels", "codes"), _one_run),
)}


def sweep_answer(latent_sizes: Sequence[int], test_mse: Sequence[float]) -> str:
    """Where each added code number buys most: ``"early"`` between the two smallest sizes, else ``"late"``.

    The test MSE drop of each step up in size, divided by the numbers it adds: a curve
    that bends early gains most per number at the start.

    Raises:
        ValueError: for fewer than 3 sizes or lists of different lengths.
    """
    if len(latent_sizes) < 3 or len(latent_sizes) != len(test_mse):
        raise ValueError("a sweep needs at least 3 latent sizes, each with its test MSE")
    order = np.argsort(latent_sizes)
    sizes, errors = np.asarray(latent_sizes, dtype=float)[order], np.asarray(test_mse, dtype=float)[order]
    per_number = (errors[:-1] - errors[1:]) / (sizes[1:] - sizes[:-1])
    return "early" if int(np.argmax(per_number)) == 0 else "late"


def share_near_centre(codes: np.ndarray, radius: float = CENTRE_RADIUS) -> float:
    """The share of 2-D codes within ``radius`` of the origin: most of a standard normal's draws lie there.

    A VAE's KL term pulls its codes into that round cloud; a plain autoencoder may put its
    codes anywhere (with ReLU codes, along the axes and far out).
    """
    codes = np.asarray(codes, dtype=float)
    return float(np.mean(np.sqrt(np.sum(codes**2, axis=1)) <= radius))


def more_central(plain_share: float, variational_share: float) -> str:
    """Whose map holds more of its codes near the centre: ``"plain"`` or ``"variational"`` (a tie: variational)."""
    return "plain" if plain_share > variational_share else "variational"


def noise_removed(originals: np.ndarray, inputs: np.ndarray, reconstructions: np.ndarray) -> float:
    """The percentage of the noisy input's squared error (against the clean image) the model removed.

    100 means the reconstructions are the clean images; 0 means they are as far off as the
    noisy inputs; below 0, further. Images are uint8 arrays of one shape.

    Raises:
        ValueError: when the noisy inputs equal the clean images (there is no noise to remove).
    """
    clean = np.asarray(originals, dtype=float) / 255.0
    noisy_error = np.mean((np.asarray(inputs, dtype=float) / 255.0 - clean) ** 2)
    if noisy_error == 0:
        raise ValueError("inputs must be noisy: they equal the clean images")
    error = np.mean((np.asarray(reconstructions, dtype=float) / 255.0 - clean) ** 2)
    return float(100.0 * (1.0 - error / noisy_error))


def nearest_distance(samples: np.ndarray, references: np.ndarray) -> float:
    """The mean over ``samples`` of the mean squared pixel distance to the closest reference image.

    Low: the samples look like real images; high: they look like nothing in the data.
    """
    flat_samples = np.asarray(samples, dtype=np.float32).reshape(len(samples), -1) / 255.0
    flat_refs = np.asarray(references, dtype=np.float32).reshape(len(references), -1) / 255.0
    squared = (np.sum(flat_samples**2, axis=1)[:, None] - 2.0 * flat_samples @ flat_refs.T
               + np.sum(flat_refs**2, axis=1)[None, :])
    return float(np.mean(np.maximum(squared.min(axis=1), 0.0)) / flat_samples.shape[1])


def more_digit_like(plain_distance: float, variational_distance: float) -> str:
    """Whose decoded prior samples lie closer to real images: ``"plain"`` or ``"variational"``."""
    return "plain" if plain_distance < variational_distance else "variational"


def held_out_among_worst(worst_labels: Sequence[int], held_out: int) -> int:
    """How many of the worst-reconstructed images are of the held-out class."""
    return int(np.sum(np.asarray(worst_labels) == held_out))


def probe_winner(pixel_accuracy: float, code_accuracy: float) -> str:
    """``"codes"`` when the codes' probe scores strictly higher than the pixels', else ``"pixels"``."""
    return "codes" if code_accuracy > pixel_accuracy else "pixels"
