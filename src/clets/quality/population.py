"""A labelled synthetic population: people and vehicles with injected, recorded errors.

Deterministic from a seed (``random.Random``; no clock, no file but the shipped name table),
so a test or a benchmark names its population by ``(size, seed)``.  Every record carries the
entity it belongs to and the labels of the errors put into it, which is what the checks and
the linkage model are measured against: a check must fire on its error and stay quiet on
clean records.

What goes in, per record (rates in :class:`Spec`):
- clean originals, with realistic gaps (no SSN, no licence, no vehicle) and twins (same
  surname and DOB, another given name and SSN: not duplicates, and hard ones); every
  person's SSN, licence, FBI and CII numbers and every case's NIC and FCN are its own
  (``_Unique``): two people share one only where an error is injected;
- duplicate entries of an earlier person with one or two variations: keyboard, phonetic and
  OCR misspellings, a nickname, first and last swapped, DOB day/month transposed, one digit
  off, a year off;
- rule errors: invalid SSN, invalid VIN, DOB in the future or over 120 years ago, height or
  weight out of range, licence expiring before the holder could drive, adult class on a
  minor, a placeholder plate, an OLN not of its state's form;
- cross-record errors: another person's SSN, a VIN seen under another plate, a sealed record
  number, a record past its validation date.
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from clets.model.types import Case, License, Name, Person, Record, Vehicle

from .catalogue import table

__all__ = ["DUP_VARIATIONS", "RULE_ERRORS", "LabelledRecord", "Population", "Spec",
           "generate", "misspell", "vin_with_check_digit"]

#: rule-error label -> the check that must catch it
RULE_ERRORS: dict[str, str] = {
    "ssn_invalid": "ssn_invalid",
    "vin_invalid": "vin_invalid",
    "dob_future": "dob_future",
    "dob_too_old": "dob_too_old",
    "body_range": "body_range",
    "licence_dates": "licence_dates",
    "licence_class_age": "licence_class_age",
    "plate_placeholder": "plate_format",
    "oln_format": "oln_format",
}
#: cross-record error label -> its check
CROSS_ERRORS: dict[str, str] = {
    "ssn_other_person": "id_mismatch",
    "vin_other_plate": "vin_two_plates",
    "sealed": "sealed_record",
    "stale": "stale_record",
    "duplicate": "duplicate_entry",
}
DUP_VARIATIONS = ("exact", "keyboard", "phonetic", "ocr", "nickname", "swap_names",
                  "dob_transposed", "dob_digit", "dob_year", "middle_dropped")

TODAY = _dt.date(2026, 12, 3)  # the population's "today": dates are relative to it


@dataclass(frozen=True, slots=True)
class Spec:
    size: int = 10_000
    seed: int = 1
    duplicate_rate: float = 0.08
    rule_error_rate: float = 0.05
    ssn_other_rate: float = 0.01
    vin_other_rate: float = 0.01
    sealed_rate: float = 0.01
    stale_rate: float = 0.01
    twin_rate: float = 0.002
    #: share of people whose surname / given name comes from the synthetic long tail
    #: (``tail_names``) instead of the ~1,000 common surnames / ~300 given names: about the
    #: share of the US population outside the 1,000 most common surnames (US Census 2010:
    #: ~58 %) and, for given names, outside the few hundred most common
    surname_tail: float = 0.55
    given_tail: float = 0.2
    today: _dt.date = TODAY


@dataclass(slots=True)
class LabelledRecord:
    rid: str
    entity: int
    mke: str
    record: Record
    errors: tuple[str, ...] = ()
    variations: tuple[str, ...] = ()
    dup_of: str | None = None  # the record this one duplicates (same entity, entered again)


@dataclass(slots=True)
class Population:
    spec: Spec
    records: list[LabelledRecord]
    sealed: set[str] = field(default_factory=set)  # sealed record numbers (CII, FCN, NIC)

    def true_pairs(self) -> set[tuple[int, int]]:
        """Index pairs (i < j) of records of the same entity."""
        by_entity: dict[int, list[int]] = {}
        for i, r in enumerate(self.records):
            by_entity.setdefault(r.entity, []).append(i)
        out: set[tuple[int, int]] = set()
        for idx in by_entity.values():
            for a in range(len(idx)):
                for b in range(a + 1, len(idx)):
                    out.add((idx[a], idx[b]))
        return out


@cache
def _pools() -> tuple[list[str], list[str], list[str]]:
    t = table("names")
    return t["surnames"].split(), t["male"].split(), t["female"].split()


@cache
def _nicknames() -> dict[str, list[str]]:
    """formal name -> its nicknames"""
    out: dict[str, list[str]] = {}
    for nick, formals in table("nicknames")["names"].items():
        for f in formals:
            out.setdefault(f, []).append(nick)
    return out


@cache
def _cumulative(n: int, offset: int = 50) -> list[float]:
    # P(rank k) ~ 1 / (k + offset): for the common names (offset 50) the head of US name
    # frequencies (SMITH ~0.7 %) without a single name taking a quarter of the file; for the
    # tail (offset 2,000) a slowly falling long list, its first names about as frequent as
    # the 1,000th common one
    acc, out = 0.0, []
    for k in range(1, n + 1):
        acc += 1.0 / (k + offset)
        out.append(acc)
    return [x / acc for x in out]


#: the synthetic tail's building blocks: a syllable is onset + vowel + coda
def _w(text: str, blanks: int = 0) -> tuple[str, ...]:
    """Words of ``text``, then ``blanks`` empty strings (an optional part drawn that often)."""
    return (*text.split(), *([""] * blanks))


_ONSETS = _w("B BR C CH CL D DR F FL G GR H J K KR L M N P PR R S SH ST T TR V W Z Y BL GL "
             "SL SN SP TH WH QU", 1)
_VOWELS = _w("A E I O U AI EA OU IE AU EE OO Y")
_CODAS = _w("N R L S T ND RN LL CK M RD NT SS LT RK NG RT Z X", 6)
_SURNAME_ENDS = _w("SON MAN TON BERG STEIN EZ OV SKI ELLI INO ER LEY FORD WOOD FIELD WELL ARD "
                   "ING AS IAN OWSKI EAU IER ETTE ANI OTO AKI HAR DEH ANG ONG EN SEN ETTI OS "
                   "IDES ENKO UK ICH AN ES ON OR", 8)
_MALE_ENDS = _w("O AN EL IN US IO ER EN ON AR ES", 4)
_FEMALE_ENDS = _w("A IA ELLE INA ETTE ANA ENE ISA Y IE ITA ORA")


def _syllable(r: random.Random) -> str:
    return r.choice(_ONSETS) + r.choice(_VOWELS) + r.choice(_CODAS)


@cache
def tail_names(kind: str, n: int) -> list[str]:
    """``n`` synthetic names (``surname``, ``male``, ``female``), deterministic, none of them
    in the common pools: one or two syllables and an ending, 4 to 12 letters.

    Why synthetic: a file of a million people holds well over 100,000 distinct surnames
    (the US Census 2010 lists ~160,000 held by 100 or more people), and ~1,000 common ones
    alone make name + DOB stop telling people apart at that size.  No such list ships with
    the project's dependencies; these read like names, are spelled in the letters the
    misspelling and phonetic code paths meet in real names, and are drawn with the same kind
    of falling frequency."""
    ends = {"surname": _SURNAME_ENDS, "male": _MALE_ENDS, "female": _FEMALE_ENDS}[kind]
    surnames, male, female = _pools()
    taken = set(surnames) | set(male) | set(female)
    r = random.Random(f"clets-tail-{kind}")
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        name = _syllable(r) + (_syllable(r) if r.random() < 0.5 else "") + r.choice(ends)
        if not 4 <= len(name) <= 12 or name in seen or name in taken:
            continue
        seen.add(name)
        out.append(name)
    return out


#: sizes of the synthetic tails
TAIL_SURNAMES = 200_000
TAIL_GIVEN = 20_000


def _zipf(r: random.Random, pool: list[str], offset: int = 50) -> str:
    return r.choices(pool, cum_weights=_cumulative(len(pool), offset))[0]


def _name(r: random.Random, common: list[str], kind: str, tail_share: float) -> str:
    """A name from the common pool, or with probability ``tail_share`` from the tail."""
    if tail_share > 0 and r.random() < tail_share:
        n = TAIL_SURNAMES if kind == "surname" else TAIL_GIVEN
        return _zipf(r, tail_names(kind, n), 2000)
    return _zipf(r, common)


# ---- misspellings ------------------------------------------------------------------------

_KEYBOARD = {
    "Q": "WA", "W": "QES", "E": "WRD", "R": "ETF", "T": "RYG", "Y": "TUH", "U": "YIJ",
    "I": "UOK", "O": "IPL", "P": "OL", "A": "QSZ", "S": "ADWX", "D": "SFEC", "F": "DGRV",
    "G": "FHTB", "H": "GJYN", "J": "HKUM", "K": "JLI", "L": "KO", "Z": "ASX", "X": "ZCS",
    "C": "XVD", "V": "CBF", "B": "VNG", "N": "BMH", "M": "NJ",
}
_PHONETIC = [("PH", "F"), ("F", "PH"), ("CK", "K"), ("K", "C"), ("C", "K"), ("Y", "I"),
             ("I", "Y"), ("EI", "IE"), ("IE", "EI"), ("SCH", "SH"), ("Z", "S"), ("S", "Z"),
             ("V", "B"), ("B", "V"), ("LL", "L"), ("TT", "T"), ("NN", "N"), ("RR", "R"),
             ("EE", "EA"), ("OU", "OW"), ("AI", "AY"), ("J", "H"), ("X", "KS"), ("QU", "KW"),
             ("EY", "Y"), ("ON", "EN"), ("SON", "SEN"), ("MAN", "MANN"), ("GH", "G")]
_OCR = [("RN", "M"), ("M", "RN"), ("CL", "D"), ("D", "CL"), ("I", "L"), ("L", "I"),
        ("U", "V"), ("V", "U"), ("O", "Q"), ("E", "F"), ("C", "G"), ("H", "N"), ("W", "VV"),
        ("N", "H"), ("B", "R"), ("G", "C")]


def misspell(r: random.Random, name: str, how: str) -> str:
    """One misspelling of ``name`` of the kind ``how`` (keyboard, phonetic, ocr); the name
    itself when no such error applies to it."""
    if len(name) < 2:
        return name
    if how == "keyboard":
        i = r.randrange(len(name))
        op = r.randrange(4)
        ch = name[i]
        if op == 0 and ch in _KEYBOARD:  # neighbour key
            return name[:i] + r.choice(_KEYBOARD[ch]) + name[i + 1:]
        if op == 1 and i < len(name) - 1:  # transposed pair
            return name[:i] + name[i + 1] + name[i] + name[i + 2:]
        if op == 2 and len(name) > 3:  # dropped letter
            return name[:i] + name[i + 1:]
        return name[:i] + ch + name[i:]  # doubled letter
    subs = _PHONETIC if how == "phonetic" else _OCR
    options = [(a, b) for a, b in subs if a in name[1:] or (how == "ocr" and a in name)]
    if not options:
        return misspell(r, name, "keyboard")
    a, b = r.choice(options)
    starts = [i for i in range(len(name)) if name.startswith(a, i)
              and (how == "ocr" or i > 0)]
    i = r.choice(starts)
    return name[:i] + b + name[i + len(a):]


# ---- identifiers -------------------------------------------------------------------------

_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
               **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"
_WMI = ("1HG", "1FT", "1G1", "2T1", "3VW", "4T1", "5YJ", "1N4", "2HG", "3FA")


def vin_with_check_digit(body: str) -> str:
    """``body`` (17 characters, position 9 anything) with its North American check digit."""
    total = sum(_VIN_VALUES[c] * w for c, w in zip(body, _VIN_WEIGHTS, strict=True))
    digit = total % 11
    return body[:8] + ("X" if digit == 10 else str(digit)) + body[9:]


def _vin(r: random.Random, year: int) -> str:
    body = (r.choice(_WMI) + "".join(r.choice(_VIN_CHARS) for _ in range(5)) + "0"
            + _YEAR_CODES[(year - 1980) % 30] + r.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
            + "".join(r.choice("0123456789") for _ in range(6)))
    return vin_with_check_digit(body)


def _ssn(r: random.Random) -> str:
    while True:
        area = r.randint(1, 899)
        if area == 666:
            continue
        s = f"{area:03d}{r.randint(1, 99):02d}{r.randint(1, 9999):04d}"
        if s not in ("078051120", "219099999"):
            return s


def _oln(r: random.Random) -> str:
    return f"{r.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{r.randint(0, 9999999):07d}"


def _fbi(r: random.Random) -> str:
    return f"{r.randint(100000, 999999)}{r.choice('ABCDEFGH')}{r.choice('ABCDEFGH')}" \
           f"{r.randint(0, 9)}"


def _cii(r: random.Random) -> str:
    return f"A{r.randint(10000000, 99999999)}"


def _nic(r: random.Random) -> str:
    return f"W{r.randint(10 ** 8, 10 ** 9 - 1)}"


def _fcn(r: random.Random) -> str:
    return f"{r.randint(10 ** 12, 10 ** 13 - 1)}"


class _Unique:
    """The identifiers handed out so far, per kind (SSN, OLN, FBI, CII, NIC, FCN): each
    person's and each case's are their own, as real ones are.  Drawn independently they
    collide by chance -- a CA licence number is one of 2.3 x 10^8, so a million people hold
    ~1,400 pairs of equal ones -- and every such pair is two unrelated people under one
    identifier: what ``id_mismatch`` is meant to catch, yet unlabelled (at 1,000,000 it made
    the check's precision 0.887).  Only the error injector gives one person another's
    identifier, and labels it.

    A value already taken is drawn again from a generator of its own (seeded from the
    population's seed), so the main stream -- and every other field of the population -- is
    what it was without the check."""

    __slots__ = ("r", "seen")

    def __init__(self, seed: int) -> None:
        self.r = random.Random(f"clets-unique-ids-{seed}")
        self.seen: dict[str, set[str]] = {}

    def take(self, kind: str, value: str, draw: Callable[[random.Random], str]) -> str:
        seen = self.seen.setdefault(kind, set())
        while value in seen:
            value = draw(self.r)
        seen.add(value)
        return value


def _plate(r: random.Random) -> str:
    L = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return f"{r.randint(1, 9)}{r.choice(L)}{r.choice(L)}{r.choice(L)}{r.randint(0, 999):03d}"


# ---- people ------------------------------------------------------------------------------

def _person(r: random.Random, today: _dt.date, spec: Spec | None = None,
            ids: _Unique | None = None) -> Person:
    surnames, male, female = _pools()
    spec = spec or Spec()
    ids = ids or _Unique(0)
    sex = r.choice("MF")
    first = _name(r, male if sex == "M" else female, "male" if sex == "M" else "female",
                  spec.given_tail)
    middle = r.choice("ABCDEFGHJKLMNPRSTW") if r.random() < 0.6 else None
    age_days = r.randint(18 * 365, 85 * 365)
    dob = today - _dt.timedelta(days=age_days)
    age = (today - dob).days // 365
    height = int(r.gauss(70 if sex == "M" else 64, 3))
    weight = int(r.gauss(190 if sex == "M" else 160, 30))
    person = Person(name=Name(_name(r, surnames, "surname", spec.surname_tail), first, middle),
                    dob=dob.isoformat(),
                    sex=sex, race=r.choice("WWWWBBHHHAI"), height_in=height,
                    weight_lb=max(weight, 95), eyes=r.choice(["BRO", "BLU", "GRN", "HAZ"]),
                    hair=r.choice(["BLK", "BRO", "BLN", "GRY", "RED"]))
    if r.random() < 0.85:
        person.ssn = ids.take("ssn", _ssn(r), _ssn)
    if r.random() < 0.8:
        expires = today + _dt.timedelta(days=r.randint(30, 5 * 365))
        cls = "C" if age < 21 or r.random() < 0.9 else r.choice("AB")
        person.license = License(number=ids.take("oln", _oln(r), _oln), state="CA",
                                 class_=cls, expires=expires.isoformat())
    if r.random() < 0.3:
        person.fbi = ids.take("fbi", _fbi(r), _fbi)
    if r.random() < 0.4:
        person.cii = ids.take("cii", _cii(r), _cii)
    return person


def _vehicle(r: random.Random) -> Vehicle:
    year = r.randint(1990, 2026)
    return Vehicle(plate=_plate(r), plate_state="CA", vin=_vin(r, year), year=year,
                   make=r.choice(["HOND", "TOYT", "FORD", "CHEV", "NISS"]))


def _case(r: random.Random, ids: _Unique | None = None) -> Case:
    ids = ids or _Unique(0)
    return Case(oca=f"{r.randint(10 ** 7, 10 ** 8 - 1)}", nic=ids.take("nic", _nic(r), _nic),
                fcn=ids.take("fcn", _fcn(r), _fcn))


def _stamp(r: random.Random, rec: Record, today: _dt.date, stale: bool) -> None:
    entered = today - _dt.timedelta(days=r.randint(10, 700))
    if stale:
        last = entered if entered < today - _dt.timedelta(days=400) else \
            today - _dt.timedelta(days=r.randint(400, 900))
        entered = min(entered, last)
    else:
        last = max(entered, today - _dt.timedelta(days=r.randint(0, 300)))
    rec.fields = {"DTE": entered.isoformat(), "VLD": last.isoformat()}


def _copy_person(p: Person) -> Person:
    from clets.model.jsonform import clone
    return clone(p)


def _vary_dob(r: random.Random, dob: str, how: str) -> str:
    d = _dt.date.fromisoformat(dob)
    if how == "dob_transposed" and d.day <= 12 and d.day != d.month:
        return d.replace(month=d.day, day=d.month).isoformat()
    if how == "dob_year":
        try:
            return d.replace(year=d.year + r.choice((-1, 1))).isoformat()
        except ValueError:
            return d.replace(year=d.year + 1, day=28).isoformat()
    # one digit off: in the day, month or year's last digit
    for _ in range(10):
        part = r.randrange(3)
        try:
            if part == 0:
                nd = d.replace(day=(d.day // 10) * 10 + r.choice([x for x in range(10)
                                                                  if x != d.day % 10]))
            elif part == 1:
                nd = d.replace(month=r.choice([m for m in range(1, 13) if m != d.month
                                               and (m % 10 == d.month % 10 or m // 10
                                                    == d.month // 10)]))
            else:
                nd = d.replace(year=(d.year // 10) * 10 + r.choice(
                    [x for x in range(10) if x != d.year % 10]))
        except ValueError:
            continue
        if nd != d:
            return nd.isoformat()
    return d.replace(year=d.year - 1 if d.month != 2 or d.day != 29 else d.year - 4).isoformat()


def _make_duplicate(r: random.Random, orig: Person) -> tuple[Person, tuple[str, ...]]:
    p = _copy_person(orig)
    assert p.name is not None
    nvar = 1 if r.random() < 0.7 else 2
    kinds = r.sample(DUP_VARIATIONS[1:], nvar) if r.random() > 0.05 else ["exact"]
    done: list[str] = []
    for how in kinds:
        name = p.name
        if how in ("keyboard", "phonetic", "ocr"):
            if r.random() < 0.6:
                name.last = misspell(r, name.last or "", how)
            else:
                name.first = misspell(r, name.first or "", how)
        elif how == "nickname":
            nicks = _nicknames().get(name.first or "")
            if not nicks:
                continue
            name.first = r.choice(nicks)
        elif how == "swap_names":
            name.first, name.last = name.last, name.first
        elif how.startswith("dob_") and p.dob:
            new = _vary_dob(r, p.dob, how)
            if new == p.dob:
                continue
            p.dob = new
        elif how == "middle_dropped":
            if name.middle is None:
                continue
            name.middle = None
        done.append(how)
    # a second entry often lacks what the first had
    if r.random() < 0.3:
        p.ssn = None
    if r.random() < 0.3:
        p.license = None
    if r.random() < 0.2:
        p.height_in = (p.height_in or 70) + r.choice((-1, 1))
    return p, tuple(done) or ("exact",)


def _break_rule(r: random.Random, rec: Record, label: str, today: _dt.date) -> bool:
    """Put the error ``label`` into a record; False when the record has no room for it."""
    p, v = rec.person, rec.vehicle
    assert p is not None
    if label == "ssn_invalid":
        p.ssn = r.choice([f"000{r.randint(1, 999999):06d}", f"666{r.randint(1, 999999):06d}",
                          f"9{r.randint(0, 99999999):08d}", f"{r.randint(1, 665):03d}00"
                          f"{r.randint(1, 9999):04d}", f"{r.randint(1, 665):03d}"
                          f"{r.randint(1, 99):02d}0000", "078051120"])
    elif label == "vin_invalid":
        if v is None or not v.vin:
            return False
        vin = v.vin
        i = r.choice([0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16])
        how = r.randrange(3)
        if how == 2 and (i == 0 or vin[0] not in "12345"):
            how = 0  # only a North American VIN has a check digit to break
        if how == 0:
            vin = vin[:i] + r.choice("IOQ") + vin[i + 1:]
        elif how == 1:
            vin = vin[:i] + vin[i + 1:]
        else:  # one character changed: the check digit no longer holds (or IOQ)
            new = r.choice([c for c in _VIN_CHARS if c != vin[i]
                            and _VIN_VALUES[c] != _VIN_VALUES[vin[i]]])
            vin = vin[:i] + new + vin[i + 1:]
        v.vin = vin
    elif label == "dob_future":
        p.dob = (today + _dt.timedelta(days=r.randint(1, 3000))).isoformat()
        p.license = None
    elif label == "dob_too_old":
        p.dob = (today - _dt.timedelta(days=r.randint(121 * 366, 200 * 365))).isoformat()
        p.license = None
    elif label == "body_range":
        if r.random() < 0.5:
            p.height_in = r.choice([r.randint(1, 20), r.randint(100, 999)])
        else:
            p.weight_lb = r.choice([r.randint(0, 15), r.randint(900, 999)])
    elif label == "licence_dates":
        if p.license is None or not p.dob:
            return False
        dob = _dt.date.fromisoformat(p.dob)
        p.license.expires = (dob + _dt.timedelta(days=r.randint(0, 14 * 365))).isoformat()
    elif label == "licence_class_age":
        if p.license is None:
            return False
        p.dob = (today - _dt.timedelta(days=r.randint(15 * 366 + 30, 17 * 365))).isoformat()
        p.license.class_ = r.choice("AB")
    elif label == "plate_placeholder":
        if v is None:
            return False
        v.plate = r.choice(["NONE", "UNK", "UNKNOWN", "NOPLATE", "XXXXXXX"])
    elif label == "oln_format":
        if p.license is None:
            return False
        old = p.license.number or "X0000000"
        p.license.number = r.choice([f"{r.randint(0, 99999999):08d}",
                                     f"{r.randint(0, 9999999)}", "CA" + old[1:]])
    return True


def generate(spec: Spec) -> Population:
    """The population of ``spec``: same spec, same records, byte for byte."""
    r = random.Random(spec.seed)
    today = spec.today
    records: list[LabelledRecord] = []
    sealed: set[str] = set()
    originals: list[int] = []  # indexes of records that started an entity
    plates_by_vin: list[int] = []
    n_entities = 0
    rule_labels = list(RULE_ERRORS)
    ids = _Unique(spec.seed)
    for i in range(spec.size):
        rid = f"R{i:07d}"
        bands = _Bands(r.random())
        band = bands.take

        if originals and band(spec.duplicate_rate):
            orig = records[r.choice(originals)]
            assert orig.record.person is not None
            person, variations = _make_duplicate(r, orig.record.person)
            rec = Record(file=orig.record.file, person=person,
                         vehicle=_copy_vehicle(orig.record.vehicle)
                         if r.random() < 0.5 else None, case=_case(r, ids))
            _stamp(r, rec, today, False)
            records.append(LabelledRecord(rid, orig.entity, orig.mke, rec, ("duplicate",),
                                          variations, dup_of=orig.rid))
            continue
        person = _person(r, today, spec, ids)
        twin = False
        if originals and r.random() < spec.twin_rate / (1 - spec.duplicate_rate):
            sib = records[r.choice(originals)].record.person
            assert sib is not None and sib.name is not None and person.name is not None
            person.name.last, person.dob = sib.name.last, sib.dob
            twin = True
        vehicle = _vehicle(r) if r.random() < 0.5 else None
        mke = "EV" if vehicle is not None and r.random() < 0.3 else "EW"
        rec = Record(file="vehicle" if mke == "EV" else "wanted", person=person,
                     vehicle=vehicle, case=_case(r, ids))
        errors: list[str] = []
        if band(spec.rule_error_rate):
            label = r.choice(rule_labels)
            if _break_rule(r, rec, label, today):
                errors.append(label)
        elif band(spec.ssn_other_rate):
            donor = _other_with(records, originals, r, "ssn")
            if donor is not None:
                person.ssn = donor
                errors.append("ssn_other_person")
        elif band(spec.vin_other_rate):
            if plates_by_vin and vehicle is not None:
                src = records[r.choice(plates_by_vin)].record.vehicle
                assert src is not None
                vehicle.vin, vehicle.year = src.vin, src.year
                errors.append("vin_other_plate")
        elif band(spec.sealed_rate):
            assert rec.case is not None
            number = r.choice([person.cii, rec.case.fcn, rec.case.nic])
            if number:
                sealed.add(number)
                errors.append("sealed")
        stale = not errors and r.random() < spec.stale_rate
        _stamp(r, rec, today, stale)
        if stale:
            errors.append("stale")
        records.append(LabelledRecord(rid, n_entities, mke, rec, tuple(errors),
                                      ("twin",) if twin else ()))
        n_entities += 1
        if not errors:
            originals.append(len(records) - 1)
            if vehicle is not None:
                plates_by_vin.append(len(records) - 1)
    return Population(spec, records, sealed)


class _Bands:
    """Consecutive slices of [0, 1) for one draw: each kind of record gets its rate's share."""

    def __init__(self, x: float) -> None:
        self.x, self.cut = x, 0.0

    def take(self, rate: float) -> bool:
        self.cut += rate
        return self.x < self.cut


def _copy_vehicle(v: Vehicle | None) -> Vehicle | None:
    from clets.model.jsonform import clone
    return clone(v)


def _other_with(records: list[LabelledRecord], originals: list[int], r: random.Random,
                attr: str) -> str | None:
    for _ in range(20):
        p = records[r.choice(originals)].record.person if originals else None
        if p is not None and getattr(p, attr):
            value: str = getattr(p, attr)
            return value
    return None
