"""Reading configs back: parsed JSON into dataclass fields, and the text of a run's config.json into JSON.

``ae_core.config`` builds its ``TrainConfig.from_dict``/``from_json`` on these.
A config.json is read on every page load, and a mapping may come from any
caller, so anything malformed (keys that are not strings, a megabyte file,
nesting thousands of levels deep, a number of thousands of digits) must end as
one ``ValueError`` with a plain message: never ``TypeError``,
``RecursionError`` or ``MemoryError``, which the pages would not catch.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping

from ae_core.checks import fail

# A real config.json is about 1 KiB; 64 times that leaves room for any future field but not for junk.
MAX_CONFIG_JSON_BYTES = 64 * 1024
# A real one nests 3 levels (the config, its model, a list of layer sizes). json.loads recurses once per level,
# so a file of brackets could raise RecursionError before any field is looked at.
MAX_CONFIG_JSON_DEPTH = 20
# No field holds more than a 64-bit number (20 digits); int() of a longer literal costs quadratic time,
# and past 4,300 digits raises an error that names no field.
MAX_CONFIG_JSON_DIGITS = 20


def coerce_fields(cls: type, data: object, field_name: str) -> dict[str, typing.Any]:
    """The keyword arguments for dataclass ``cls`` from a mapping of its field names (JSON lists become tuples).

    Args:
        cls: the dataclass to build.
        data: the mapping, as parsed JSON or from code: its keys may be of any type.
        field_name: what to call ``data`` in a message (``"TrainConfig"``, ``"model"``).

    Returns:
        A new dict: the same keys, each top-level list turned into a tuple.

    Raises:
        ValueError: when ``data`` is not a mapping, or has a key that is not a field of ``cls``.
    """
    if not isinstance(data, Mapping):
        fail(field_name, data, f"a mapping of {cls.__name__} field names to values")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [key for key in data if not isinstance(key, str) or key not in names]
    if unknown:
        # Keys of mixed types cannot be sorted together: name the first unknown string, else the first other key.
        strings = sorted(key for key in unknown if isinstance(key, str))
        fail(f"{cls.__name__} field", (strings or unknown)[0], "one of " + ", ".join(sorted(names)))
    return {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}


def parse_config_json(text: str | bytes) -> typing.Any:
    """Parse the text of a config.json, checking its bounds before parsing.

    At most ``MAX_CONFIG_JSON_BYTES``, nested at most ``MAX_CONFIG_JSON_DEPTH`` levels, and no
    whole number of more than ``MAX_CONFIG_JSON_DIGITS`` digits.

    Args:
        text: the file's contents, as ``str`` or as UTF-8 ``bytes`` (a leading byte order mark is skipped).

    Returns:
        The parsed JSON value (any type: the caller checks it is a mapping).

    Raises:
        ValueError: with a plain message, for a file too large, not UTF-8, not JSON, nested too deeply,
            or holding a number with too many digits.
    """
    if isinstance(text, (bytearray, memoryview)):
        text = bytes(text)
    if not isinstance(text, (str, bytes)):
        fail("config.json", text, "text (str or bytes)")
    # Check the size before decoding or parsing anything; len() of a str counts characters, which are
    # never more than its UTF-8 bytes, so it is a cheap first test.
    if len(text) > MAX_CONFIG_JSON_BYTES or isinstance(text, str) and \
            len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_JSON_BYTES:
        raise ValueError(f"config.json is larger than {MAX_CONFIG_JSON_BYTES // 1024} KiB, so it is not a config")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"config.json is not UTF-8 text (a bad byte at position {error.start})") from None
    text = text.removeprefix("\ufeff")
    if _too_deep(text):
        raise ValueError(f"config.json is nested deeper than {MAX_CONFIG_JSON_DEPTH} levels, so it is not a config")
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as error:
        raise ValueError(f"config.json is not valid JSON: {error}") from None


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_CONFIG_JSON_DIGITS:
        raise ValueError(f"config.json has a number of more than {MAX_CONFIG_JSON_DIGITS} digits "
                         f"({len(literal.lstrip('-'))}), so it is not a config")
    return int(literal)


def _too_deep(text: str) -> bool:
    """True when JSON ``text`` nests ``[`` and ``{`` (outside strings) deeper than ``MAX_CONFIG_JSON_DEPTH``.

    A linear scan, so it cannot recurse; it need not understand malformed text, which ``json.loads`` rejects after.
    """
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_CONFIG_JSON_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False
