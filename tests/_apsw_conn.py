"""The part of the stdlib ``sqlite3`` connection API the journal uses, on an APSW connection.

Why: a Python VFS (tests/_powercut_vfs.py) can only be registered in APSW's own SQLite library,
so the journal must reach SQLite through APSW to run on it; the journal's one seam
(``clets.switch.journal.connect``) is replaced by :func:`connect` in the switch process.  The
adapter gives what ``journal.py`` and ``audit.py`` call: ``execute`` / ``executemany`` /
``executescript``, cursors with ``fetchone`` / ``fetchall`` / iteration / ``rowcount`` /
``lastrowid``, rows readable by position and by column name (as ``sqlite3.Row``),
``in_transaction``, ``close``, and APSW's exceptions as the ``sqlite3`` ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import apsw


class Row(tuple[Any, ...]):
    """A result row by position and by column name (``dict(row)`` works)."""

    _names: tuple[str, ...]

    def __new__(cls, names: tuple[str, ...], values: tuple[Any, ...]) -> Row:
        r = super().__new__(cls, values)
        r._names = names
        return r

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)


def _mapped(exc: apsw.Error) -> sqlite3.Error:
    if isinstance(exc, apsw.ConstraintError):
        return sqlite3.IntegrityError(str(exc))
    if isinstance(exc, apsw.BusyError | apsw.LockedError | apsw.SQLError | apsw.IOError
                  | apsw.FullError | apsw.CantOpenError | apsw.ReadOnlyError):
        return sqlite3.OperationalError(str(exc))
    return sqlite3.DatabaseError(str(exc))


class Cursor:
    def __init__(self, rows: list[Row], rowcount: int, lastrowid: int) -> None:
        self._rows = rows
        self._i = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Row | None:
        if self._i >= len(self._rows):
            return None
        self._i += 1
        return self._rows[self._i - 1]

    def fetchall(self) -> list[Row]:
        rows, self._i = self._rows[self._i:], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Row]:
        while (r := self.fetchone()) is not None:
            yield r


def _row(cursor: apsw.Cursor, values: tuple[Any, ...]) -> Row:
    return Row(tuple(d[0] for d in cursor.get_description()), values)


class Connection:
    """An APSW connection that the journal can use where it expects ``sqlite3.Connection``."""

    row_factory: Any = None

    def __init__(self, path: str, vfs: str | None = None) -> None:
        try:
            self._c = apsw.Connection(path, vfs=vfs) if vfs else apsw.Connection(path)
        except apsw.Error as exc:
            raise _mapped(exc) from exc
        self._c.set_busy_timeout(10_000)

    @property
    def total_changes(self) -> int:
        return int(self._c.total_changes())

    @property
    def in_transaction(self) -> bool:
        return bool(self._c.in_transaction)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Cursor:
        cur = self._c.cursor()
        cur.row_trace = _row
        try:
            rows = list(cur.execute(sql, tuple(params)))
        except apsw.Error as exc:
            raise _mapped(exc) from exc
        return Cursor(rows, self._c.changes(), self._c.last_insert_rowid())

    def executemany(self, sql: str, seq: Iterable[Iterable[Any]]) -> Cursor:
        cur = self._c.cursor()
        before = self._c.total_changes()
        try:
            cur.executemany(sql, [tuple(p) for p in seq])
        except apsw.Error as exc:
            raise _mapped(exc) from exc
        return Cursor([], self._c.total_changes() - before, self._c.last_insert_rowid())

    def executescript(self, sql: str) -> Cursor:
        try:
            self._c.execute(sql)
        except apsw.Error as exc:
            raise _mapped(exc) from exc
        return Cursor([], -1, 0)

    def close(self) -> None:
        self._c.close()


def connect(path: str, *, vfs: str | None = None, check_same_thread: bool = True
            ) -> sqlite3.Connection:
    """A drop-in for ``clets.switch.journal.connect`` (typed as what the journal expects)."""
    del check_same_thread  # APSW serialises a connection's use across threads itself
    return Connection(path, vfs)  # type: ignore[return-value]
