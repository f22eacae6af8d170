"""Worker for the kill -9 tests: runs one drop (sftp or spool) and SIGKILLs itself at a step.

Usage: python -m tests.crash_sftp_worker '<json config>'

The crash point is chosen by ``crash_at`` (an event name the drop emits at each step boundary,
or ``consumed``: inside the consumer, after its durable record and before it returns) and
``crash_nth`` (which occurrence).  The consumer is the stand-in for the switch journal: it
appends every delivery to an SQLite table (WAL, synchronous=FULL) *before* returning, so the
test can count what was delivered across crashes.  Sent outbound frames are recorded the same
way after ``write()`` returns; unrecorded frames are sent again on the next run (that is the
caller's side of at-least-once).  Prints one JSON line per reconcile report.

With ``powercut`` (the VFS's settings) the ledger and the record run on the power-cut VFS, so
the SIGKILL loses whatever they had not synced; ``ledger_synchronous`` (``OFF``) weakens the
ledger for a negative control.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from typing import Any

from tests._drops import URL


def main() -> None:
    cfg = json.loads(sys.argv[1])
    crash_at = cfg.get("crash_at")
    crash_nth = int(cfg.get("crash_nth", 1))
    hits = {"n": 0}

    def maybe_crash(event: str) -> None:
        if event == crash_at:
            hits["n"] += 1
            if hits["n"] == crash_nth:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)

    def on_event(event: str, details: dict[str, Any]) -> None:
        maybe_crash(event)

    rec = sqlite3.connect(cfg["record_db"], isolation_level=None)
    if cfg.get("powercut") is not None:
        # the power-cut variant: the ledger and this record on the VFS that loses what was not
        # synced (tests/_powercut_vfs.py); the SIGKILL below is then a power cut
        import functools

        from clets.adapters import ledger
        from tests._apsw_conn import connect
        from tests._powercut_vfs import NAME, register

        rec.close()
        register(**cfg["powercut"])
        ledger.connect = functools.partial(connect, vfs=NAME)  # type: ignore[assignment]
        rec = connect(cfg["record_db"], vfs=NAME)
    rec.execute("PRAGMA journal_mode=WAL")
    rec.execute("PRAGMA synchronous=FULL")
    rec.execute("CREATE TABLE IF NOT EXISTS delivered (file_id TEXT, idx INTEGER, payload BLOB)")
    rec.execute("CREATE TABLE IF NOT EXISTS sent (seq INTEGER PRIMARY KEY)")

    async def consumer(file_id: str, index: int, payload: bytes) -> None:
        rec.execute("INSERT INTO delivered VALUES (?, ?, ?)", (file_id, index, payload))
        maybe_crash("consumed")

    url = URL(cfg["scheme"], cfg.get("host"), cfg.get("port"), cfg["root"], cfg.get("user"),
              cfg["params"])
    if cfg["scheme"] == "sftp":
        from clets.adapters.sftp import open_sftp as opener
    else:
        from clets.adapters.spool import open_spool as opener  # no paramiko import: faster
    drop = opener(url, on_event)
    if cfg.get("ledger_synchronous"):  # a negative control: the ledger's commits not synced
        drop.ledger._db.execute(f"PRAGMA synchronous={cfg['ledger_synchronous']}")

    async def go() -> None:
        report = await drop.reconcile()
        print(json.dumps({"report": [str(f) for f in report]}), flush=True)
        sent = {r[0] for r in rec.execute("SELECT seq FROM sent")}
        for seq, frame in enumerate(cfg.get("frames", [])):
            if seq not in sent:
                await drop.write(frame.encode())
                rec.execute("INSERT INTO sent VALUES (?)", (seq,))
        for _ in range(20):
            await drop.poll_once(consumer)
            inbox = await asyncio.to_thread(drop.fs.listdir, drop.config.inbox)
            if not inbox and not drop.ledger.active(drop.drop_id):
                break
        again = await drop.reconcile()
        print(json.dumps({"again": [str(f) for f in again],
                          "integrity": drop.ledger.integrity_ok()}), flush=True)

    asyncio.run(go())
    drop.fs.close()


if __name__ == "__main__":
    main()
