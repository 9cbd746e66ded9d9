"""Reading the store's rows and config files defensively: what the writers never write is dropped and logged.

SQLite keeps whatever a column is given (a REAL column happily stores the text ``'abc'``),
and a row's JSON fields are plain text, so a damaged database or a hand edit can put
anything there. The pages format these values as numbers, so every value is checked here,
once, at the source: a metric row that is not numbers is skipped, a result value that is
not a number is dropped, and a run whose ``created_at`` is not a number is damaged (the
store lists it apart, with ``RunStore.damaged_runs``). Each drop is logged, never fatal.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ae_core.config import TrainConfig
from ae_core.store.layout import CONFIG_FILENAME
from ae_core.store.records import DamagedRun, MetricRow, RunRecord, RunStatus, validate_run_id

logger = logging.getLogger(__name__)

# The one result value that is not a number: a classifier's true x predicted counts.
CONFUSION_KEY = "confusion"
MAX_REASON_CHARS = 200


class DamagedRow(ValueError):
    """A run's row cannot be shown; the message says why, in words a person reads."""


def describe(error: BaseException) -> str:
    """Why something could not be read, in plain words without server paths.

    Args:
        error: what reading (or parsing) raised.

    Returns:
        A short sentence fragment, at most ``MAX_REASON_CHARS`` characters.
    """
    if isinstance(error, OSError):
        text = error.strerror or "it could not be read"  # str(error) would name the server's path
    elif isinstance(error, RecursionError):
        text = "it is nested too deeply"
    elif isinstance(error, OverflowError):
        text = "a number in it is too large"
    elif isinstance(error, MemoryError):
        text = "it is too large to read"
    elif isinstance(error, UnicodeDecodeError):
        text = "it is not UTF-8 text"
    else:
        text = str(error) or type(error).__name__
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 1] + "…"


def parse_config(data: bytes) -> TrainConfig:
    """A run's config from the bytes of its config.json (``TrainConfig.from_json``, which bounds size and depth).

    Raises:
        ValueError: for anything that is not a valid config, with a message in plain words
            that names config.json.
    """
    try:
        return TrainConfig.from_json(data)
    except Exception as error:  # noqa: BLE001 - from_json raises ValueError; anything else is damage too
        text = describe(error)
        raise ValueError(text if CONFIG_FILENAME in text else f"{CONFIG_FILENAME} is not a valid config: {text}") \
            from error


def record(row: Mapping[str, Any], read_config: Callable[[str], TrainConfig],
           queue_position: Callable[[], int | None]) -> RunRecord | DamagedRun:
    """A ``runs`` row as a record, or as a damaged run with the reason (logged); never an exception.

    Values a page would format but that are not numbers are dropped (and logged) here.

    Args:
        row: the run's row.
        read_config: reads a run's config (``RunStore.read_config``).
        queue_position: the run's place in the queue, asked only of a readable run.
    """
    run_id = row["run_id"]
    try:
        validate_run_id(run_id)
        try:
            status = RunStatus(row["status"])
        except ValueError:
            raise DamagedRow(f"its status {short(row['status'])} is unknown") from None
        when = created_at(row["created_at"])
        try:
            config = read_config(run_id)
        except OSError as error:
            raise DamagedRow(f"its {CONFIG_FILENAME} cannot be read: {describe(error)}") from error
        return RunRecord(
            run_id=run_id, status=status, config=config, created_at=when,
            started_at=optional_time(row["started_at"], "started_at", run_id),
            finished_at=optional_time(row["finished_at"], "finished_at", run_id),
            queue_position=queue_position(), message=str(row["message"] or ""),
            progress=progress(row["progress"], run_id), result=result(row["result"], run_id),
            cancel_requested=row["cancel_requested_at"] is not None,
            started_by=row["started_by"] if isinstance(row["started_by"], str) else None)
    except Exception as error:  # noqa: BLE001 - one bad run must never take the listing down
        reason = describe(error)
        logger.warning("Skipping damaged run %r: %s", run_id, reason)
        return DamagedRun(str(run_id), reason)


