"""Models a worker process keeps warm: paused runs go on, and new runs start, without tracing again.

Keras traces a model's train and test functions at its first ``fit``: about 0.5 s of the
0.9 s that the default run's first epoch takes on a warm worker. Under a class's load
(time-slicing: ``ae_core.service.slicing``) every new run's first slice paid it, and so did
every run that went on after a pause, once it was loaded from its checkpoint.

Two shelves, per process:

- **Paused runs** (always): a run that paused here at an epoch end leaves its model and a copy
  of its state (every variable, optimizer state and random-generator state: what its
  checkpoint holds). When it goes on here from that same epoch, that state goes back into
  that model, already traced, instead of the checkpoint being loaded and traced again.
- **Traced models to reuse** (only where ``reuse_traced_models`` was called: the job
  service's workers): the first model of each setup (``key``: everything the model's graph
  depends on, but not the seed) stays; a later run of that setup builds its own new model,
  as always (about 30 ms), and that model's initial state is copied into the traced one,
  which then trains as the new one would: the same figures, but for the last bit of a
  float32 sum that two new models can differ in too (``tests/test_warm.py``). So a caller must
  be done with one run's model before it starts the next; a worker, which runs one run at a
  time and saves the model before it takes the next, is.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import numpy as np

MAX_PAUSED_MODELS = 8
MAX_TRACED_MODELS = 4  # setups; a class mostly trains one (the defaults)

_paused: OrderedDict[str, tuple[int, Any, list[np.ndarray]]] = OrderedDict()
_traced: OrderedDict[str, Any] = OrderedDict()
_reuse = False


def reuse_traced_models(enabled: bool = True) -> None:
    """Let new runs of a setup trained before in this process reuse its traced model (see the module)."""
    global _reuse
    _reuse = enabled
    if not enabled:
        _traced.clear()


def build(key: str | None, build_new: Callable[[], Any]) -> Any:
    """A new model from ``build_new``, or the traced model of setup ``key`` holding that new model's state.

    Args:
        key: the setup: everything the model's graph depends on but its seed (None: never reused).
        build_new: builds and compiles the new model (an ``Autoencoder`` bundle or a Keras model).

    Returns:
        The model to train.
    """
    model = build_new()
    if not _reuse or key is None:
        return model
    traced = _traced.get(key)
    if traced is None or not _restore(traced, _new_state(model)):
        _traced[key] = model
        traced = model
    _traced.move_to_end(key)
    while len(_traced) > MAX_TRACED_MODELS:
        _traced.popitem(last=False)
    return traced


def keep_paused(directory: str, epoch: int, model: Any) -> None:
    """Keep the model and state of the run checkpointed in ``directory``, paused at ``epoch``."""
    _paused[directory] = (epoch, model, _state(model))
    _paused.move_to_end(directory)
    while len(_paused) > MAX_PAUSED_MODELS:
        _paused.popitem(last=False)


def take_paused(directory: str, epoch: int) -> Any | None:
    """The model of the run that paused here at ``epoch``, with its state back in it; None if it did not."""
    kept = _paused.pop(directory, None)
    if kept is None or kept[0] != epoch:
        return None
    model, state = kept[1], kept[2]
    return model if _restore(model, state) else None


def _keras_model(model: Any) -> Any:
    return getattr(model, "autoencoder", model)  # an ``Autoencoder`` bundle trains its ``autoencoder``


def _variables(model: Any) -> list[Any]:
    keras_model = _keras_model(model)
    # ``variables`` includes the random generators' states (noise, dropout, a VAE's sampling).
    return [*keras_model.variables, *keras_model.optimizer.variables]


def _state(model: Any) -> list[np.ndarray]:
    return [np.array(variable.numpy()) for variable in _variables(model)]


def _new_state(model: Any) -> list[np.ndarray]:
    """The state of a model just built: its optimizer's variables are made as its first ``fit`` would."""
    keras_model = _keras_model(model)
    if not keras_model.optimizer.built:
        keras_model.optimizer.build(keras_model.trainable_variables)
    return _state(model)


def _restore(model: Any, state: list[np.ndarray]) -> bool:
    """Assign ``state`` to ``model``'s variables; False (nothing assigned) if they do not match."""
    variables = _variables(model)
    if len(variables) != len(state) or any(tuple(v.shape) != value.shape for v, value in zip(variables, state)):
        return False
    for variable, value in zip(variables, state):
        variable.assign(value)
    return True
