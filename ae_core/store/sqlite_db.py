"""One SQLite database file, shared safely by threads and processes.

A ``sqlite3.Connection`` must not be used from two threads, so every thread
gets its own (kept in a ``threading.local`` and closed when the thread ends).
The file is in WAL mode, so readers never wait for the writer and the writer
never waits for readers; writers queue on SQLite's own lock (with a generous
busy timeout) when several processes share the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

BUSY_TIMEOUT_SECONDS = 30.0


class Database:
    """A thread-safe handle to one SQLite file.

    Args:
        path: the database file (created if missing).
        schema: SQL run once at open (``CREATE ... IF NOT EXISTS`` statements).
        added_columns: ``(table, column, type)`` added since the schema's first version; a
            file written before them gets them at open.
    """

    def __init__(self, path: Path, schema: str, added_columns: Iterable[tuple[str, str, str]] = ()) -> None:
        self.path = path
        self._local = threading.local()
        connection = self.connection()
        # WAL is a property of the file, so setting it once is enough; it must
        # happen outside a transaction.
        connection.execute("PRAGMA journal_mode = WAL")
        # Every statement in the schema is idempotent (IF NOT EXISTS), so two
        # processes opening a new file at once cannot conflict.
        connection.executescript(schema)
        for table, column, kind in added_columns:
            present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
            if column in present:
                continue
            try:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as error:  # another process added it just now
                if "duplicate column" not in str(error):
                    raise

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, in autocommit mode (one statement = one transaction)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            connection.row_factory = sqlite3.Row
            # NORMAL is durable across application crashes in WAL mode; only a
            # power cut can lose the last commits, which is fine for metrics.
            connection.execute("PRAGMA synchronous = NORMAL")
            self._local.connection = connection
        return connection

    def transaction(self) -> _Transaction:
        """``with db.transaction() as connection:`` runs statements atomically.

        ``BEGIN IMMEDIATE`` takes the write lock at once, so a read-then-write
        inside the block cannot be interleaved with another writer.
        """
        return _Transaction(self.connection())

    def close(self) -> None:
        """Close this thread's connection (other threads close theirs when they end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


class _Transaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.connection.execute("ROLLBACK" if error is not None else "COMMIT")

