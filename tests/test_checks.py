"""The shared validators (ae_core.checks): one rule, one message, used by every part of the core."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ae_core.checks import check_bool, check_choice, check_float, check_int, check_run_id, is_whole


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_whole_numbers_in_range_pass(value: object) -> None:
    check_int("num_epochs", value, 1, 10)
    assert is_whole(value)


@pytest.mark.parametrize("value, message", [
    (0, r"num_epochs must be a whole number from 1 to 10; got 0"),
    (11, r"num_epochs must be a whole number from 1 to 10; got 11"),
    (True, r"num_epochs must be a whole number from 1 to 10; got True"),
    (2.0, r"num_epochs must be a whole number from 1 to 10; got 2\.0"),
    ("3", r"num_epochs must be a whole number from 1 to 10; got '3'"),
    (None, r"num_epochs must be a whole number from 1 to 10; got None"),
])
def test_anything_else_is_refused_naming_the_field_and_the_range(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_int("num_epochs", value, 1, 10)


def test_an_open_ended_range_says_at_least() -> None:
    check_int("jobs_per_worker", 10**9, 1)
    with pytest.raises(ValueError, match=r"jobs_per_worker must be a whole number of at least 1; got 0"):
        check_int("jobs_per_worker", 0, 1)


def test_numbers_must_be_finite_and_inside_the_interval() -> None:
    check_float("learning_rate", 1e-3, 0.0, 10.0, open_low=True)
    for bad in (0.0, -1.0, math.nan, math.inf, "0.1", True):
        with pytest.raises(ValueError, match=r"learning_rate must be a number in \(0, 10\]; got"):
            check_float("learning_rate", bad, 0.0, 10.0, open_low=True)


def test_choices_and_booleans() -> None:
    check_choice("loss", "mse", ("mse", "bce"))
    with pytest.raises(ValueError, match=r"loss must be one of 'mse', 'bce'; got 'l2'"):
        check_choice("loss", "l2", ("mse", "bce"))
    check_bool("batch_norm", False)
    with pytest.raises(ValueError, match=r"batch_norm must be true or false; got 1"):
        check_bool("batch_norm", 1)


@pytest.mark.parametrize("bad", ["0" * 31, "A" * 32, "0" * 32 + "\n", "0" * 32 + "/x", "../" + "0" * 29, 7, None])
def test_run_ids_are_exactly_32_lowercase_hex_digits(bad: object) -> None:
    assert check_run_id("run_id", "0123456789abcdef" * 2) == "0123456789abcdef" * 2
    with pytest.raises(ValueError, match=r"run_id must be 32 lowercase hex digits; got"):
        check_run_id("run_id", bad)
