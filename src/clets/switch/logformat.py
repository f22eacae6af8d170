"""The journal log's block format: what one group commit writes, as one MessagePack value.

A block is ``[version, time, records]``.  Each record is a list whose first item names it:

``m`` a journaled message (every column of the old ``messages`` table), ``o`` the image of a
queue row after the commit (``frame`` only in the row's first image), ``x`` a queue row removed
(operator purge), ``X`` a message removed, ``d``/``D`` a dedup key set / removed, ``P`` a
snapshot's dedup keys packed (a list of keys and one blob of their 48-byte values:
``dedupkeys.DedupKeys.packed``), ``l``/``L``
a dead letter set / removed, ``k`` a meta value, ``c`` the counters (last ``msn``, highest
queue row id), ``a`` an audit record (the ``audit`` table's columns, ``hash`` last) and ``S``
the first record of each block of a snapshot but its packed keys (the state at the
low-water mark, see ``logjournal``), with the switch's clock when it was taken
(``["S"]`` without it, from older versions and the migration, folds the same and makes the
next snapshot due at once).

Why images rather than operations: folding the log is then "last image wins" per row, which
cannot drift from what the switch did; the audit records carry the story, in their chain.

This module knows no SQL and no store: it is shared by the journal, the audit commands and the
migration.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

__all__ = ["VERSION", "audit_rows", "decode", "encode", "is_log_db", "read_blocks"]

VERSION = 1

_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder()


def encode(when: float, records: list[list[Any]]) -> bytes:
    return _enc.encode([VERSION, when, records])


def decode(data: bytes) -> tuple[float, list[list[Any]]]:
    """``(time, records)`` of a block; a block of another version is refused by name."""
    value = _dec.decode(data)
    if not isinstance(value, list) or len(value) != 3 or value[0] != VERSION:
        raise ValueError(f"not a clets journal block of version {VERSION}")
    return float(value[1]), value[2]


def is_log_db(conn: sqlite3.Connection) -> bool:
    """True for a journal database in the log format (it has the ``log`` table)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'log'"
                        ).fetchone() is not None


def read_blocks(conn: sqlite3.Connection, after: int = 0, page: int = 512
                ) -> Iterator[tuple[int, bytes]]:
    """``(position, block)`` after ``after``, in log order (a plain read: any connection),
    fetched ``page`` blocks at a time (a few when the caller usually stops at the first)."""
    last = after
    while True:
        rows = conn.execute("SELECT pos, data FROM log WHERE pos > ? ORDER BY pos LIMIT ?",
                            (last, page)).fetchall()
        if not rows:
            return
        for pos, data in rows:
            yield int(pos), bytes(data)
        last = int(rows[-1][0])


def audit_rows(blocks: Iterable[tuple[int, bytes]]) -> Iterator[list[Any]]:
    """The audit records held in ``blocks``, in chain order (``audit`` column order)."""
    for _pos, data in blocks:
        for rec in decode(data)[1]:
            if rec[0] == "a":
                yield rec[1:]
