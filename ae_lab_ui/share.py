"""Share links: the Train page's setup as a compact query string, and back again.

A link holds only the settings that differ from the defaults, keyed by the form's field
names (``?latent_dim=8&arch=vae&learning_rate=0.01``), plus a lesson's flags: ``lock`` and
``hide`` (comma-separated field names) and ``present=1`` (the presenter view). Decoding
checks every value against the facts the Train page's widgets use (``form.CHOICES``,
``form.RANGES``, ``form.BOOLEAN_FIELDS``), keeps the good ones and says what was wrong with
the others in words. This module imports no streamlit, so it is tested directly.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import segno

from ae_lab_ui import form

# Every setting a link can carry, in the sidebar's order: the dataset, then the form's fields.
FIELDS = tuple(form.FIELD_LABELS)
LOCK_PARAM = "lock"
HIDE_PARAM = "hide"
PRESENT_PARAM = "present"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Link:
    """What a link asks for: the good settings, the lesson's flags, and what could not be used.

    Attributes:
        values: the link's settings that are valid, keyed by field name (absent: the default).
        locked: fields the student sees but cannot change.
        hidden: fields not drawn at all (their value still applies).
        present: whether the presenter view is asked for.
        problems: one sentence per bad value or unknown key, naming it and what is allowed.
    """

    values: dict[str, Any] = field(default_factory=dict)
    locked: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    present: bool = False
    problems: tuple[str, ...] = ()


def format_value(value: Any) -> str:
    """A setting as it is written in a link: ``1``/``0`` for a switch, ``0.003`` for a number."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def encode(dataset: str, values: Mapping[str, Any], *, default_dataset: str, locked: Iterable[str] = (),
           hidden: Iterable[str] = (), present: bool = False) -> dict[str, str]:
    """The query parameters of a setup: only what differs from the defaults, then the lesson's flags.

    Args:
        dataset: the chosen dataset.
        values: form values keyed by the names in ``form.DEFAULTS`` (missing ones: defaults).
        default_dataset: the dataset the Train page starts on, left out of the link.
        locked: fields to lock; hidden: fields to hide (both in ``FIELDS`` order in the link).
        present: add ``present=1``.

    Returns:
        Parameter names and texts, in ``FIELDS`` order.
    """
    settings = {"dataset": dataset, **values}
    defaults = {"dataset": default_dataset, **form.DEFAULTS}
    params = {name: format_value(settings[name]) for name in FIELDS
              if name in settings and format_value(settings[name]) != format_value(defaults[name])}
    for name, chosen in ((LOCK_PARAM, set(locked)), (HIDE_PARAM, set(hidden))):
        if chosen:
            params[name] = ",".join(f for f in FIELDS if f in chosen)
    if present:
        params[PRESENT_PARAM] = "1"
    return params


def link(base_url: str, params: Mapping[str, str]) -> str:
    """The full link: ``base_url`` plus the query string (commas kept readable)."""
    return f"{base_url}?{urlencode(params, safe=',')}" if params else base_url


def _allowed_choices(choices: tuple[Any, ...]) -> str:
    return ", ".join(format_value(choice) for choice in choices)


def decode_value(name: str, text: str) -> Any:
    """One setting from its text in a link.

    Raises:
        ValueError: naming the key, the value and the allowed values.
    """
    if name in form.BOOLEAN_FIELDS:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"{name}={text!r} is not a switch; allowed values: 1 or 0")
    if name in form.CHOICES:
        choices = form.CHOICES[name]
        for choice in choices:
            if isinstance(choice, str):
                if text == choice:
                    return choice
            elif _number(text) is not None and math.isclose(_number(text), choice, rel_tol=1e-9, abs_tol=1e-12):
                return choice
        raise ValueError(f"{name}={text!r} is not offered; allowed values: {_allowed_choices(choices)}")
    low, high, step = form.RANGES[name]
    number = _number(text)
    steps = None if number is None else (number - low) / step
    if number is None or not low <= number <= high or abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"{name}={text!r} is out of range; allowed values: {format_value(low)} to "
                         f"{format_value(high)} in steps of {format_value(step)}")
    return int(round(number)) if isinstance(step, int) else round(low + round(steps) * step, 10)


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _field_list(param: str, text: str, problems: list[str]) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FIELDS]
    if unknown:
        problems.append(f"{param}={text!r} names unknown controls ({', '.join(unknown)}); allowed values: "
                        f"{', '.join(FIELDS)}")
    return tuple(name for name in FIELDS if name in names)


def decode(params: Mapping[str, str], *, ignore: Iterable[str] = ()) -> Link:
    """What a link's query parameters ask for; nothing in them can make this raise.

    Args:
        params: the query parameters (one text each).
        ignore: parameters of the page itself (``run_id``), neither decoded nor reported.

    Returns:
        The good settings and flags; each bad value and unknown key is in ``problems``.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    locked: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    present = False
    skip = set(ignore)
    for name, text in params.items():
        if name in skip:
            continue
        if name in FIELDS:
            try:
                values[name] = decode_value(name, text)
            except ValueError as error:
                problems.append(str(error))
        elif name == LOCK_PARAM:
            locked = _field_list(name, text, problems)
        elif name == HIDE_PARAM:
            hidden = _field_list(name, text, problems)
        elif name == PRESENT_PARAM:
            present = text.lower() in _TRUE
            if text.lower() not in _TRUE + _FALSE:
                problems.append(f"{name}={text!r} is not a switch; allowed values: 1 or 0")
        else:
            problems.append(f"{name}={text!r} is not a setting of the Train page, so it was ignored")
    return Link(values, locked, hidden, present, tuple(problems))


def qr_png(text: str, *, scale: int = 8) -> bytes:
    """A QR code of ``text`` as PNG bytes, big enough to scan from the back of a room when projected.

    The lowest error correction keeps a lesson link's long ``lock`` list to the fewest,
    biggest modules: a projected screen is not a scuffed sticker.
    """
    buffer = io.BytesIO()
    segno.make(text, error="l", boost_error=False).save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()