def number(value: Any) -> float | None:
    """``value`` as a float if it is a real number (not a bool, not too large for a float), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def whole(value: Any) -> int | None:
    """``value`` as an int if it is a whole number (``3`` or ``3.0``), else None."""
    as_float = number(value)
    if as_float is None or not math.isfinite(as_float) or as_float != int(as_float):
        return None
    return int(as_float)


def created_at(value: Any) -> float:
    """A run's creation time.

    Raises:
        DamagedRow: when it is not a finite number (the run cannot be dated or ordered).
    """
    seconds = number(value)
    if seconds is None or not math.isfinite(seconds):
        raise DamagedRow(f"its created_at is not a number ({short(value)})")
    return seconds


def optional_time(value: Any, name: str, run_id: str) -> float | None:
    """``started_at`` or ``finished_at``: a finite number, or None (a damaged one is dropped and logged)."""
    if value is None:
        return None
    seconds = number(value)
    if seconds is None or not math.isfinite(seconds):
        logger.warning("Run %s: dropping its %s, which is not a number (%r)", run_id, name, short(value))
        return None
    return seconds


def _json_object(text: Any, name: str, run_id: str) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        data = json.loads(text)
    except Exception as error:  # noqa: BLE001 - RecursionError and OverflowError too: never fatal
        logger.warning("Run %s: ignoring its %s, which is not valid JSON (%s)", run_id, name, describe(error))
        return None
    if not isinstance(data, dict):
        logger.warning("Run %s: ignoring its %s, which is not a JSON object", run_id, name)
        return None
    return data


def progress(text: Any, run_id: str) -> dict[str, Any]:
    """A run's ``progress`` (epoch, step, num_epochs, steps_per_epoch): whole numbers only.

    Returns:
        The progress dict without the values that are not whole numbers (each drop is logged).
    """
    data = _json_object(text, "progress", run_id) or {}
    kept = {key: whole(value) for key, value in data.items()}
    dropped = [key for key, value in kept.items() if value is None]
    if dropped:
        logger.warning("Run %s: dropping progress values that are not whole numbers: %s", run_id, dropped)
    return {key: value for key, value in kept.items() if value is not None}


def result(text: Any, run_id: str) -> dict[str, Any] | None:
    """A run's final result: numbers (as floats), and a confusion matrix of whole counts.

    Returns:
        The result without the values that are not what the trainers write (each drop is
        logged), or None when there is no result or it is not a JSON object.
    """
    data = _json_object(text, "result", run_id)
    if data is None:
        return None
    kept: dict[str, Any] = {}
    for key, value in data.items():
        checked = confusion(value) if key == CONFUSION_KEY else number(value)
        if checked is None:
            logger.warning("Run %s: dropping result value %r, which is not %s (%r)", run_id, key,
                           "a matrix of whole counts" if key == CONFUSION_KEY else "a number", short(value))
        else:
            kept[key] = checked
    return kept


def confusion(value: Any) -> list[list[int]] | None:
    """A confusion matrix: a non-empty list of equally long, non-empty lists of counts >= 0, else None."""
    if not isinstance(value, list) or not value or not all(isinstance(row, list) and row for row in value):
        return None
    if len({len(row) for row in value}) != 1:
        return None
    counts = [[whole(cell) for cell in row] for row in value]
    if any(cell is None or cell < 0 for row in counts for cell in row):
        return None
    return counts  # type: ignore[return-value] - None and negative cells were refused above


def metric_rows(found: Iterable[Any], run_id: str, logged: set[tuple[str, Any]]) -> list[MetricRow]:
    """The metric rows read back, without the damaged ones (each logged once: pages poll every second).

    Args:
        found: ``(seq, kind, key, value, epoch, step, time)`` rows of one run.
        run_id: the run, for the log.
        logged: the ``(run_id, seq)`` of the damaged rows logged so far; updated here.
    """
    metrics = []
    for raw in found:
        metric = metric_row(raw)
        if metric is not None:
            metrics.append(metric)
        elif (run_id, raw[0]) not in logged:
            logged.add((run_id, raw[0]))
            logger.warning("Run %s: skipping a damaged metric row (seq %s): a value is not a number", run_id,
                           short(raw[0]))
    return metrics


def metric_row(row: Any) -> MetricRow | None:
    """A metric row read back (``seq, kind, key, value, epoch, step, time``), or None when damaged.

    A NULL value is a NaN that was stored (SQLite keeps NaN as NULL), so it reads back as NaN.
    """
    seq, kind, key, value, epoch, step, when = row
    fields = (whole(seq), whole(epoch), whole(step), number(when))
    metric = float("nan") if value is None else number(value)
    if None in fields or metric is None or not isinstance(kind, str) or not isinstance(key, str):
        return None
    return MetricRow(seq=fields[0], kind=kind, key=key, value=metric, epoch=fields[1], step=fields[2],
                     time=fields[3])


def short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters: a damaged value may be enormous."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
