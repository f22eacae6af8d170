"""Copybook codec throughput: generated fast path vs construct vs a hand-written baseline.

Records: the 256-byte DMVREGR hit (fixture hit-active) and the 200-byte DMVDLR hit (hit-valid).
Variants, each producing / consuming the SAME canonical Message (checked before timing):

  fast       CopybookCodec, generated code (engine="fast")
  construct  the same codec reading fields through the construct layout, interpreted
  compiled   ... through ``layout.construct.compile()``
  baseline   hand-written for this one record: decode: one ``bytes.decode("cp037")`` and
             constant slices (raw bytes for COMP-3), the same normalisation and Message;
             encode: per-field ``.encode("cp037")`` and ``b"".join``

Field edits are OFF in every variant (the baseline has none), so like is compared with like;
``fast+edits`` shows what the default codec (edits on) costs.  Ratios are (variant)/(baseline)
in the same run.  Run:  .venv/bin/python bench/bench_copybook.py [n]
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clets.codecs.base import get_codec
from clets.model import (
    Address,
    License,
    Message,
    Person,
    Record,
    Registration,
    Vehicle,
    format_name,
    parse_name,
    to_dict,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "messages"


# --------------------------------------------------------------------------- hand-written


def _date(s: str) -> str | None:
    if s == "00000000":
        return None
    return _dt.date(int(s[:4]), int(s[4:6]), int(s[6:])).isoformat()


def _name(s: str) -> Any:
    return parse_name(s) if s else None


def _ident(s: str) -> str | None:
    return s.upper().replace(" ", "").replace("-", "") or None


def _code(s: str) -> str | None:
    return s.strip().upper() or None


def base_decode_regr(buf: bytes) -> Message:
    if len(buf) != 256:
        raise ValueError("length")
    t = buf.decode("cp037")
    status = {"H": "hit", "N": "no_hit", "E": "error"}[t[23]]
    plate = _ident(t[24:32].rstrip())
    state = _code(t[32:34])
    vin = _ident(t[34:51].rstrip())
    year = int(t[51:55]) or None
    veh = Vehicle(plate=plate, plate_state=state, vin=vin, year=year,
                  make=_ident(t[55:59].rstrip()), model=_ident(t[59:62].rstrip()),
                  style=_code(t[62:64]), color=_code(t[64:71]))
    h = buf[166:170].hex()
    units = int(h[:-1])
    neg = h[-1] in "db" and units
    fees = f"{'-' if neg else ''}{units // 100}.{units % 100:02d}"
    stolen = {"Y": True, "N": False, " ": None}[t[170]]
    zip_ = t[153:158]
    owner = Person(name=_name(t[71:101].rstrip()),
                   address=Address(street=t[101:131].rstrip() or None,
                                   city=t[131:151].rstrip() or None, state=_code(t[151:153]),
                                   zip=zip_ if zip_ != "00000" else None))
    reg = Registration(expires=_date(t[158:166]), status=_code(t[171:173]), fees_due=fees,
                       stolen=stolen)
    ori = _ident(t[4:13].rstrip())
    return Message(format="dmv-reg-response", mke=t[0:4].rstrip() or None or "",
                   destinations=[ori] if ori else [], control=t[13:23].rstrip() or None,
                   status=status, text=t[173:213].rstrip() or None,
                   records=[Record(file="registration", vehicle=veh, owner=owner,
                                   registration=reg)])


def base_decode_dlr(buf: bytes) -> Message:
    if len(buf) != 200:
        raise ValueError("length")
    t = buf.decode("cp037")
    status = {"H": "hit", "N": "no_hit", "E": "error"}[t[23]]
    hgt = t[71:74]
    height = int(hgt[0]) * 12 + int(hgt[1:]) if hgt != "000" else None
    h = buf[150:152].hex()
    pts = int(h[:-1]) * (-1 if h[-1] in "db" else 1)
    last = buf[154]
    fta = int(t[152:154] + str(last & 0x0F)) * (-1 if last >> 4 == 0xD else 1)
    zip_ = t[133:138]
    person = Person(name=_name(t[32:62].rstrip()), dob=_date(t[62:70]), sex=_code(t[70]),
                    height_in=height, weight_lb=int(t[74:77]) or None, eyes=_code(t[77:80]),
                    hair=_code(t[80:83]),
                    license=License(number=_ident(t[24:32].rstrip()), class_=_code(t[138:140]),
                                    status=_code(t[140:142]), expires=_date(t[142:150])),
                    address=Address(street=t[83:113].rstrip() or None,
                                    city=t[113:133].rstrip() or None,
                                    zip=zip_ if zip_ != "00000" else None))
    ori = _ident(t[4:13].rstrip())
    return Message(format="dmv-dl-response", mke=t[0:4].rstrip(),
                   destinations=[ori] if ori else [], control=t[13:23].rstrip() or None,
                   status=status,
                   records=[Record(file="driver", person=person,
                                   fields={"PTS": str(pts), "FTA": str(fta)})])


def _x(v: str | None, n: int) -> bytes:
    return (v or "").ljust(n).encode("cp037")


def _z(v: int | None, n: int) -> bytes:
    return f"{v or 0:0{n}d}".encode("cp037")


def _p(units: int, nbytes: int) -> bytes:
    return bytes.fromhex(f"{abs(units):0{nbytes * 2 - 1}d}{'d' if units < 0 else 'c'}")


_CODES = {"hit": "H", "no_hit": "N", "error": "E"}


def base_encode_regr(m: Message) -> bytes:
    r = m.records[0]
    v, o, g = r.vehicle or Vehicle(), r.owner or Person(), r.registration or Registration()
    a = o.address or Address()
    fees = (g.fees_due or "0.00").replace(".", "")
    return b"".join((
        _x(m.mke, 4), _x(m.destinations[0] if m.destinations else None, 9), _x(m.control, 10),
        _x(_CODES[m.status or "hit"], 1), _x(v.plate, 8), _x(v.plate_state, 2), _x(v.vin, 17),
        _z(v.year, 4), _x(v.make, 4), _x(v.model, 3), _x(v.style, 2), _x(v.color, 7),
        _x(format_name(o.name) if o.name else None, 30), _x(a.street, 30), _x(a.city, 20),
        _x(a.state, 2), _z(int(a.zip or 0), 5),
        _z(int(g.expires.replace("-", "")) if g.expires else 0, 8), _p(int(fees), 4),
        _x({True: "Y", False: "N", None: ""}[g.stolen], 1), _x(g.status, 2), _x(m.text, 40),
        b"\x40" * 43))


def base_encode_dlr(m: Message) -> bytes:
    r = m.records[0]
    p = r.person or Person()
    lic, a = p.license or License(), p.address or Address()
    h = p.height_in
    fta = int(r.fields.get("FTA", "0"))
    fta_b = bytearray(_z(abs(fta), 3))
    fta_b[-1] = (0xD0 if fta < 0 else 0xC0) | (fta_b[-1] & 0x0F)
    return b"".join((
        _x(m.mke, 4), _x(m.destinations[0] if m.destinations else None, 9), _x(m.control, 10),
        _x(_CODES[m.status or "hit"], 1), _x(lic.number, 8),
        _x(format_name(p.name) if p.name else None, 30),
        _z(int(p.dob.replace("-", "")) if p.dob else 0, 8), _x(p.sex, 1),
        _z(int(f"{h // 12}{h % 12:02d}") if h else 0, 3), _z(p.weight_lb, 3), _x(p.eyes, 3),
        _x(p.hair, 3), _x(a.street, 30), _x(a.city, 20), _z(int(a.zip or 0), 5),
        _x(lic.class_, 2), _x(lic.status, 2),
        _z(int(lic.expires.replace("-", "")) if lic.expires else 0, 8),
        _p(int(r.fields.get("PTS", "0")), 2), bytes(fta_b), b"\x40" * 45))


# --------------------------------------------------------------------------- timing


def _rates(funcs: dict[str, Callable[[Any], Any]], arg: Any, counts: dict[str, int],
           repeat: int = 7) -> dict[str, float]:
    """Best rate per variant; the variants take turns in every round, so load drift on a
    shared machine hits them alike and the ratios stay meaningful."""
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(repeat):
        for name, fn in funcs.items():
            n = counts[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn(arg)
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
    return {name: 1 / t for name, t in best.items()}


CASES = [
    ("DMVREGR", "dmv-reg-response", "hit-active", base_decode_regr, base_encode_regr),
    ("DMVDLR", "dmv-dl-response", "hit-valid", base_decode_dlr, base_encode_dlr),
]


def run(n: int = 20000) -> list[dict[str, Any]]:
    """Records/s per record, variant and direction, with the ratio to the baseline."""
    rows: list[dict[str, Any]] = []
    for record, codec_name, fixture, bdec, benc in CASES:
        data = (FIXTURES / codec_name / f"{fixture}.cp037.bin").read_bytes()
        codecs = {
            "fast": get_codec(codec_name, edits=False),
            "construct": get_codec(codec_name, edits=False, engine="construct"),
            "compiled": get_codec(codec_name, edits=False, engine="compiled"),
            "fast+edits": get_codec(codec_name, edits=True),
        }
        msg = codecs["fast"].decode(data)
        # like with like: every variant gives the same message and the same bytes
        assert to_dict(bdec(data)) == to_dict(msg), record
        assert benc(msg) == data, record
        for c in codecs.values():
            assert to_dict(c.decode(data)) == to_dict(msg) and c.encode(msg) == data
        funcs: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
            name: (c.decode, c.encode) for name, c in codecs.items()}
        funcs["baseline"] = (bdec, benc)
        for op, arg in (("decode", data), ("encode", msg)):
            k = 0 if op == "decode" else 1
            scale = {"construct": 10, "compiled": 4}
            rates = _rates({name: fs[k] for name, fs in funcs.items()}, arg,
                           {name: max(200, n // 5 // scale.get(name, 1)) for name in funcs})
            for name, rate in rates.items():
                rows.append({"record": record, "op": op, "variant": name, "per_s": rate,
                             "ratio": rate / rates["baseline"]})
    return rows


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rows = run(n)
    print(f"{'record':8s} {'op':6s} {'variant':11s} {'records/s':>11s} {'vs baseline':>11s}")
    for r in rows:
        print(f"{r['record']:8s} {r['op']:6s} {r['variant']:11s} {r['per_s']:11,.0f} "
              f"{r['ratio']:10.2f}x")


if __name__ == "__main__":
    main()
