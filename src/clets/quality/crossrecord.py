"""Checks across records and time: mismatched identifiers, duplicate entries, sealed and
stale records.

They read the quality index (what the file already holds) through the narrow interface of
:class:`~clets.quality.index.QualityIndex` and judge with the linkage model: "the same SSN
with another person" means another person *by the model*, so a misspelled name or a
transposed DOB of the same person is not a mismatch, and a duplicate entry is one the model
scores as a match, not only one with the same keys.  ``cut_sealed`` and ``stale_flags`` are
pure (a set and a date in, records and flags out).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from stdnum.us import ssn as _ssn

from clets.model.types import Message, Record

from .catalogue import Check, Flag
from .linkage import FIELDS, Features, Model, compare, dob_shortlist, features, weight_bound
from .rules import Subject, parse_date, subjects

if TYPE_CHECKING:
    from .index import QualityIndex

__all__ = ["CROSS_CHECKS", "SAME_PERSON_BITS", "cross_checks", "cut_sealed",
           "mismatch_identifiers", "record_numbers", "same_person", "stale_flags"]

CROSS_CHECKS = frozenset({"id_mismatch", "vin_two_plates", "duplicate_entry", "sealed_record",
                          "stale_record"})
_ID_COLS = tuple(i for i, f in enumerate(FIELDS) if f in ("ssn", "oln", "fbi"))
_ID_LABEL = {"ssn": "SSN", "oln": "OLN", "fbi": "FBI number"}
_SURNAME_DIFFERS = len(FIELDS["surname"]) - 1
_GIVEN_DIFFERS = len(FIELDS["given"]) - 1
_DOB_DIFFERS = len(FIELDS["dob"]) - 1


#: ``same_person``'s threshold: the match weight (bits) of name, DOB, sex and middle
#: initial at or above which two records sharing an identifier are taken for one person
SAME_PERSON_BITS = 0.0


def same_person(a: Features, b: Features, model: Model | None,
                bits: float = SAME_PERSON_BITS) -> bool:
    """Whether two records that share an identifier may be the same person *leaving the
    identifiers aside*: never when two of surname, given name and DOB differ beyond every
    typo level (names in the closer orientation: another name, whatever the DOB; another
    surname and another DOB -- no single typo does that); else, with a model, when their
    match weight over the other fields is at least ``bits`` -- by default 0, the differences
    (a misspelling, a DOB typo) are at least as likely between two records of one person as
    between two people.  Without a model, DOB within the typo levels and a name not
    unrelated.

    Why a weight and not the posterior at the review threshold (as before 2026-12-04): the
    posterior starts from the prior of two records *drawn at random* being one person, which
    falls as the file grows (1.7e-6 at 100,000 records, 1.7e-7 at a million), so the same
    pair took 12.5 bits of name and DOB to be one person at 100,000 and 15.9 at a million.
    Two records that already share an SSN are no random pair: most are one person entered
    twice.  Measured (bench population, seed 11, every pair sharing an identifier): at a
    million the posterior rule called 1,019 duplicate pairs of one person -- two DOB typos,
    or a DOB typo and a misspelling -- "another person", this rule none; of 10,072 SSNs
    lent to another person it misses 1 (the weight alone missed 3, e.g. another surname and
    DOB with the same given name, middle initial and sex: +2.1 bits)."""
    gamma = list(compare(a, b))
    for c in _ID_COLS:
        gamma[c] = -1
    surname, given, dob = gamma[0], gamma[1], gamma[2]
    if (surname == _SURNAME_DIFFERS) + (given == _GIVEN_DIFFERS) + (dob == _DOB_DIFFERS) >= 2:
        return False
    if model is not None:
        return model.weight(gamma) >= bits
    return dob != _DOB_DIFFERS


def mismatch_identifiers(f: Features) -> list[tuple[str, str]]:
    """``(kind, value)`` of the identifiers ``id_mismatch`` compares: the SSN, OLN and FBI
    number, but not an SSN that is not a valid number -- 078-05-1120 (the wallet card's) or
    a placeholder is held by many people and identifies none of them; ``ssn_invalid``
    reports it."""
    out = []
    if f.ssn and _ssn.is_valid(f.ssn):
        out.append(("ssn", f.ssn))
    if f.oln:
        out.append(("oln", f.oln))
    if f.fbi:
        out.append(("fbi", f.fbi))
    return out


def record_numbers(rec: Record | Subject) -> list[tuple[str, str]]:
    """``(kind, number)`` of the record numbers a sealed list names: CII, FCN, NIC."""
    out = []
    p = rec.person
    if p is not None and p.cii:
        out.append(("CII", p.cii))
    case = rec.record.case if isinstance(rec, Subject) and rec.record is not None else \
        rec.case if isinstance(rec, Record) else None
    if case is not None:
        if case.fcn:
            out.append(("FCN", case.fcn))
        if case.nic:
            out.append(("NIC", case.nic))
    return out


def cut_sealed(records: list[Record], sealed: set[str]) -> tuple[list[Record], list[str]]:
    """The records of an answer with those carrying a sealed number cut, and one notice per
    cut record (naming the kind of number, never the record)."""
    if not sealed:
        return records, []
    kept, notices = [], []
    for i, rec in enumerate(records):
        hit = [kind for kind, num in record_numbers(rec) if num in sealed]
        if hit:
            notices.append(f"QUALITY sealed_record records[{i}]: record withheld "
                           f"({hit[0]} on the sealed list)")
        else:
            kept.append(rec)
    return kept, notices


def stale_flags(s: Subject, check: Check, today: _dt.date) -> list[Flag]:
    """Past its purge date, or not validated within ``validate_days``."""
    fields = s.fields or {}
    k = check.params
    out = []
    purge = parse_date(fields.get(k.get("purge_tag", "PGD")))
    if purge is not None and purge <= today:
        out.append(Flag(check.id, check.kind, check.policy, s.prefix + "fields",
                        f"record past its purge date {purge}", str(purge)))
    last = parse_date(fields.get(k.get("validated_tag", "VLD"))) or \
        parse_date(fields.get(k.get("entered_tag", "DTE")))
    days = int(k.get("validate_days", 365))
    if last is not None and (today - last).days > days:
        out.append(Flag(check.id, check.kind, check.policy, s.prefix + "fields",
                        f"not validated since {last} (more than {days} days)", str(last)))
    return out


def cross_checks(msg: Message, index: QualityIndex, today: _dt.date,
                 checks: Mapping[str, Check] | None = None,
                 self_rid: str | None = None) -> list[Flag]:
    """The cross-record checks on a message's subjects against the index."""
    if checks is None:
        from .catalogue import catalogue
        checks = catalogue()
    model = index.model()
    sealed = index.sealed()
    out: list[Flag] = []
    for s in subjects(msg):
        out.extend(check_subject(s, index, model, sealed, checks, today, self_rid))
    return out


def check_subject(s: Subject, index: QualityIndex, model: Model | None, sealed: set[str],
                  checks: Mapping[str, Check], today: _dt.date,
                  self_rid: str | None = None) -> list[Flag]:
    out: list[Flag] = []
    p = s.person
    f = features(p) if p is not None else None
    c = checks.get("id_mismatch")
    if c is not None and f is not None:
        wanted = mismatch_identifiers(f)
        found = index.with_identifiers(wanted)
        bits = float(c.params.get("same_person_bits", SAME_PERSON_BITS))
        for kind, value in wanted:
            for other in found.get((kind, value), ()):
                if other.rid == self_rid or same_person(f, other.features, model, bits):
                    continue
                path = {"ssn": "person.ssn", "oln": "person.license.number",
                        "fbi": "person.fbi"}[kind]
                out.append(Flag(c.id, c.kind, c.policy, s.prefix + path,
                                f"{_ID_LABEL[kind]} on file with another person "
                                f"({other.label}, {other.rid})", value))
                break
    c = checks.get("vin_two_plates")
    v = s.vehicle
    if c is not None and v is not None and v.vin and v.plate:
        for rid, plate, state in index.plates_of_vin(v.vin):
            if rid == self_rid or not plate or (plate, state) == (v.plate, v.plate_state or ""):
                continue
            out.append(Flag(c.id, c.kind, c.policy, s.prefix + "vehicle.vin",
                            f"VIN on file under plate {state} {plate} ({rid})", v.vin))
            break
    c = checks.get("duplicate_entry")
    if c is not None and f is not None and s.mke in c.params.get("entries", ()) \
            and model is not None:
        best: tuple[float, str, str] | None = None
        threshold = model.match_weight
        for other in index.candidates(f, dob_shortlist(model, f, threshold)):
            if other.rid == self_rid or weight_bound(model, f, other.features) < threshold:
                continue
            w = model.weight(compare(f, other.features))
            if w >= threshold and (best is None or w > best[0]):
                best = (w, other.rid, other.label)
        if best is not None:
            prob = float(model.probability(best[0]))
            out.append(Flag(c.id, c.kind, c.policy, s.prefix + "person",
                            f"the file already holds this person ({best[2]}, {best[1]}, "
                            f"p={prob:.3f})", best[1], score=best[0]))
    c = checks.get("sealed_record")
    if c is not None and sealed:
        for kind, num in record_numbers(s):
            if num in sealed:
                out.append(Flag(c.id, c.kind, c.policy, s.prefix + kind.lower(),
                                f"{kind} is on the sealed list", num))
    c = checks.get("stale_record")
    if c is not None and s.record is not None:
        out.extend(stale_flags(s, c, today))
    return out
