"""How a change asked for while a run trains reaches its worker: a shared array of doubles.

The manager writes (``post_change``) and the worker's trainer reads at each batch (``ChangeInbox``).
A local worker process shares the array with the manager (``multiprocessing.Array``); a Ray
worker keeps its own, written by the remote calls that carry the changes to it.
"""

from __future__ import annotations

from typing import Any

from ae_core.changes import CHANGEABLE

# Changes asked for while a run trains travel in a shared array of doubles, two slots per field of
# ``CHANGEABLE``: how many times it was asked (a counter the worker compares with what it has
# taken), and the value last asked. Read under the array's lock at each poll (a microsecond).
CHANGE_SLOTS = 2 * len(CHANGEABLE)


def post_change(changes: Any, field: str, value: float) -> None:
    """Write a change of ``field`` into a worker's shared change array (the manager's side)."""
    slot = 2 * CHANGEABLE.index(field)
    with changes.get_lock():
        changes[slot + 1] = float(value)
        changes[slot] += 1.0


def clear_changes(changes: Any) -> None:
    """Empty a worker's change array before its next run: nothing asked of the last run reaches this one."""
    with changes.get_lock():
        changes[:] = [0.0] * CHANGE_SLOTS


class ChangeInbox:
    """The worker's side of the shared change array: each call returns the changes posted since the last.

    Two changes of one field between polls leave the last: it is the one in force from the next batch.
    """

    def __init__(self, changes: Any) -> None:
        self.changes = changes
        self.taken = [0.0] * len(CHANGEABLE)

    def __call__(self) -> list[tuple[str, float]]:
        with self.changes.get_lock():
            values = self.changes[:]
        new = []
        for index, field in enumerate(CHANGEABLE):
            if values[2 * index] != self.taken[index]:
                self.taken[index] = values[2 * index]
                new.append((field, values[2 * index + 1]))
        return new


