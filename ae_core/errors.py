"""The core's own exceptions.

User input that is wrong raises the built-in ``ValueError`` (naming the field
and the allowed values). The classes here are for things that are *missing*:
a dataset that is not on this machine, or a run that does not exist. Pages
catch ``AELabError`` and show its message with ``st.error``.
"""


class AELabError(Exception):
    """Base class for the core's own errors; its message is meant for people."""


class DatasetUnavailable(AELabError):
    """A dataset is neither in the local data folder nor downloadable."""


class RunNotFound(AELabError):
    """No run with this id exists in the store."""


class QueueFull(AELabError):
    """A student already has as many runs waiting as a class allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"You already have {limit} run{'s' if limit != 1 else ''} waiting in the queue, the most "
                         "one person may have at once in this class. Wait until one starts, or cancel one on the "
                         "Runs page, then press Train again.")
        self.limit = limit


class ExecutorUnavailable(AELabError):
    """No training worker can start: the executor's machines cannot be reached (a Ray cluster that is down)."""
