"""The teacher's limits for a class (``ae_core.access.ClassRules``), kept with the store across restarts."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from ae_core.access import ClassRules
from ae_core.store.artifacts import write_json_atomic

logger = logging.getLogger(__name__)

CLASS_RULES_FILENAME = "class_rules.json"


def read_class_rules(home: Path) -> ClassRules | None:
    """The rules saved in the store at ``home``, or None if none were saved (or they are unreadable: logged)."""
    path = home / CLASS_RULES_FILENAME
    try:
        return ClassRules.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as error:  # a damaged file: the defaults apply
        logger.warning("Ignoring %s: %s", path, error)
        return None


def write_class_rules(home: Path, rules: ClassRules) -> None:
    """Save ``rules`` in the store at ``home`` (atomically)."""
    write_json_atomic(home / CLASS_RULES_FILENAME, dataclasses.asdict(rules))
