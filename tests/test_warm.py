"""A traced model reused for a new run, or a paused run's model taken back, trains exactly as a new one.

``ae_core.training.warm`` keeps models warm in a worker process; these tests train real
(tiny) runs in this process, with reuse on as the workers have it, and compare every
recorded metric and every final weight with runs that built their own models.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np
import pytest

from ae_core.config import ModelConfig
from ae_core.training import warm
from tests.collect import run
from tests.test_training import tiny

SETUPS = {
    # Random state in the graph: a noise layer's and dropout's generators, a VAE's sampling.
    "denoising dense, dropout, batch norm": ModelConfig(arch="dense", latent_dim=4, hidden_sizes=(32,), dropout=0.2,
                                                       batch_norm=True, noise="gaussian", noise_level=0.3),
    "vae": ModelConfig(arch="vae", latent_dim=2, hidden_sizes=(32,), beta=2.0),
}


@pytest.fixture
def reuse() -> Iterator[None]:
    warm.reuse_traced_models()
    yield
    warm.reuse_traced_models(False)


def epochs(events: list[dict]) -> dict[int, dict[str, float]]:
    return {e["epoch"]: e["metrics"] for e in events if e["type"] == "epoch"}


def batch_losses(events: list[dict]) -> dict[int, float]:
    """The batch losses sent, by step (which steps are sent depends on the clock)."""
    return {e["step"]: e["loss"] for e in events if e["type"] == "batch"}


def weights(result) -> list[np.ndarray]:
    return [v.numpy() for v in result.model.autoencoder.variables]


def close(got: dict, want: dict) -> bool:
    # Two runs of one model in one process can differ in a float32 sum's last bit (a VAE's
    # total loss, summed by threads); a state not reset differs in the first digits.
    return got.keys() == want.keys() and all(np.allclose(got[k], want[k], rtol=1e-5, atol=0) for k in got)


def assert_same_run(result, events, expected, expected_events) -> None:
    assert result.status == expected.status == "finished"
    got, want = epochs(events), epochs(expected_events)
    assert len(got) >= 2 and got.keys() == want.keys() and all(close(got[e], want[e]) for e in got)
    got, want = batch_losses(events), batch_losses(expected_events)
    common = got.keys() & want.keys()
    assert common and close({s: got[s] for s in common}, {s: want[s] for s in common})
    skip = ("seconds", "samples_per_second", "confusion")
    assert close({k: v for k, v in result.metrics.items() if k not in skip},
                 {k: v for k, v in expected.metrics.items() if k not in skip})
    for got_weights, want_weights in zip(weights(result), weights(expected), strict=True):
        np.testing.assert_allclose(got_weights, want_weights, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", SETUPS)
def test_a_new_run_on_a_reused_traced_model_trains_as_on_its_own_new_model(name, reuse) -> None:
    model = SETUPS[name]
    warm.reuse_traced_models(False)
    expected, expected_events = run(tiny(model=model, seed=5))
    warm.reuse_traced_models()
    other, _ = run(tiny(model=model, seed=9))  # its model is traced and kept for the setup
    keras.backend.clear_session()  # as a worker does after each run
    again, events = run(tiny(model=model, seed=5))
    assert again.model is other.model  # reused, not built and traced again
    assert_same_run(again, events, expected, expected_events)
    # Another setup gets its own model.
    assert run(tiny(model=model, seed=5, learning_rate=1e-3))[0].model is not other.model


def test_without_reuse_every_run_has_its_own_model() -> None:
    first, _ = run(tiny(num_epochs=1))
    assert run(tiny(num_epochs=1))[0].model is not first.model


def test_a_paused_run_goes_on_from_its_own_state_after_another_run_used_its_model(tmp_path, reuse) -> None:
    model, paused_dir, alone_dir = SETUPS["vae"], tmp_path / "paused", tmp_path / "alone"
    # Alone: pause after epoch 1, then go on at once.
    run(tiny(model=model, num_epochs=3), checkpoint_dir=alone_dir, should_pause=lambda: True)
    expected, expected_events = run(tiny(model=model, num_epochs=3), checkpoint_dir=alone_dir, resume=True)
    # The same, with a run of the same setup (another seed) trained in between on the same traced model.
    paused, _ = run(tiny(model=model, num_epochs=3), checkpoint_dir=paused_dir, should_pause=lambda: True)
    between, _ = run(tiny(model=model, num_epochs=2, seed=11))
    assert between.model is paused.model
    resumed, events = run(tiny(model=model, num_epochs=3), checkpoint_dir=paused_dir, resume=True)
    assert resumed.model is paused.model  # not loaded from the checkpoint
    assert_same_run(resumed, events, expected, expected_events)
