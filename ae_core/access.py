"""Who may do what: each student owns their runs, a teacher may act on all, and a class's limits.

A student is a browser: the app gives each new browser a random ``student_id`` and keeps it
in a cookie, so it survives reloads and navigation there, and another browser (or a private
window) is another student. No sign-up and no passwords for students.

The lab is a *class* only when the server was started with ``AE_LAB_TEACHER_KEY``. Then a
browser whose person typed that key once holds a teacher token (an HMAC of the browser's
student id under the key, so the key itself is never kept in the browser), and may act on
every run; everyone else may cancel, resume and delete only the runs they started, may queue
at most ``ClassRules.max_queued_per_student`` runs at once, and must keep within the
teacher's caps. Without the key the lab is a single-user lab: everyone may do anything.

The job service enforces these rules (``JobManager`` takes an ``Actor``), so a page that
forgot a check still cannot act on another student's run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

from ae_core.checks import check_int, fail
from ae_core.config import MAX_EPOCHS, TrainConfig
from ae_core.data import DATASETS

TEACHER_KEY_ENV = "AE_LAB_TEACHER_KEY"
MAX_QUEUED_ENV = "AE_LAB_MAX_QUEUED_PER_STUDENT"
DEFAULT_MAX_QUEUED_PER_STUDENT = 2
MAX_QUEUED_LIMIT = 100
_STUDENT_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Actor:
    """Who asks the job service to act.

    ``student_id`` is recorded as the ``started_by`` of the runs this actor submits;
    ``is_teacher`` lets it act on every run and lifts the class's limits.
    """

    student_id: str
    is_teacher: bool = False

    def may_act_on(self, started_by: str | None) -> bool:
        """True if this actor may cancel, resume or delete a run started by ``started_by``."""
        return self.is_teacher or (started_by is not None and started_by == self.student_id)


# The single-user lab, the command line and the benchmarks: the person at the keyboard owns the lab.
LAB_OWNER = Actor("", is_teacher=True)


@dataclass(frozen=True)
class ClassRules:
    """What a student of a class may ask for (a teacher is never limited).

    Args:
        max_queued_per_student: runs one student may have waiting in the queue at once.
        max_epochs: the most epochs a student's run may have (None: ``MAX_EPOCHS``).
        max_train_examples: the most training examples a student's run may use (None: all).
    """

    max_queued_per_student: int = DEFAULT_MAX_QUEUED_PER_STUDENT
    max_epochs: int | None = None
    max_train_examples: int | None = None

    def __post_init__(self) -> None:
        check_int("max_queued_per_student", self.max_queued_per_student, 1, MAX_QUEUED_LIMIT)
        if self.max_epochs is not None:
            check_int("max_epochs", self.max_epochs, 1, MAX_EPOCHS)
        if self.max_train_examples is not None:
            check_int("max_train_examples", self.max_train_examples, 1, max(s.train_size for s in DATASETS.values()))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassRules:
        """Rules from a dict of their fields (unknown fields are refused). Raises ValueError."""
        if not isinstance(data, Mapping):
            raise ValueError(f"class rules must be a JSON object; got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            fail("class rules", ", ".join(map(str, unknown)), f"only the fields {', '.join(sorted(known))}")
        return cls(**data)

    def check(self, config: TrainConfig) -> None:
        """Refuse a student's config that asks for more than the teacher allows.

        Raises:
            ValueError: naming the setting, the teacher's limit and the value asked for.
        """
        if self.max_epochs is not None and config.num_epochs > self.max_epochs:
            raise ValueError(f"num_epochs must be at most {self.max_epochs} in this class (the teacher's limit); "
                             f"got {config.num_epochs}")
        if self.max_train_examples is not None:
            examples = min(config.train_limit or DATASETS[config.dataset].train_size,
                           DATASETS[config.dataset].train_size)
            if examples > self.max_train_examples:
                raise ValueError(f"train_limit must be at most {self.max_train_examples:,} training examples in "
                                 f"this class (the teacher's limit); got {examples:,}")

    def within(self, config: TrainConfig) -> TrainConfig:
        """``config`` with its epochs and training examples brought within the caps (for a form's defaults)."""
        changes: dict[str, Any] = {}
        if self.max_epochs is not None and config.num_epochs > self.max_epochs:
            changes["num_epochs"] = self.max_epochs
        size = DATASETS[config.dataset].train_size
        if self.max_train_examples is not None and min(config.train_limit or size, size) > self.max_train_examples:
            changes["train_limit"] = self.max_train_examples
        return dataclasses.replace(config, **changes) if changes else config


def default_max_queued() -> int:
    """``$AE_LAB_MAX_QUEUED_PER_STUDENT``, else ``DEFAULT_MAX_QUEUED_PER_STUDENT``. Raises ValueError."""
    text = os.environ.get(MAX_QUEUED_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_QUEUED_PER_STUDENT
    value: Any = int(text) if text.isdigit() else text
    check_int(MAX_QUEUED_ENV, value, 1, MAX_QUEUED_LIMIT)
    return value


def teacher_key() -> str | None:
    """The key the server was started with (``$AE_LAB_TEACHER_KEY``), or None for a single-user lab."""
    return os.environ.get(TEACHER_KEY_ENV) or None


def is_class() -> bool:
    """True if the server holds a class (it was started with a teacher key)."""
    return teacher_key() is not None


def new_student_id() -> str:
    """A fresh, unguessable id for a browser that has none."""
    return uuid.uuid4().hex


def is_student_id(value: object) -> bool:
    """True if ``value`` is an id ``new_student_id`` could have made (a cookie may hold anything)."""
    return isinstance(value, str) and bool(_STUDENT_ID.match(value))


def teacher_token(key: str, student_id: str) -> str:
    """What a teacher's browser keeps: proof that the key was typed there, without the key."""
    return hmac.new(key.encode(), student_id.encode(), hashlib.sha256).hexdigest()


def key_matches(typed: str) -> bool:
    """True if ``typed`` is the server's teacher key (compared in constant time)."""
    key = teacher_key()
    return key is not None and hmac.compare_digest(typed.encode(), key.encode())


def actor_for(student_id: str, token: str | None = None) -> Actor:
    """The actor of a browser: its student id, and whether its token proves a teacher.

    In a single-user lab (no teacher key) every browser may do anything.
    """
    key = teacher_key()
    if key is None:
        return Actor(student_id, is_teacher=True)
    proven = bool(token) and hmac.compare_digest(str(token), teacher_token(key, student_id))
    return Actor(student_id, is_teacher=proven)
