"""The per-message checks: identifier validity and plausibility across fields.

Pure functions of a subject (a person and/or vehicle with the message key or record file it
came with) and of today's date, passed in: no clock, no file, no socket.  Each returns
``(path, reason, value)`` triples; ``run_checks`` turns them into :class:`Flag` with the
check's policy.  Field forms (length, characters, code tables) are the field edits' job
(``clets.model.edits``); nothing here repeats them.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache

from stdnum.us import ssn as _ssn

from clets.model.edits import vin_check_digit_ok
from clets.model.types import Message, Person, Record, Vehicle

from .catalogue import Check, Flag, table

__all__ = ["RULES", "Subject", "age_on", "parse_date", "run_checks", "subjects",
           "vin_problems"]

Finding = tuple[str, str, str | None]


@dataclass(slots=True)
class Subject:
    """What one set of checks looks at: a person and/or vehicle, where they sit in the
    message (``prefix`` such as ``records[0].``), and the key or file that carries them."""

    prefix: str
    person: Person | None
    vehicle: Vehicle | None
    mke: str | None = None
    file: str | None = None
    fields: Mapping[str, str] | None = None
    record: Record | None = None


def subjects(msg: Message) -> Iterator[Subject]:
    """The message's own subject, then each record's (and each owner's)."""
    if msg.person is not None or msg.vehicle is not None:
        yield Subject("", msg.person, msg.vehicle, mke=msg.mke, fields=msg.fields)
    for i, rec in enumerate(msg.records):
        yield Subject(f"records[{i}].", rec.person, rec.vehicle, file=rec.file,
                      fields=rec.fields, record=rec)
        if rec.owner is not None:
            yield Subject(f"records[{i}].owner.", rec.owner, None, file=rec.file)


def parse_date(text: str | None) -> _dt.date | None:
    """An ISO date, or None when absent or not a date (its form is the field edits' job)."""
    if not text:
        return None
    try:
        return _dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def age_on(dob: _dt.date, day: _dt.date) -> int:
    """Whole years between a date of birth and a day."""
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


# ---- identifiers -------------------------------------------------------------------------

def _ssn_invalid(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    p = s.person
    if p is None or not p.ssn:
        return []
    if _ssn.is_valid(p.ssn):
        return []
    digits = p.ssn
    if len(digits) == 9 and digits.isdigit():
        area, group, serial = digits[:3], digits[3:5], digits[5:]
        if area in ("000", "666") or area >= "900":
            why = f"SSN area {area} is never issued"
        elif group == "00":
            why = "SSN group 00 is never issued"
        elif serial == "0000":
            why = "SSN serial 0000 is never issued"
        else:
            why = "SSN is an advertised or reserved number"
    else:
        why = "SSN is not nine digits"
    return [("person.ssn", why, p.ssn)]


_VIN_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"  # 1980 .. 2009, then again from 2010


def vin_problems(vin: str, year: int | None) -> list[str]:
    """What is wrong with a VIN, given the vehicle's model year if known (49 CFR 565)."""
    out: list[str] = []
    if len(vin) != 17:
        if year is None or year >= 1981:
            out.append(f"VIN has {len(vin)} characters, not 17")
        return out
    bad = sorted({ch for ch in vin if ch in "IOQ"})
    if bad:
        out.append(f"VIN holds {''.join(bad)} (never used in a VIN)")
        return out
    if vin[0] in "12345" and not vin_check_digit_ok(vin):
        out.append("VIN check digit (position 9) wrong for a North American VIN")
    code = vin[9]
    if code not in _VIN_YEAR_CODES:
        out.append(f"VIN model-year code {code!r} (position 10) is not a year code")
    elif year is not None and (year - 1980) % 30 != _VIN_YEAR_CODES.index(code):
        out.append(f"VIN model-year code {code!r} does not match model year {year}")
    return out


def _vin_invalid(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    v = s.vehicle
    if v is None or not v.vin:
        return []
    return [("vehicle.vin", why, v.vin) for why in vin_problems(v.vin, v.year)]


@cache
def _forms(name: str, state: str) -> re.Pattern[str] | None:
    row = table(name).get("state", {}).get(state)
    if row is None:
        return None
    return re.compile("|".join(f"(?:{f})" for f in row["forms"]))


def _oln_format(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    lic = s.person.license if s.person is not None else None
    if lic is None or not lic.number or not lic.state:
        return []
    pat = _forms("licences", lic.state)
    if pat is None or pat.fullmatch(lic.number):
        return []
    return [("person.license.number", f"not a {lic.state} licence number form", lic.number)]


@cache
def _placeholders() -> frozenset[str]:
    return frozenset(table("plates").get("placeholders", []))


def _plate_format(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    v = s.vehicle
    if v is None or not v.plate:
        return []
    if v.plate in _placeholders() or (len(set(v.plate)) == 1 and len(v.plate) > 3):
        return [("vehicle.plate", "plate is a placeholder, not a plate", v.plate)]
    pat = _forms("plates", v.plate_state or "")
    if pat is None or pat.fullmatch(v.plate):
        return []
    return [("vehicle.plate", f"not a {v.plate_state} plate form", v.plate)]


@cache
def _pattern(forms: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{f})" for f in forms))


def _number_form(attr: str, label: str) -> Callable[[Subject, Check, _dt.date], list[Finding]]:
    def check(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
        value = getattr(s.person, attr, None) if s.person is not None else None
        if not value:
            return []
        if _pattern(tuple(c.params["forms"])).fullmatch(value):
            return []
        return [(f"person.{attr}", f"not a {label} number form", value)]
    return check


# ---- plausibility ------------------------------------------------------------------------

def _dob_future(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    dob = parse_date(s.person.dob) if s.person is not None else None
    if dob is None or dob <= today:
        return []
    return [("person.dob", "date of birth is in the future", s.person.dob if s.person else None)]


def _dob_too_old(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    dob = parse_date(s.person.dob) if s.person is not None else None
    if dob is None or dob > today or age_on(dob, today) <= c.params.get("max_age", 120):
        return []
    return [("person.dob", f"date of birth {age_on(dob, today)} years ago",
             s.person.dob if s.person else None)]


def _licence_dates(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    p = s.person
    lic = p.license if p is not None else None
    if p is None or lic is None:
        return []
    expires = parse_date(lic.expires)
    if expires is None and lic.expires_year:
        expires = _dt.date(lic.expires_year, 12, 31)
    if expires is None:
        return []
    out: list[Finding] = []
    issued = parse_date((s.fields or {}).get("OLI"))
    if issued is not None and expires < issued:
        out.append(("person.license.expires", f"licence expires before its issue date {issued}",
                    str(expires)))
    dob = parse_date(p.dob)
    if dob is not None:
        earliest = table("licence_classes").get("any", 15)
        try:
            first_day = dob.replace(year=dob.year + earliest)
        except ValueError:  # 29 February
            first_day = dob.replace(year=dob.year + earliest, day=28)
        if expires < first_day:
            out.append(("person.license.expires",
                        f"licence expires before its holder was {earliest}", str(expires)))
    if lic.expires and lic.expires_year and expires.year != lic.expires_year:
        out.append(("person.license.expires_year", "expiry year differs from expiry date",
                    str(lic.expires_year)))
    return out


def _body_range(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    p = s.person
    if p is None:
        return []
    k = c.params
    dob = parse_date(p.dob)
    adult = dob is not None and age_on(dob, today) >= 18
    out: list[Finding] = []
    h_min = k["adult_height_min"] if adult else k["height_min"]
    w_min = k["adult_weight_min"] if adult else k["weight_min"]
    if p.height_in is not None and not h_min <= p.height_in <= k["height_max"]:
        out.append(("person.height_in", f"height {p.height_in} in outside {h_min}-"
                    f"{k['height_max']}", str(p.height_in)))
    if p.weight_lb is not None and not w_min <= p.weight_lb <= k["weight_max"]:
        out.append(("person.weight_lb", f"weight {p.weight_lb} lb outside {w_min}-"
                    f"{k['weight_max']}", str(p.weight_lb)))
    return out


def _licence_class_age(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    p = s.person
    lic = p.license if p is not None else None
    if p is None or lic is None or not lic.class_:
        return []
    dob = parse_date(p.dob)
    if dob is None or dob > today:
        return []
    t = table("licence_classes")
    minimum = t.get("class", {}).get(lic.class_, t.get("any", 15))
    age = age_on(dob, today)
    if age >= minimum:
        return []
    return [("person.license.class", f"class {lic.class_} needs age {minimum}, holder is {age}",
             lic.class_)]


def _juvenile_adult_record(s: Subject, c: Check, today: _dt.date) -> list[Finding]:
    if s.mke not in c.params["adult_only"] or s.person is None:
        return []
    dob = parse_date(s.person.dob)
    if dob is None or dob > today:
        return []
    age = age_on(dob, today)
    if age >= c.params["adult_age"]:
        return []
    return [("mke", f"subject is {age}: {s.mke} is for adults (juvenile key, e.g. EWJ)",
             s.mke)]


Rule = Callable[[Subject, Check, _dt.date], list[Finding]]

#: check id -> its code; ids here and in checks.toml must agree (catalogue() verifies)
RULES: dict[str, Rule] = {
    "ssn_invalid": _ssn_invalid,
    "vin_invalid": _vin_invalid,
    "oln_format": _oln_format,
    "plate_format": _plate_format,
    "fbi_format": _number_form("fbi", "FBI"),
    "cii_format": _number_form("cii", "CII"),
    "dob_future": _dob_future,
    "dob_too_old": _dob_too_old,
    "licence_dates": _licence_dates,
    "body_range": _body_range,
    "licence_class_age": _licence_class_age,
    "juvenile_adult_record": _juvenile_adult_record,
}


def check_subject(s: Subject, checks: Mapping[str, Check], today: _dt.date) -> list[Flag]:
    """Every per-message check on one subject."""
    out: list[Flag] = []
    for cid, rule in RULES.items():
        c = checks.get(cid)
        if c is None:
            continue
        for path, reason, value in rule(s, c, today):
            out.append(Flag(cid, c.kind, c.policy, s.prefix + path, reason, value))
    return out


def run_checks(msg: Message, today: _dt.date,
               checks: Mapping[str, Check] | None = None) -> list[Flag]:
    """The per-message checks on a message (its subject and each record)."""
    if checks is None:
        from .catalogue import catalogue
        checks = catalogue()
    out: list[Flag] = []
    for s in subjects(msg):
        out.extend(check_subject(s, checks, today))
    return out
