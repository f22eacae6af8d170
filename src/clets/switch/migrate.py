"""``clets journal migrate OLD NEW``: today's SQLite journal converted into the log format.

What it writes: the history first (every message with its queue rows, and every audit record,
in blocks of ``CHUNK``), then ONE snapshot block -- open and dead rows, their messages, dedup
keys, meta, counters and the audit head -- which becomes the low-water mark, so the switch
starting on NEW folds only what is open.  Then it verifies NEW against OLD (same messages by
msn and SHA-256, same queue rows and states, the chain verifies and ends on OLD's head) and
deletes NEW when anything differs.  It refuses, with the reason, an OLD that is missing, is not
a journal, is a log already or whose audit chain does not verify, and a NEW that exists.
OLD is only read (stop the switch first: a switch writing OLD meanwhile would be missed).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from clets.errors import ConfigError

from . import audit, logformat
from .journal import open_readonly
from .logstore import SqliteLogStore

__all__ = ["CHUNK", "migrate"]

#: messages (with their rows) or audit records per history block
CHUNK = 2000

_ROW_COLS = ("id", "msn", "kind", "target", "peer", "control", "mke", "address", "state",
             "attempts", "next_attempt_at", "deadline_at", "expires_at", "created_at",
             "updated_at", "status_sent", "responses", "frame", "last_error")
_MSG_COLS = ("msn", "received_at", "kind", "link", "peer", "origin", "control", "sequence",
             "mke", "operator", "codec", "sha256", "payload", "canonical")


def _refuse(reason: str, path: Path) -> ConfigError:
    return ConfigError(f"migration refused: {reason}", source=str(path))


def _row_rec(r: sqlite3.Row) -> list[Any]:
    v = [r[c] for c in _ROW_COLS]
    v[5] = f"{v[0] % 10**10:010d}" if v[2] == "forward" else None
    v[7] = json.loads(v[7]) if v[7] else []
    v[17] = None if v[17] is None else bytes(v[17])
    return ["o", v]


def _msg_rec(m: sqlite3.Row) -> list[Any]:
    v = [m[c] for c in _MSG_COLS]
    v[12] = bytes(v[12])
    return ["m", *v]


def migrate(old: str | Path, new: str | Path) -> str:
    """Convert, verify; a one-line summary.  Raises ConfigError (refused) with the reason."""
    old, new = Path(old), Path(new)
    if new.exists():
        raise _refuse("the new journal exists already (give a new file name)", new)
    conn = open_readonly(old)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE "
                                             "type = 'table'")}
        if "log" in tables:
            raise _refuse("it is a log journal already", old)
        missing = {"messages", "outbound", "dead_letter", "dedup", "meta", "audit",
                   "audit_head"} - tables
        if missing:
            raise _refuse(f"not a clets journal (no table {', '.join(sorted(missing))})", old)
        check = audit.verify(conn)
        if not check.ok:
            raise _refuse(f"its audit chain does not verify: {check}", old)
        head = audit.read_head(conn)
        try:
            _write(conn, new, head)
            _verify(conn, new, head)
        except BaseException:
            for p in (new, Path(f"{new}-wal"), Path(f"{new}-shm")):
                p.unlink(missing_ok=True)
            raise
        n_msg = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        n_row = conn.execute("SELECT COUNT(*) FROM outbound").fetchone()[0]
    finally:
        conn.close()
    return (f"migrated {old} -> {new}: {n_msg} messages, {n_row} queue rows, {head[0]} audit "
            f"records; verified (same messages, rows and chain head {head[1][:16]}...)")


def _write(conn: sqlite3.Connection, new: Path, head: tuple[int, str]) -> None:
    conn.row_factory = sqlite3.Row
    store = SqliteLogStore(new)
    now = time.time()
    try:
        open_msns: set[int] = set()
        # history: messages with their done rows (open and dead rows go in the snapshot)
        batch: list[list[Any]] = []
        for m in conn.execute("SELECT * FROM messages ORDER BY msn"):
            batch.append(_msg_rec(m))
            if len(batch) >= CHUNK:
                store.append(logformat.encode(now, batch))
                batch = []
        for r in conn.execute("SELECT * FROM outbound WHERE state = 'done' ORDER BY id"):
            batch.append(_row_rec(r))
            if len(batch) >= CHUNK:
                store.append(logformat.encode(now, batch))
                batch = []
        if batch:
            store.append(logformat.encode(now, batch))
        cols = (*audit.AUDIT_FIELDS, "hash")
        batch = []
        for a in conn.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY rowid"):
            batch.append(["a", *a])
            if len(batch) >= CHUNK:
                store.append(logformat.encode(now, batch))
                batch = []
        if batch:
            store.append(logformat.encode(now, batch))
        # the snapshot: what a restart needs
        last_msn = conn.execute("SELECT COALESCE(MAX(msn), 0) FROM messages").fetchone()[0]
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbound'"
                           ).fetchone()
        max_oid = max(int(seq[0]) if seq else 0,
                      conn.execute("SELECT COALESCE(MAX(id), 0) FROM outbound").fetchone()[0])
        snap: list[list[Any]] = [["S"], ["c", int(last_msn), int(max_oid)],
                                 ["h", head[0], head[1]]]
        rows = conn.execute("SELECT * FROM outbound WHERE state != 'done' ORDER BY id"
                            ).fetchall()
        open_msns = {int(r["msn"]) for r in rows}
        for msn in sorted(open_msns):
            m = conn.execute("SELECT * FROM messages WHERE msn = ?", (msn,)).fetchone()
            if m is not None:
                snap.append(_msg_rec(m))
        snap.extend(_row_rec(r) for r in rows)
        for d in conn.execute("SELECT outbound_id, reason, dead_at FROM dead_letter"):
            snap.append(["l", int(d[0]), str(d[1]), float(d[2])])
        for d in conn.execute("SELECT key, msn, sha256, at FROM dedup ORDER BY at"):
            snap.append(["d", str(d[0]), int(d[1]), str(d[2]), float(d[3])])
        for k in conn.execute("SELECT key, value FROM meta"):
            snap.append(["k", str(k[0]), str(k[1])])
        store.append(logformat.encode(now, snap), mark=True)
    finally:
        store.close()
        conn.row_factory = None


def _verify(conn: sqlite3.Connection, new: Path, head: tuple[int, str]) -> None:
    """NEW holds what OLD holds: same messages, rows and states, chain and head."""
    from .logjournal import LogJournal  # the fold, as the switch will do it

    msgs: dict[int, str] = {}
    rows: dict[int, str] = {}
    log = sqlite3.connect(f"file:{new}?mode=ro", uri=True)
    try:
        for _pos, data in logformat.read_blocks(log):
            for rec in logformat.decode(data)[1]:
                if rec[0] == "m":
                    msgs[rec[1]] = rec[12]
                elif rec[0] == "o":
                    rows[rec[1][0]] = rec[1][8]
        check = audit.verify(log)
        last = audit.records(log, last=1)
    finally:
        log.close()
    old_msgs = {int(m): str(s) for m, s in conn.execute("SELECT msn, sha256 FROM messages")}
    old_rows = {int(i): str(s) for i, s in conn.execute("SELECT id, state FROM outbound")}
    if msgs != old_msgs:
        raise _refuse(f"verification failed: {len(set(msgs) ^ set(old_msgs))} messages "
                      "differ", new)
    if rows != old_rows:
        raise _refuse("verification failed: queue rows or their states differ", new)
    if not check.ok:
        raise _refuse(f"verification failed: the new chain does not verify: {check}", new)
    got = (last[0]["seq"], last[0]["hash"]) if last else (0, audit.GENESIS)
    if got != head:
        raise _refuse(f"verification failed: chain head {got[0]} is not {head[0]}", new)
    j = LogJournal(new, readonly=True)
    try:
        open_old = {int(r[0]) for r in conn.execute(
            "SELECT id FROM outbound WHERE state != 'done'")}  # held rows too
        open_new = {r.id for r in j.list_rows(limit=10**9) if r.state != "done"}
        if open_old != open_new or j.audit_head() != head:
            raise _refuse("verification failed: the folded state differs", new)
    finally:
        j.close()
