"""niem codec throughput against bare lxml on the same bytes, in the same run.

Document: a ~2 KB NLETS response (QWR hit) with three records, as the codec writes it.

  baseline       ``etree.fromstring(data)`` + ``etree.tostring(root)``: parse and serialise
                 only -- no security checks, no XSD, no mapping (the floor for any XML codec)
  decode         NiemCodec(edits=False).decode: byte scans, hardened parse, limits, XSD
                 validation, mapping to the canonical model
  decode+edits   the same plus the field edits (the codec's default)
  encode         NiemCodec().encode: build the tree from the table, XSD validation, serialise
  no-xsd         decode / encode with validate=False (what the schema costs)

Ratios are (variant msgs/s) / (baseline msgs/s), so 0.3x means the codec does everything it
does at 30 % of the speed of a bare parse + serialise.
Run:  .venv/bin/python bench/bench_niem.py [n]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from lxml import etree

from clets.codecs import get_codec
from clets.model import Case, Message, Name, Person, Record, to_dict


def sample() -> Message:
    """A QWR hit with three records: the shape of a typical multi-file response."""
    def rec(file: str, first: str, nic: str, ori: str) -> Record:
        return Record(file=file, ori=ori, caution=file == "wanted",
                      person=Person(name=Name("SMITH", first), dob="1975-10-12", sex="M"),
                      case=Case(nic=nic))

    return Message(
        mke="QWR", origin="CA0349999", destinations=["CA0340000"], control="Q0000124",
        status="hit",
        records=[rec("wanted", "JOHN", "W123456789", "CA0349999"),
                 rec("protection_order", "JOHN", "H000123456", "CA0190000"),
                 rec("missing", "JON", "M987654321", "NV0020000")])


def _rates(funcs: dict[str, tuple[Callable[[Any], Any], Any]], n: int,
           rounds: int = 15) -> dict[str, float]:
    """Best msgs/s of each function over interleaved rounds (a busy machine slows all alike)."""
    best = dict.fromkeys(funcs, 0.0)
    per_round = max(50, n // rounds)
    for fn, arg in funcs.values():
        fn(arg)
    for _ in range(rounds):
        for name, (fn, arg) in funcs.items():
            t = time.perf_counter()
            for _ in range(per_round):
                fn(arg)
            best[name] = max(best[name], per_round / (time.perf_counter() - t))
    return best


def run(n: int = 20000) -> list[dict[str, Any]]:
    """Msgs/s of each variant on the same document, and the ratio to bare lxml."""
    codec = get_codec("niem", edits=False)
    edits = get_codec("niem")
    loose = get_codec("niem", edits=False, validate=False)
    msg = sample()
    data = codec.encode(msg)
    # like with like: every variant reads and writes the same thing
    assert to_dict(codec.decode(data)) == to_dict(loose.decode(data))
    assert loose.encode(msg) == data

    def baseline(b: bytes) -> bytes:
        return etree.tostring(etree.fromstring(b))

    variants = {
        ("parse+serialise", "lxml baseline"): (baseline, data),
        ("decode", "validate"): (codec.decode, data),
        ("decode", "validate+edits"): (edits.decode, data),
        ("decode", "no-xsd"): (loose.decode, data),
        ("encode", "validate"): (codec.encode, msg),
        ("encode", "no-xsd"): (loose.encode, msg),
    }
    rates = _rates({f"{op}/{v}": f for (op, v), f in variants.items()}, max(500, n // 4))
    base = rates["parse+serialise/lxml baseline"]
    return [{"part": "niem", "doc_bytes": len(data), "op": op, "variant": v,
             "per_s": rates[f"{op}/{v}"], "ratio": rates[f"{op}/{v}"] / base}
            for op, v in variants]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rows = run(n)
    print(f"document: {rows[0]['doc_bytes']} bytes, 3 records")
    print(f"{'op':16s} {'variant':15s} {'msgs/s':>10s} {'vs lxml':>8s}")
    for r in rows:
        print(f"{r['op']:16s} {r['variant']:15s} {r['per_s']:10,.0f} {r['ratio']:7.2f}x")


if __name__ == "__main__":
    main()
