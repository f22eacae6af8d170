"""The canonical model's own costs, three ways in the same run (a part of ``bench/codecs.py``).

* ``dataclass+json``: the model before msgspec (slotted dataclasses, generated dict walkers,
  stdlib ``json``), kept in ``tests/model_baseline.py``;
* ``dataclass+msgspec``: the same dataclasses with msgspec encoding and decoding them
  directly -- the alternative the issue asked to measure.  A LOWER bound on its cost: msgspec
  cannot rename a dataclass field (``class_`` comes out as ``class_``, not ``class``) nor
  write an all-absent object as ``null``, so a real implementation would add work;
* ``struct+msgspec``: the model as it is (``clets.model``).

Per operation, on the fixture ``json/ncic_qwr_hit_one_caution.json`` (a hit with its record) and on
the bench's QW inquiry: load (bytes to model), dump (model to canonical bytes), clone,
replace (one field), and building a Person field by field (what the text codecs do).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import tests.model_baseline as old  # noqa: E402

import clets.model as new  # noqa: E402

FIXTURE = ROOT / "fixtures" / "messages" / "json" / "ncic_qwr_hit_one_caution.json"
INQUIRY = (b'{"format": "json", "mke": "QW", "origin": "CA0194200", "destinations": '
           b'["WPS", "NCIC", "CARPOS"], "control": "F000000001", "person": {"name": '
           b'{"last": "SMITH", "first": "JOHN", "middle": "J"}, "dob": "1975-10-12", '
           b'"sex": "M", "race": "W"}}')


def _per_op_us(fn: Callable[[], Any], n: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):  # best of three: the machine is shared
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best


def _build(mod: Any) -> Any:
    p = mod.Person()
    p.name = mod.Name()
    p.name.last, p.name.first, p.name.middle = "SMITH", "JOHN", "J"
    p.dob, p.sex, p.race, p.height_in, p.weight_lb = "1975-10-12", "M", "W", 70, 180
    return p


def run(n: int) -> list[dict[str, object]]:
    n = max(1000, n // 4)
    rows: list[dict[str, object]] = []
    dc_encode = msgspec.json.Encoder().encode
    dc_decode = msgspec.json.Decoder(old.Message).decode
    for label, data in (("response", FIXTURE.read_bytes()), ("inquiry", INQUIRY)):
        o, m = old.loads(data), new.loads(data)
        ops: dict[str, tuple[Callable[[], Any], Callable[[], Any], Callable[[], Any]]] = {
            "load": (lambda d=data: old.loads(d), lambda d=data: dc_decode(d),
                     lambda d=data: new.loads(d)),
            "dump": (lambda o=o: old.dump(o),
                     lambda o=o: msgspec.json.format(dc_encode(o), indent=0),
                     lambda m=m: new.dump(m)),
            "clone": (lambda o=o: old.clone(o), lambda o=o: old.clone(o),
                      lambda m=m: new.clone(m)),
            "replace": (lambda o=o: old.replace(o, control="0000000001"),
                        lambda o=o: old.replace(o, control="0000000001"),
                        lambda m=m: new.replace(m, control="0000000001")),
            "build person": (lambda: _build(old), lambda: _build(old), lambda: _build(new)),
        }
        for op, (before, dc_ms, after) in ops.items():
            b, d, a = (_per_op_us(f, n) for f in (before, dc_ms, after))
            rows.append({"case": f"model {op} ({label})", "dataclass+json us": b,
                         "dataclass+msgspec us": d, "struct+msgspec us": a,
                         "struct/dataclass+json": a / b})
    rows.append(_audit_row(n))
    return rows


def _audit_row(n: int) -> dict[str, object]:
    """One audit record's hash: the format string over ``json``'s C quoting (what the switch
    did before, still the fallback) against msgspec encoding a sorted-key Struct."""
    import hashlib

    from clets.switch import audit

    rec = audit.make_record(audit.AuditEvent.for_payload(
        "forwarded", b"x" * 300, msn=12345, link="NCIC", origin="CA0194200", destination="NCIC",
        mke="QW", outcome="sent", reason="attempt 1 control 0000000001"), 1.75e9, (7, "a" * 64))
    values = tuple(map(rec.get, audit._SORTED_FIELDS))
    fmt, quote = audit._HASH_FORMAT, audit._json_value

    def before() -> str:
        return hashlib.sha256((fmt % tuple(map(quote, values))).encode("ascii")).hexdigest()

    assert before() == audit._hash_json(values) == rec["hash"]
    b = _per_op_us(before, n)
    a = _per_op_us(lambda: audit._hash_json(values), n)
    return {"case": "audit record hash", "dataclass+json us": b, "struct+msgspec us": a,
            "struct/dataclass+json": a / b}


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else 20000):
        print("  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()))
