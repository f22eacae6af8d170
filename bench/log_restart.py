"""Restart time of the log journal: the fold of a whole log, and from the low-water mark.

Writes ``--events`` events (audit records, queue row images, messages, dedup keys: what the
switch writes for a ``QW`` fanned out to three destinations and answered, 11 audit records and
~20 events per inquiry) in blocks of ``--batch`` inquiries, as group commits do, then:

* opens the journal with no snapshot: the full fold (every block);
* writes a snapshot (the low-water mark) and opens it again: what a restart reads normally;
* reports the memory the state takes for ``--dedup`` dedup keys (a 600 s window at 2,000/s is
  1.2 M keys) -- measured with tracemalloc on the fold.

    .venv/bin/python bench/log_restart.py                    # 1 M events
    .venv/bin/python bench/log_restart.py --events 100000 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from clets.switch.audit import AuditEvent
from clets.switch.logjournal import LogJournal

DESTS = ("WPS", "NCIC", "CARPOS")


def fill(path: Path, events: int, batch: int) -> int:
    """Inquiries written; every one answered and delivered except the last block's."""
    j = LogJournal(path, late_horizon=0.0)
    payload = b'{"mke":"QW","origin":"CA0194200","person":{"name":"ZZYZX, BENCH"}}' * 3
    written = n = 0
    now = time.time()
    while written < events:
        with j.tx():
            for _ in range(batch):
                n += 1
                msn = j.insert_message(now=now, kind="request", link="lapd", peer="LAPD",
                                       origin="CA0194200", control=f"B{n:09d}", sequence=None,
                                       mke="QW", operator=None, codec="json",
                                       sha256=f"{n:064x}", payload=payload,
                                       canonical=payload.decode())
                j.remember(f"lapd|CA0194200|B{n:09d}", msn, f"{n:064x}", now)
                j.audit(AuditEvent("received", msn=msn, outcome="ok", bytes=len(payload)), now)
                fwd = [j.add_forward(msn, d, "QW", (), now, now + 30, now + 600) for d in DESTS]
                j.audit(AuditEvent("journaled", msn=msn, outcome="accepted"), now)
                j.mark_claimed(fwd, now)
                for oid in fwd:
                    j.audit(AuditEvent("forwarded", msn=msn, destination="X", outcome="sent"),
                            now)
                    j.mark_response(oid, now)
                    j.audit(AuditEvent("responded", msn=msn, outcome="answer"), now)
                    d = j.add_delivery(msn, "lapd", "LAPD", "QWR", payload[:120], now,
                                       now + 600)
                    j.mark_delivered(d, 1, now)
                    j.audit(AuditEvent("delivered", msn=msn, outcome="sent"), now)
                # message, dedup key, 11 audit records, 6 row images, counters
                written += 20
        j.forget_before(now - 600)  # done rows leave memory, as the timer does
    j.close()
    return n


CPU: dict[str, float] = {}


def timed_open(path: Path, name: str = "") -> tuple[float, int, dict[str, int]]:
    """Wall seconds, blocks folded, state counts; the CPU seconds go in ``CPU[name]`` (on a
    shared machine the wall time also counts the waits for a core)."""
    t0, c0 = time.perf_counter(), time.process_time()
    j = LogJournal(path, readonly=True)
    seconds = time.perf_counter() - t0
    CPU[name] = round(time.process_time() - c0, 3)
    out = (seconds, j.replayed, j.memory_counts())
    j.close()
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=32, help="inquiries per block")
    ap.add_argument("--dedup", type=int, default=1_200_000,
                    help="dedup keys for the memory figure (0: skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv[1:])
    result: dict[str, Any] = {"events": args.events, "batch": args.batch}
    with tempfile.TemporaryDirectory(prefix="clets-logbench-") as tmp:
        path = Path(tmp) / "journal.db"
        t0 = time.perf_counter()
        result["inquiries"] = fill(path, args.events, args.batch)
        result["fill_s"] = round(time.perf_counter() - t0, 2)
        result["bytes"] = sum(p.stat().st_size for p in (path, Path(f"{path}-wal"))
                              if p.exists())
        s, blocks, mem = timed_open(path, "full_fold")
        result["full_fold_s"], result["full_fold_blocks"] = round(s, 3), blocks
        result["state_after_full_fold"] = mem
        j = LogJournal(path)
        j.forget_before(time.time() - 600)
        j.snapshot(whole=True)
        j.close()
        s, blocks, mem = timed_open(path, "from_mark")
        result["from_mark_s"], result["from_mark_blocks"] = round(s, 4), blocks
        result["state_from_mark"] = mem
        if args.dedup:
            tracemalloc.start()
            j = LogJournal(Path(tmp) / "dedup.db", readonly=True)
            base = tracemalloc.get_traced_memory()[0]
            now = time.time()
            for i in range(args.dedup):
                j._dedup.set(f"lapd|CA0194200|D{i:09d}", i, f"{i:064x}", now)
            result["dedup_keys"] = args.dedup
            result["dedup_mb"] = round((tracemalloc.get_traced_memory()[0] - base) / 2**20, 1)
            tracemalloc.stop()
            j.close()
            # a restart with a whole dedup window in the snapshot (the keys are put in memory
            # directly, then snapshotted: what the timer writes every 60 s)
            j = LogJournal(Path(tmp) / "window.db")
            now = time.time()
            for i in range(args.dedup):
                j._dedup.set(f"lapd|CA0194200|D{i:09d}", i, f"{i:064x}", now)
            t0 = time.perf_counter()
            j.snapshot(whole=True)
            result["dedup_snapshot_write_s"] = round(time.perf_counter() - t0, 3)
            j.close()
            s, blocks, mem = timed_open(Path(tmp) / "window.db", "dedup_restart")
            result["dedup_restart_s"], result["dedup_restart_keys"] = round(s, 3), mem["dedup"]
    result["cpu_s"] = CPU
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['inquiries']} inquiries, {args.events} events, blocks of {args.batch} "
          f"inquiries, {result['bytes'] / 2**20:.1f} MB on disk (written in "
          f"{result['fill_s']} s)")
    print(f"restart, full fold of {result['full_fold_blocks']} blocks: "
          f"{result['full_fold_s']} s (CPU {CPU['full_fold']} s)")
    print(f"restart from the low-water mark ({result['from_mark_blocks']} blocks, state "
          f"{result['state_from_mark']}): {result['from_mark_s'] * 1000:.1f} ms (CPU "
          f"{CPU['from_mark']} s)")
    if args.dedup:
        print(f"{result['dedup_keys']} dedup keys in memory: {result['dedup_mb']} MB; a "
              f"snapshot of them written in {result['dedup_snapshot_write_s']} s, a restart "
              f"from it {result['dedup_restart_s']} s, CPU {CPU['dedup_restart']} s "
              f"({result['dedup_restart_keys']} keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
