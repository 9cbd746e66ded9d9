"""Property-based tests: whatever a config mapping or a config.json holds, the only error is a ``ValueError``.

Hypothesis feeds arbitrary JSON-like values (dicts with keys of any type, lists,
huge integers, floats with nan and inf, strings, None, booleans, and valid
configs with one field replaced) to ``TrainConfig.from_dict``,
``TrainConfig.from_json`` and ``JobManager.submit``. Each test is bounded
(``max_examples``) and derandomized, so it runs in seconds, the same way every
time, and writes no example database.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# As in tests/test_jobs.py, so the manager's workers could import fake_trainer (none starts here: nothing valid
# is submitted).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ae_core.config import ModelConfig, TrainConfig  # noqa: E402
from ae_core.service.jobs import JobManager  # noqa: E402

# Derandomized (the same examples every run) and without a database (nothing written to the tree); a loaded CI
# machine must not fail the health check on generation time.
BOUNDED = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])

TRAIN_FIELDS = tuple(TrainConfig().to_dict())
MODEL_FIELDS = tuple(field.name for field in dataclasses.fields(ModelConfig))

# Integers past what a float can hold (OverflowError in float()); tests/test_config.py has one too long for repr().
HUGE_INTS = st.sampled_from([10**400, -(10**400), 2**64, 10**4000, -(2**1100)])
# Besides random text, some of the names the fields accept, so that near-valid configs come up too.
NAMES = st.sampled_from(["crop", "flip", "rotate", "deep", "lstm", "mnist", "cifar10", "classify", "mse", "0" * 32])
SCALARS = (st.none() | st.booleans() | st.integers() | HUGE_INTS
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | NAMES)
# Keys of every JSON-able type, and the real field names, so unknown and known fields mix.
KEYS = st.sampled_from(TRAIN_FIELDS + MODEL_FIELDS) | st.text(max_size=8) | st.integers() | st.none() \
    | st.booleans() | st.floats(allow_nan=False)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
# Layer lists around the caps: many layers, wide layers.
LAYER_LISTS = st.lists(st.integers(min_value=-2, max_value=20_000) | st.just(8192), max_size=120)


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


FIELD_VALUES = JSON_VALUES | LAYER_LISTS | st.just(_deep_list(3000))


@st.composite
def one_field_replaced(draw: st.DrawFn) -> dict[str, Any]:
    """A valid ``TrainConfig().to_dict()`` with one field (of the config or its model) replaced or added."""
    data = TrainConfig().to_dict()
    target = draw(st.sampled_from(["train", "model"]))
    fields = TRAIN_FIELDS if target == "train" else MODEL_FIELDS
    key = draw(st.sampled_from(fields) | KEYS)
    (data if target == "train" else data["model"])[key] = draw(FIELD_VALUES)
    return data


MAPPINGS = one_field_replaced() | st.dictionaries(KEYS, FIELD_VALUES, max_size=6) | JSON_VALUES


def _as_text(value: Any) -> str:
    """``value`` as JSON text; keys become strings and nan/inf become NaN/Infinity, as ``json.dumps`` writes them."""
    try:
        return json.dumps(value)
    except (RecursionError, ValueError):  # the 3,000-deep list, or an int too long to print
        return "[" * 3000 + "]" * 3000


# Raw text too: junk, deep nesting, long numbers, truncated files.
TEXTS = MAPPINGS.map(_as_text) | st.text(max_size=200) | st.integers(1, 5000).map(lambda n: "[" * n + "]" * n) \
    | st.integers(1, 5000).map(lambda n: '{"seed": ' + "9" * n + "}") \
    | MAPPINGS.map(_as_text).flatmap(lambda text: st.integers(0, len(text)).map(lambda cut: text[:cut]))


def _only_value_error(call: Any, value: Any) -> bool:
    """Call ``call(value)``; True when it succeeded, False on ``ValueError``. Anything else propagates."""
    try:
        call(value)
    except ValueError as error:
        assert len(str(error)) < 2000, "the message shows the value shortened"
        return False
    return True


@BOUNDED
@given(MAPPINGS)
def test_from_dict_raises_only_value_error_and_what_it_accepts_round_trips(data: Any) -> None:
    if _only_value_error(TrainConfig.from_dict, data):
        config = TrainConfig.from_dict(data)
        assert TrainConfig.from_json(json.dumps(config.to_dict())) == config  # every valid config reads back


@BOUNDED
@given(TEXTS)
def test_from_json_raises_only_value_error(text: str) -> None:
    _only_value_error(TrainConfig.from_json, text)
    _only_value_error(TrainConfig.from_json, text.encode("utf-8", "surrogatepass"))


@pytest.fixture(scope="module")
def manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobManager]:
    # Module-scoped: Hypothesis runs many examples in one test call, so they share one manager.
    manager = JobManager(home=tmp_path_factory.mktemp("home"), warm_workers=0, max_concurrent=1,
                         trainer="fake_trainer:train", warmup=False)
    yield manager
    manager.shutdown()


@BOUNDED
@given(data=MAPPINGS)
def test_submit_raises_only_value_error_and_queues_nothing_it_refuses(manager: JobManager, data: Any) -> None:
    if _only_value_error(TrainConfig.from_dict, data):
        return  # a valid config would start a real worker; tests/test_jobs.py covers accepted submits
    with pytest.raises(ValueError):
        manager.submit(data)
    assert manager.list_runs() == [] and list(manager.store.runs_dir.iterdir()) == []
