"""Decode + edits of a full NCIC entry (40 fields) and of a 5-record response with banners,
against hand-written baselines in the same run (issue 17).

* ``ncic`` decode: the codec with every edit of fields.toml on: 28 fields bound to model slots
  and 12 kept in ``fields`` (checked by their rows: POB, CTZ, SMT, FPC, LKI, CTI, DOW, EXL ...),
  or five records of 13 fields each under two banner lines, with code translations
  (``CMC/05 - VIOLENT TENDENCIES``), text lines and a wrapped remark.
* baseline: ``str.split`` / ``str.partition`` into the same model objects, with the same checks
  written by hand for exactly the tags of the sample (patterns, lengths, code tables, calendar
  dates not in the future).  It knows nothing else: no unknown tags, no repeats, no offsets,
  no other layout, no wrapped lines but the ones of the sample.

Run: ``.venv/bin/python bench/bench_ncic_full.py [n]`` (also part of ``bench/codecs.py``).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_text import _ORI, _person_field, _rate
from clets.codecs.ncic import NcicCodec
from clets.model import (
    Case,
    License,
    Message,
    Person,
    Record,
    Vehicle,
    code_table,
    to_dict,
)

ENTRY40 = (b"EW.CA0349999.NAM/SMITH, JOHN JAMES.SEX/M.RAC/W.DOB/19751012.HGT/510.WGT/180"
           b".EYE/BRO.HAI/BLK.SKN/MED.SOC/123456789.FBI/123456AB7.MNU/AS-123456789"
           b".OLN/N1234567.OLS/CA.OLY/2027.LIC/8XYZ999.LIS/CA.LIY/2026.LIT/PC"
           b".VIN/1HGCM82633A004352.VYR/2003.VMA/HOND.VMO/ACC.VST/4D.VCO/SIL"
           b".OCA/24-001234.MIS/SUBJECT MAY BE ARMED AND IS KNOWN TO FLEE.OFF/ROBBERY"
           b".ETN/N.POB/TX.CTZ/US.SMT/TAT R ARM.FPC/PO12DI13PMPI16XX14AA.LKI/CA0190000"
           b".LKA/24-77.WNO/F123456.CTI/CA019015J.DOW/20240301.EXL/1.EXD/1")


def _record(i: int, caution: bool) -> str:
    head = "MKE/WANTED PERSON - CAUTION\nCMC/05 - VIOLENT TENDENCIES\n" if caution else \
        "MKE/WANTED PERSON\n"
    return (head + f"EXL/1 - FULL EXTRADITION\n"
            f"ORI/CA034999{i} NAM/SMITH, JOHN J SEX/M RAC/W POB/TX\n"
            f"DOB/1975101{i} HGT/510 WGT/180 EYE/BRO HAI/BLK SMT/TAT R ARM\n"
            f"OFF/ROBBERY OCA/24-00123{i} DOW/20240301\n"
            "MIS/SUBJECT MAY BE ARMED AND IS KNOWN TO FLEE FROM OFFICERS ON\n"
            "FOOT\n"
            f"NIC/W12345678{i} DTE/20240302 1200 PST\n"
            "IMMED CONFIRM WARRANT AND EXTRADITION WITH ORI")


RESP5 = ("QWR.CA0349999.*Q0000124.\n"
         "WARNING - THE FOLLOWING ARE NCIC RECORDS. DO NOT ARREST OR SEIZE BASED\n"
         "SOLELY ON THIS RESPONSE. CONFIRM WITH THE ENTERING AGENCY (YQ)\n\n"
         + "\n\n".join(_record(i, i % 2 == 0) for i in range(5))).encode()

# ----------------------------------------------------------------------------- baseline

_NAM = re.compile(r"[A-Z][A-Z '\-]*, ?[A-Z][A-Z '\-]*( [A-Z0-9 '\-]+)?|[A-Z][A-Z'\-]*"
                  r"|[A-Z][A-Z '\-]*,")
_OCA = re.compile(r"[A-Z0-9][A-Z0-9\-]*")
_NIC = re.compile(r"[A-Z][0-9]{9}")
_ALNUM = re.compile(r"[A-Z0-9]+")
_MNU = re.compile(r"[A-Z0-9]{2}-[A-Z0-9]+")
_SMT = re.compile(r"[A-Z0-9 /-]+")
_SEP = re.compile(r" (?=[A-Z]{3}/)")
_STAMP = re.compile(r"[0-9]{8}( [0-9]{4}( [A-Z]{3,4})?)?")
EYES, HAIR, SKIN = (code_table(t).codes for t in ("eyes", "hair", "skin"))
STATES, PLATES, STYLES, COLORS = (code_table(t).codes for t in
                                  ("states", "plate_types", "vehicle_styles", "colors"))
EXL = code_table("extradition").codes


class Reject(ValueError):
    pass


def _check(ok: bool, tag: str) -> None:
    if not ok:
        raise Reject(tag)


def _person_more(p: Person, tag: str, v: str) -> bool:
    if tag == "EYE":
        _check(v in EYES, tag)
        p.eyes = v
    elif tag == "HAI":
        _check(v in HAIR, tag)
        p.hair = v
    elif tag == "SKN":
        _check(v in SKIN, tag)
        p.skin = v
    elif tag == "SOC":
        _check(len(v) == 9 and v.isdigit(), tag)
        p.ssn = v
    elif tag == "FBI":
        _check(len(v) <= 9 and _ALNUM.fullmatch(v) is not None, tag)
        p.fbi = v
    elif tag == "MNU":
        _check(len(v) <= 15 and _MNU.fullmatch(v) is not None, tag)
        p.mnu = v
    elif tag in ("OLN", "OLS", "OLY"):
        lic = p.license = p.license or License()
        if tag == "OLN":
            _check(len(v) <= 20 and _ALNUM.fullmatch(v) is not None, tag)
            lic.number = v
        elif tag == "OLS":
            _check(v in STATES, tag)
            lic.state = v
        else:
            _check(len(v) == 4 and v.isdigit() and v[:2] in ("19", "20"), tag)
            lic.expires_year = int(v)
    else:
        return False
    return True


def _vehicle(v_: Vehicle, tag: str, v: str) -> bool:
    if tag == "LIC":
        _check(len(v) <= 10 and _ALNUM.fullmatch(v) is not None, tag)
        v_.plate = v
    elif tag == "LIS":
        _check(v in STATES, tag)
        v_.plate_state = v
    elif tag == "LIY":
        _check((len(v) in (2, 4) and v.isdigit()) or v == "NX", tag)
        v_.plate_year = v
    elif tag == "LIT":
        _check(v in PLATES, tag)
        v_.plate_type = v
    elif tag == "VIN":
        _check(len(v) <= 20 and _ALNUM.fullmatch(v) is not None, tag)
        v_.vin = v
    elif tag == "VYR":
        _check(len(v) == 4 and v.isdigit(), tag)
        v_.year = int(v)
    elif tag == "VMA":
        _check(len(v) <= 4 and _ALNUM.fullmatch(v) is not None, tag)
        v_.make = v
    elif tag == "VMO":
        _check(len(v) <= 3 and _ALNUM.fullmatch(v) is not None, tag)
        v_.model = v
    elif tag == "VST":
        _check(v in STYLES, tag)
        v_.style = v
    elif tag == "VCO":
        _check(v in COLORS, tag)
        v_.color = v
    else:
        return False
    return True


def _other(fields: dict[str, str], tag: str, v: str) -> None:
    """The 12 tags the model has no slot for, checked as their rows say."""
    if tag in ("POB", "CTZ"):
        _check(len(v) == 2 and _ALNUM.fullmatch(v) is not None, tag)
    elif tag == "SMT":
        _check(len(v) <= 10 and _SMT.fullmatch(v) is not None, tag)
    elif tag == "FPC":
        _check(len(v) <= 20 and _ALNUM.fullmatch(v) is not None, tag)
    elif tag in ("LKI", "CTI"):
        _check(len(v) == 9 and _ORI.fullmatch(v) is not None, tag)
    elif tag == "DOW":
        _check(len(v) == 8 and v.isdigit(), tag)
    elif tag == "EXL":
        _check(v.split(" - ", 1)[0] in EXL, tag)
    elif tag == "ETN":
        _check(v in ("H", "N", "U"), tag)
    elif tag == "EXD":
        _check(v in ("0", "1"), tag)
    elif tag in ("LKA", "WNO"):
        _check(len(v) <= 20, tag)
    elif tag == "DTE":
        _check(_STAMP.fullmatch(v) is not None, tag)
    fields[tag] = v


def baseline_entry(data: bytes) -> Message:
    text = data.decode("ascii")
    today = dt.date.today()
    mke, ori, rest = text.split(".", 2)
    _check(_ORI.fullmatch(ori) is not None, "ORI")
    msg = Message(format="ncic", mke=mke, origin=ori)
    p = msg.person = Person()
    vh = msg.vehicle = Vehicle()
    for part in rest.split("."):
        tag, _, v = part.partition("/")
        if _person_field(p, tag, v, today) or _person_more(p, tag, v) or _vehicle(vh, tag, v):
            continue
        if tag == "OCA":
            _check(len(v) <= 20 and _OCA.fullmatch(v) is not None, tag)
            msg.case = Case(oca=v)
        elif tag == "MIS":
            _check(len(v) <= 500, tag)
            msg.remarks = v
        else:
            _other(msg.fields, tag, v)
    return msg


def baseline_response(data: bytes) -> Message:
    text = data.decode("ascii")
    today = dt.date.today()
    header, *body = text.split("\n")
    mke, ori, control, _ = header.split(".")
    _check(_ORI.fullmatch(ori) is not None, "ORI")
    banner = body[:2]
    msg = Message(format="ncic", mke=mke, destinations=[ori], control=control[1:],
                  text="\n".join(banner), status="hit")
    rec: Record | None = None
    last = ""
    for line in body[3:]:
        if not line:
            rec = None
            continue
        if line.startswith("MKE/"):
            caution = line.endswith(" - CAUTION")
            rec = Record(file="wanted", caution=caution)
            msg.records.append(rec)
            last = "MKE"
            continue
        if rec is None:
            continue
        assert rec is not None
        if line[3:4] != "/":
            if last == "MIS":
                rec.remarks = f"{rec.remarks}\n{line}"
            else:
                rec.fields["TXT"] = line
            continue
        p = rec.person = rec.person or Person()
        for part in _SEP.split(line):
            tag, _, v = part.partition("/")
            last = tag
            if _person_field(p, tag, v, today) or _person_more(p, tag, v):
                continue
            if tag == "CMC":
                _check(len(v) == 2 or v[2:5] == " - ", tag)
                rec.cmc = v
            elif tag == "ORI":
                _check(_ORI.fullmatch(v) is not None, tag)
                rec.ori = v
            elif tag == "OFF":
                _check(len(v) <= 30, tag)
                rec.offense = v
            elif tag == "OCA":
                _check(len(v) <= 20 and _OCA.fullmatch(v) is not None, tag)
                rec.case = rec.case or Case()
                rec.case.oca = v
            elif tag == "NIC":
                _check(_NIC.fullmatch(v) is not None, tag)
                rec.case = rec.case or Case()
                rec.case.nic = v
            elif tag == "MIS":
                _check(len(v) <= 500, tag)
                rec.remarks = v
            else:
                _other(rec.fields, tag, v)
        if rec.person is not None and rec.person.name is None:
            rec.person = None
    return msg


# ----------------------------------------------------------------------------- runner


def run(n: int = 20000) -> list[dict[str, Any]]:
    codec = NcicCodec()
    entry = codec.decode(ENTRY40)
    resp = codec.decode(RESP5)
    assert len(ENTRY40.split(b".")) - 2 == 40
    assert len(resp.records) == 5
    # the baseline builds the same model as the codec, or the comparison means nothing
    assert to_dict(baseline_entry(ENTRY40)) == to_dict(entry)
    got, want = to_dict(baseline_response(RESP5)), to_dict(resp)
    assert got == want, [(a, b) for a, b in zip(got["records"], want["records"], strict=True)
                         if a != b][:1]
    rows = []
    for name, ours, base, arg, count in (
            ("ncic decode+edits entry 40 fields", codec.decode, baseline_entry, ENTRY40,
             n // 4),
            ("ncic decode+edits 5-record response", codec.decode, baseline_response, RESP5,
             n // 10)):
        a = b = 0.0
        for _ in range(2):
            a = max(a, _rate(ours, arg, count))
            b = max(b, _rate(base, arg, count))
        rows.append({"case": name, "codec_msgs_per_s": round(a), "baseline_msgs_per_s": round(b),
                     "ratio": round(a / b, 2)})
    return rows


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 20000
    print(f"{'case':38} {'codec msg/s':>12} {'baseline msg/s':>15} {'ratio':>6}")
    for r in run(n):
        print(f"{r['case']:38} {r['codec_msgs_per_s']:>12} {r['baseline_msgs_per_s']:>15} "
              f"{r['ratio']:>6}")


if __name__ == "__main__":
    main(sys.argv)
