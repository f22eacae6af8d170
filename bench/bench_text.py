"""Throughput of the ``ncic`` codec against a hand-written baseline, in the same run.

What each side does (be honest about it):

* ``ncic`` decode: bytes -> text, character check, MKE/ORI grammar, tokenizing, the dictionary
  binding of every tag (normalize, parse), then ``apply_edits`` -- every edit of fields.toml
  and the code tables (lengths, character classes, codes, dates not in the future, VIN check).
* baseline decode: the same text split with ``str.split``/``str.partition`` into the same model
  objects, with the same checks written by hand for exactly the tags in the sample (ORI and MKE
  pattern, name pattern and length, calendar date not in the future, codes in the same code
  tables, character classes and lengths of the identifiers).  It knows nothing else: no unknown
  tags, no repeated-tag or empty-field checks, no offsets in errors, no other layouts.
* encode: ``NcicCodec.encode`` (dictionary order, value checks, encoding) against an f-string
  of the known fields.

Run: ``.venv/bin/python bench/bench_text.py [n]``.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from clets.codecs.ncic import NcicCodec
from clets.model import Case, Message, Name, Person, Record, code_table

QW = b"QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012.SEX/M.RAC/W"
BANNER = ("WARNING - DO NOT ARREST OR DETAIN BASED SOLELY ON THIS RECORD. CONFIRM WITH THE "
          "ENTERING AGENCY (YQ) BEFORE ANY ACTION")
HIT3 = ("QWR.CA0349999.*Q0000124.\n" + BANNER + "\n\n"
        "MKE/WANTED PERSON - CAUTION\n"
        "NAM/SMITH, JOHN J DOB/19751012 SEX/M RAC/W HGT/510 WGT/180 OCA/24-001234 "
        "NIC/W123456789 CMC/05 ORI/CA0349999 OFF/ASSAULT WITH A DEADLY WEAPON\n\n"
        "MKE/PROTECTION ORDER\n"
        "NAM/SMITH, JOHN J DOB/19751012 SEX/M OCA/PO-2023-88 NIC/H000123456 ORI/CA0190000\n\n"
        "MKE/MISSING PERSON\n"
        "NAM/SMITH, JOHN J DOB/19751012 SEX/M HGT/510 NIC/M987654321 ORI/NV0020000").encode()

# ----------------------------------------------------------------------------- baseline

_ORI = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")
_MKE = re.compile(r"[A-Z0-9$\-.]{1,4}")
_NAM = re.compile(r"[A-Z][A-Z '\-]*, ?[A-Z][A-Z '\-]*( [A-Z0-9 '\-]+)?|[A-Z][A-Z '\-]*,?")
_OCA = re.compile(r"[A-Z0-9][A-Z0-9\-]*")
_NIC = re.compile(r"[A-Z][0-9]{9}")
_CMC = re.compile(r"[0-9A-Z]{2}")
_HGT = re.compile(r"[1-9][01][0-9]")
_SEP = re.compile(r" (?=[A-Z]{3}/)")
SEX = code_table("sex").codes
RACE = code_table("race").codes
FILES = {"WANTED PERSON": "wanted", "PROTECTION ORDER": "protection_order",
         "MISSING PERSON": "missing"}


class Reject(ValueError):
    pass


def _name(v: str) -> Name:
    if len(v) > 30 or not _NAM.fullmatch(v):
        raise Reject("NAM")
    last, _, rest = v.partition(",")
    words = rest.split()
    n = Name(last=last.strip())
    if words:
        n.first = words[0]
        if len(words) > 1:
            n.middle = " ".join(words[1:])
    return n


def _dob(v: str, today: dt.date) -> str:
    # fromisoformat reads CCYYMMDD (3.11+): the fastest check of a calendar date
    if len(v) != 8 or not v.isdigit() or dt.date.fromisoformat(v) > today:
        raise Reject("DOB")
    return f"{v[:4]}-{v[4:6]}-{v[6:]}"


def _person_field(p: Person, tag: str, v: str, today: dt.date) -> bool:
    if tag == "NAM":
        p.name = _name(v)
    elif tag == "DOB":
        p.dob = _dob(v, today)
    elif tag == "SEX":
        if v not in SEX:
            raise Reject("SEX")
        p.sex = v
    elif tag == "RAC":
        if v not in RACE:
            raise Reject("RAC")
        p.race = v
    elif tag == "HGT":
        if not _HGT.fullmatch(v):
            raise Reject("HGT")
        p.height_in = int(v[0]) * 12 + int(v[1:])
    elif tag == "WGT":
        if not v.isdigit() or len(v) > 3:
            raise Reject("WGT")
        p.weight_lb = int(v)
    else:
        return False
    return True


def baseline_decode_qw(data: bytes) -> Message:
    text = data.decode("ascii")
    today = dt.date.today()
    mke, ori, rest = text.split(".", 2)
    if not _MKE.fullmatch(mke) or not _ORI.fullmatch(ori):
        raise Reject("header")
    p = Person()
    for part in rest.split("."):
        tag, _, v = part.partition("/")
        _person_field(p, tag, v, today)
    return Message(format="ncic", mke=mke, origin=ori, person=p)


def baseline_decode_hit(data: bytes) -> Message:
    text = data.decode("ascii")
    today = dt.date.today()
    header, banner, *lines = text.split("\n")
    mke, ori, control, _ = header.split(".")
    if not _ORI.fullmatch(ori):
        raise Reject("ORI")
    msg = Message(format="ncic", mke=mke, destinations=[ori], control=control[1:],
                  text=banner, status="hit")
    rec: Record | None = None
    for line in lines:
        if not line:
            continue
        if line.startswith("MKE/"):
            kind = line[4:]
            caution = kind.endswith(" - CAUTION")
            rec = Record(file=FILES[kind[:-10] if caution else kind], caution=caution)
            msg.records.append(rec)
            continue
        assert rec is not None
        p = rec.person = rec.person or Person()
        for part in _SEP.split(line):
            tag, _, v = part.partition("/")
            if _person_field(p, tag, v, today):
                continue
            if tag == "OCA":
                if len(v) > 20 or not _OCA.fullmatch(v):
                    raise Reject("OCA")
                rec.case = rec.case or Case()
                rec.case.oca = v
            elif tag == "NIC":
                if not _NIC.fullmatch(v):
                    raise Reject("NIC")
                rec.case = rec.case or Case()
                rec.case.nic = v
            elif tag == "CMC":
                if not _CMC.fullmatch(v):
                    raise Reject("CMC")
                rec.cmc = v
            elif tag == "ORI":
                if not _ORI.fullmatch(v):
                    raise Reject("ORI")
                rec.ori = v
            elif tag == "OFF":
                if len(v) > 30:
                    raise Reject("OFF")
                rec.offense = v
            else:
                rec.fields[tag] = v
    return msg


def _person_wire(p: Person, sep: str) -> str:
    out = []
    if p.name:
        n = p.name
        rest = " ".join(x for x in (n.first, n.middle, n.suffix) if x)
        out.append(f"NAM/{n.last}, {rest}" if rest else f"NAM/{n.last}")
    if p.dob:
        out.append("DOB/" + p.dob.replace("-", ""))
    if p.sex:
        out.append("SEX/" + p.sex)
    if p.race:
        out.append("RAC/" + p.race)
    if p.height_in is not None:
        out.append(f"HGT/{p.height_in // 12}{p.height_in % 12:02d}")
    if p.weight_lb is not None:
        out.append(f"WGT/{p.weight_lb:03d}")
    return sep.join(out)


def baseline_encode_qw(msg: Message) -> bytes:
    assert msg.person is not None
    return f"{msg.mke}.{msg.origin}.{_person_wire(msg.person, '.')}".encode("ascii")


def baseline_encode_hit(msg: Message) -> bytes:
    lines = [f"{msg.mke}.{msg.destinations[0]}.*{msg.control}.", msg.text or ""]
    text_of = {v: k for k, v in FILES.items()}
    for rec in msg.records:
        kind = text_of[rec.file or ""] + (" - CAUTION" if rec.caution else "")
        parts = [_person_wire(rec.person, " ")] if rec.person else []
        if rec.case and rec.case.oca:
            parts.append("OCA/" + rec.case.oca)
        if rec.case and rec.case.nic:
            parts.append("NIC/" + rec.case.nic)
        if rec.cmc:
            parts.append("CMC/" + rec.cmc)
        if rec.ori:
            parts.append("ORI/" + rec.ori)
        if rec.offense:
            parts.append("OFF/" + rec.offense)
        parts += [f"{k}/{v}" for k, v in rec.fields.items()]
        lines += ["", "MKE/" + kind, " ".join(parts)]
    return "\n".join(lines).encode("ascii")


# ----------------------------------------------------------------------------- runner


def _rate(fn: Callable[[Any], Any], arg: Any, n: int) -> float:
    """Best of 5 in process CPU time (other jobs on the machine distort wall-clock time)."""
    fn(arg)  # warm caches
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(n):
            fn(arg)
        best = min(best, time.process_time() - t0)
    return n / max(best, 1e-9)


def run(n: int = 20000) -> list[dict[str, Any]]:
    """One row per case: codec and baseline messages per second, and their ratio."""
    codec = NcicCodec()
    qw_msg = codec.decode(QW)
    hit_msg = codec.decode(HIT3)
    # the baseline must build the same model as the codec, or the comparison means nothing
    from clets.model import to_dict

    assert to_dict(baseline_decode_qw(QW)) == to_dict(qw_msg)
    assert to_dict(baseline_decode_hit(HIT3)) == to_dict(hit_msg)
    assert baseline_encode_qw(qw_msg) == codec.encode(qw_msg) == QW
    assert codec.encode(hit_msg) == HIT3
    rows = []
    cases: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any], Any, int]] = [
        ("ncic decode+edits QW", codec.decode, baseline_decode_qw, QW, n),
        ("ncic decode+edits 3-record hit", codec.decode, baseline_decode_hit, HIT3, n // 4),
        ("ncic encode QW", codec.encode, baseline_encode_qw, qw_msg, n),
        ("ncic encode 3-record hit", codec.encode, baseline_encode_hit, hit_msg, n // 4),
    ]
    for name, ours, base, arg, count in cases:
        a = b = 0.0
        for _ in range(2):  # interleave so both sides see the same machine load
            a = max(a, _rate(ours, arg, count))
            b = max(b, _rate(base, arg, count))
        rows.append({"case": name, "codec_msgs_per_s": round(a), "baseline_msgs_per_s": round(b),
                     "ratio": round(a / b, 2)})
    return rows


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 20000
    rows = run(n)
    print(f"{'case':34} {'codec msg/s':>12} {'baseline msg/s':>15} {'ratio':>6}")
    for r in rows:
        print(f"{r['case']:34} {r['codec_msgs_per_s']:>12} {r['baseline_msgs_per_s']:>15} "
              f"{r['ratio']:>6}")


if __name__ == "__main__":
    main(sys.argv)
