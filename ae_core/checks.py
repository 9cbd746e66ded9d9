"""The small validators every part of the core shares.

User input that is wrong raises ``ValueError("<field> must be <allowed>; got <value>")``,
so a person reads which setting is wrong and what would be right. Each rule is written
here once; ``config``, the job service, the data loaders and the analysis tools call it.
"""

from __future__ import annotations

import math
import numbers
import re
import reprlib
import typing

# The service's run ids: 32 lowercase hex digits, checked before any path is built from one.
RUN_ID_PATTERN = re.compile(r"[0-9a-f]{32}")


# The longest message shows of a value. Values come from files and forms, so a wrong one may be
# megabytes long or thousands of levels deep: repr() of it would flood the message or raise RecursionError.
MAX_SHOWN_VALUE = 300


class _ShortRepr(reprlib.Repr):
    """``reprlib``'s shortened repr, limits raised so that ordinary values show whole."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxtuple = self.maxlist = self.maxdict = self.maxset = self.maxfrozenset = 12
        self.maxstring = self.maxother = 120
        self.maxlong = 60

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() <= 192:  # below 2**192 (at most 58 digits): printed in full
            return super().repr_int(x, level)
        # repr() of an int over 4,300 digits raises ValueError, so count the digits without printing them:
        # the estimate from the bit length is the digit count or one short of it.
        digits = int((x.bit_length() - 1) * math.log10(2)) + 1
        digits += abs(x) >= 10**digits
        return f"<a {'negative ' if x < 0 else ''}whole number of {digits} digits>"


_SHORT_REPR = _ShortRepr()


def shown(value: object) -> str:
    """``repr(value)`` cut to at most ``MAX_SHOWN_VALUE`` characters and 3 levels of nesting, for messages."""
    text = _SHORT_REPR.repr(value)
    if len(text) > MAX_SHOWN_VALUE:
        half = (MAX_SHOWN_VALUE - 3) // 2
        text = text[:half] + "..." + text[-half:]
    return text


def fail(field_name: str, value: object, allowed: str) -> typing.NoReturn:
    """Raise the core's ``ValueError`` for ``field_name``, showing ``value`` shortened (see ``shown``)."""
    raise ValueError(f"{field_name} must be {allowed}; got {shown(value)}")


def is_whole(value: object) -> bool:
    """True for an ``int`` (or a numpy integer) that is not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_choice(field_name: str, value: object, choices: typing.Iterable[str]) -> None:
    """``value`` must be one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        fail(field_name, value, "one of " + ", ".join(repr(c) for c in choices))


def check_int(field_name: str, value: object, low: int, high: int | None = None) -> None:
    """``value`` must be a whole number from ``low`` to ``high`` (no upper bound when ``high`` is None)."""
    if not is_whole(value) or not low <= value or (high is not None and value > high):  # type: ignore[operator]
        fail(field_name, value, f"a whole number of at least {low}" if high is None
             else f"a whole number from {low} to {high}")


def check_float(field_name: str, value: object, low: float, high: float, *, open_low: bool = False,
                open_high: bool = False) -> None:
    """``value`` must be a finite number in the interval; ``open_low``/``open_high`` exclude the ends."""
    # An int is always finite, and isfinite() of one past 1e308 raises OverflowError: compare it exactly instead.
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (isinstance(value, int)
                                                                              or math.isfinite(value))
    ok = ok and (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        fail(field_name, value, f"a number in {left}{low:g}, {high:g}{right}")


def check_bool(field_name: str, value: object) -> None:
    """``value`` must be ``True`` or ``False``."""
    if not isinstance(value, bool):
        fail(field_name, value, "true or false")


def check_run_id(field_name: str, value: object, allowed: str = "32 lowercase hex digits") -> str:
    """``value`` must be a run id as the service makes them; returns it.

    ``fullmatch``, not ``match``: a ``$`` would let a trailing newline through.
    """
    if not isinstance(value, str) or not RUN_ID_PATTERN.fullmatch(value):
        fail(field_name, value, allowed)
    return value
