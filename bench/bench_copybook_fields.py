"""Field decoders: ``usages.field_type(...)`` per USAGE, against the helpers of fields.py.

fields.py's ``decode_zoned`` / ``decode_packed`` / ``decode_binary`` / ``decode_text`` are what
today's generated record decoder calls on its slow path; the field types of usages.py are what
the generic copybook decoder calls for every field.  Both are timed in the same run, on the
same bytes, interleaved (so machine load moves both alike): the ratio is the useful number.
Types without an old helper (edited, COMP-1/COMP-2, national, separate signs) are timed alone.

Also: records.py's splitter, MB/s over a 20 MB stream of 200-byte records in 64 KiB chunks.

Run:  .venv/bin/python bench/bench_copybook_fields.py [n]   (n: calls per measurement)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

from clets.codecs.copybook import fields as F
from clets.codecs.copybook.pictures import parse_picture
from clets.codecs.copybook.usages import FieldOptions, FieldSpec, field_type

OPTIONS = FieldOptions()


def _type(pic: str | None, usage: str = "display", **spec: Any) -> Any:
    return field_type(FieldSpec(parse_picture(pic) if pic else None, usage, **spec), OPTIONS)


# (label, field type, value, old decode helper or None, old encode helper or None)
def cases() -> list[tuple[str, Any, Any, Callable[[bytes], Any] | None,
                          Callable[[Any], bytes] | None]]:
    zoned = _type("S9(7)V99")
    packed = _type("S9(7)V99", "packed")
    binary = _type("S9(9)", "binary")
    text = _type("X(20)")
    return [
        ("S9(7)V99 DISPLAY", zoned, Decimal("-12345.67"),
         lambda b: F.decode_zoned(b, True, 2, "F", 0),
         lambda v: F.encode_zoned(v, 9, True, 2, "F", 0)),
        ("S9(7)V99 COMP-3", packed, Decimal("-12345.67"),
         lambda b: F.decode_packed(b, 9, True, 2, "F", 0),
         lambda v: F.encode_packed(v, 9, True, 2, "F", 0)),
        ("S9(9) COMP", binary, 123456789,
         lambda b: F.decode_binary(b, 9, True, 0, "F", 0),
         lambda v: F.encode_binary(v, 4, 9, True, 0, "F", 0)),
        ("X(20)", text, "JOHN Q PUBLIC",
         lambda b: F.decode_text(b, "cp037"),
         lambda v: F.encode_text(v, 20, "cp037", "F", 0)),
        ("S9(7) SIGN LEADING SEPARATE", _type("S9(7)", sign_position="leading",
                                              sign_separate=True), -1234567, None, None),
        ("9(5) COMP-6", _type("9(5)", "comp-6"), 12345, None, None),
        ("S9(4) COMP-5", _type("S9(4)", "comp-5"), 32767, None, None),
        ("--,---,--9.99", _type("--,---,--9.99"), Decimal("-1234567.89"), None, None),
        ("$$$,$$9.99CR", _type("$$$,$$9.99CR"), Decimal("-1234.5"), None, None),
        ("COMP-1 (HFP)", _type(None, "comp-1"), 0.5, None, None),
        ("COMP-2 (HFP)", _type(None, "comp-2"), 118.625, None, None),
        ("N(10) NATIONAL", _type("N(10)", "national"), "STRASSE", None, None),
    ]


def rate(fn: Callable[[], Any], n: int) -> float:
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main(n: int = 20_000) -> None:
    print(f"{'field':30s} {'op':6s} {'usages':>12s} {'fields.py':>12s} {'ratio':>7s}")
    for label, t, value, old_dec, old_enc in cases():
        raw = t.encode(value, "F", 0)
        assert t.decode(raw, "F", 0) == value
        if old_dec is not None:
            assert old_dec(raw) == t.decode(raw, "F", 0)
        ops: list[tuple[str, Callable[[], Any], Callable[[], Any] | None]] = [
            ("decode", partial(t.decode, raw, "F", 0),
             partial(old_dec, raw) if old_dec else None),
            ("encode", partial(t.encode, value, "F", 0),
             partial(old_enc, value) if old_enc else None)]
        for op, new, old in ops:
            r_new = rate(new, n)
            if old is None:
                print(f"{label:30s} {op:6s} {r_new:10,.0f}/s {'-':>12s} {'-':>7s}")
                continue
            r_old = rate(old, n)
            print(f"{label:30s} {op:6s} {r_new:10,.0f}/s {r_old:10,.0f}/s {r_new / r_old:6.2f}x")


def splitters(megabytes: int = 20) -> None:
    """records.py: MB/s splitting a stream of 200-byte records fed in 64 KiB chunks."""
    from clets.codecs.copybook.records import RecordFormat, RecordJoiner, RecordSplitter

    print(f"\n{'format':8s} {'MB/s':>8s} {'records/s':>12s}")
    record = bytes(range(200))
    count = megabytes * 1_000_000 // 204
    for fmt in (RecordFormat("FB", 200), RecordFormat("V"), RecordFormat("VB"),
                RecordFormat("VBS", block_size=6144), RecordFormat("D")):
        rec = record.replace(b"\n", b" ").replace(b"\r", b" ") if fmt.format == "D" else record
        joiner = RecordJoiner(fmt)
        stream = b"".join([joiner.add(rec) for _ in range(count)] + [joiner.close()])
        splitter = RecordSplitter(fmt)
        t0 = time.perf_counter()
        n = 0
        for i in range(0, len(stream), 65536):
            n += len(splitter.feed(stream[i:i + 65536]))
        n += len(splitter.close())
        dt = time.perf_counter() - t0
        assert n == count
        print(f"{fmt.format:8s} {len(stream) / dt / 1e6:8.1f} {n / dt:12,.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
    splitters()
