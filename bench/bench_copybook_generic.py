"""Generic copybook decode (tree.py, generated code) against a hand-written decoder, and a
100 MB file streamed through `clets copybook decode`.

Record: a counter, a REDEFINES area whose view a discriminator chooses (COMP-3 amount or
text), an OCCURS DEPENDING ON table of (text, COMP-3, binary) entries, and an item after the
table that moves with the count.  The hand-written decoder produces the SAME nested dict
(checked before timing) from constant and computed slices, ``bytes.decode("cp037")`` and
``bytes.hex()`` for the packed fields: what a person would write for this one record.

Part 2 writes a V (RDW) file of ``size`` MB of these records, runs the real CLI on it (JSON
lines to /dev/null) and reports MB/s and the child's peak RSS, with the peak for a file a
tenth of the size for comparison (flat memory: the two peaks should be about the same).

Run:  nice -n 10 .venv/bin/python bench/bench_copybook_generic.py [records] [size_mb]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from clets.codecs.copybook.records import RecordFormat, RecordJoiner
from clets.codecs.copybook.tree import Copybook, RedefineRule

COPYBOOK = """\
       01  ORDER-REC.
           05  O-KIND              PIC X.
           05  O-ID                PIC 9(8).
           05  O-N                 PIC 9(2).
           05  O-PAY.
               10  O-AMOUNT        PIC S9(9)V99 COMP-3.
               10  FILLER          PIC X(4).
           05  O-PAY-TEXT REDEFINES O-PAY PIC X(10).
           05  O-LINES OCCURS 0 TO 20 TIMES DEPENDING ON O-N.
               10  O-SKU           PIC X(8).
               10  O-PRICE         PIC S9(7)V99 COMP-3.
               10  O-QTY           PIC S9(4) COMP.
           05  O-NOTE              PIC X(12).
"""
RULE = RedefineRule("O-PAY", "O-KIND", {"A": "O-PAY", "*": "O-PAY-TEXT"})


def _packed(raw: bytes, scale: int) -> Decimal:
    h = raw.hex()
    n = int(h[:-1])
    if h[-1] in "db":
        n = -n
    return Decimal(f"{n}E-{scale}")


def hand_decode(buf: bytes) -> dict[str, Any]:
    t = buf.decode("cp037")
    kind = t[0].rstrip()
    n = int(t[9:11])
    rec: dict[str, Any] = {"O-KIND": kind, "O-ID": int(t[1:9]), "O-N": n}
    if kind == "A":
        rec["O-PAY"] = {"O-AMOUNT": _packed(buf[11:17], 2)}
    else:
        rec["O-PAY-TEXT"] = t[11:21].rstrip()
    lines = []
    p = 21
    for _ in range(n):
        lines.append({"O-SKU": t[p:p + 8].rstrip(), "O-PRICE": _packed(buf[p + 8:p + 13], 2),
                      "O-QTY": int.from_bytes(buf[p + 13:p + 15], "big", signed=True)})
        p += 15
    rec["O-LINES"] = lines
    rec["O-NOTE"] = t[p:p + 12].rstrip()
    return {"ORDER-REC": rec}


def sample(cb: Copybook, k: int) -> bytes:
    n = k % 21
    value = {"ORDER-REC": {
        "O-KIND": "A" if k % 3 else "T", "O-ID": 10_000_000 + k, "O-N": n,
        "O-PAY": {"O-AMOUNT": Decimal(k % 99999) / 100} if k % 3 else None,
        "O-PAY-TEXT": None if k % 3 else f"TEXT{k % 1000}",
        "O-LINES": [{"O-SKU": f"SKU{j:05d}", "O-PRICE": Decimal(j * 7 - 40) / 4,
                     "O-QTY": j - 5} for j in range(n)],
        "O-NOTE": f"NOTE {k % 7}"}}
    return cb.encode(value)


def best(fn: Callable[[bytes], Any], records: list[bytes], rounds: int = 5) -> float:
    """Best of ``rounds`` CPU times (process time: the machine is shared)."""
    times = []
    for _ in range(rounds):
        t = time.process_time()
        for r in records:
            fn(r)
        times.append(time.process_time() - t)
    return min(times)


def peak_child(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MiB) of a child process: CPU time too, because
    this machine is shared and wall time follows the load."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *args], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]) // 1024


def write_file(path: Path, cb: Copybook, size: int, pool: list[bytes]) -> int:
    joiner = RecordJoiner(RecordFormat("V"))
    written = 0
    with path.open("wb") as fh:
        k = 0
        while written < size:
            chunk = b"".join(joiner.add(pool[(k + j) % len(pool)]) for j in range(1000))
            fh.write(chunk)
            written += len(chunk)
            k += 1000
    return written


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    cb = Copybook(COPYBOOK, redefine_rules=[RULE])
    records = [sample(cb, k) for k in range(n)]
    for r in records[:500]:
        assert cb.decode(r) == hand_decode(r), (cb.decode(r), hand_decode(r))
    mean = sum(map(len, records)) / len(records)
    generic = best(cb.decode, records)
    hand = best(hand_decode, records)
    print(f"record: ORDER-REC, mean {mean:.0f} bytes (0-20 table entries), {n} records")
    print(f"  generic (generated)  {n / generic:10.0f} rec/s  {mean * n / generic / 1e6:6.1f} "
          "MB/s")
    print(f"  hand-written         {n / hand:10.0f} rec/s  {mean * n / hand / 1e6:6.1f} MB/s")
    print(f"  generic / hand-written speed: {hand / generic:.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        cpy = Path(tmp) / "ORDER.cpy"
        cpy.write_text(COPYBOOK)
        args = ["copybook", "decode", str(cpy), "-r", "V", "--redefine", "O-KIND=A:O-PAY",
                "--redefine", "O-KIND=*:O-PAY-TEXT"]
        cli = [sys.executable, "-m", "clets.cli"]
        for mb in (max(1, size_mb // 10), size_mb):
            data = Path(tmp) / f"orders-{mb}.dat"
            total = write_file(data, cb, mb * 1_000_000, records[:2000])
            secs, cpu, peak = peak_child([*cli, *args, str(data)])
            print(f"  clets copybook decode, {total / 1e6:6.1f} MB V file -> JSON lines: "
                  f"wall {secs:6.1f} s ({total / secs / 1e6:5.1f} MB/s), CPU {cpu:6.1f} s "
                  f"({total / cpu / 1e6:5.1f} MB/s), peak RSS {peak} MiB")
            os.unlink(data)



if __name__ == "__main__":
    main()
