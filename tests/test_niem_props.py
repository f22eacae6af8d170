"""Property tests of the niem codec: random valid messages round-trip, canonical XML is a fixed
point, xmllint accepts what we write, and random or mutated bytes raise only DecodeError."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clets.codecs import get_codec
from clets.errors import DecodeError
from clets.model import (
    Address,
    Case,
    ErrorInfo,
    License,
    Message,
    Name,
    Person,
    Record,
    Registration,
    Vehicle,
    code_table,
    default_dictionary,
    to_dict,
)
from tests.conftest import FIXTURES, ROOT, require_peer

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = UPPER + DIGITS
XSD = ROOT / "src" / "clets" / "codecs" / "xsd" / "nlets-niem-4.00-profile.xsd"
NIEM = get_codec("niem")
LOOSE = get_codec("niem", edits=False, validate=False)


def opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


def codes(table: str, warn: bool = False) -> st.SearchStrategy[str]:
    t = code_table(table)
    return st.sampled_from(sorted(t.codes | (t.warn if warn else frozenset())))


def chars(alphabet: str, lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=lo, max_size=hi)


# Anything XML 1.0 can carry: CR (kept as &#13;), "]]>", "<", "&", non-ASCII.
xml_char = st.sampled_from("\t\n\r<>&]") | st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
free_text = st.text(xml_char, max_size=80)


def short_text(n: int) -> st.SearchStrategy[str]:
    return st.text(xml_char, max_size=n)


oris = st.builds(lambda s, r: s + r, codes("states"), chars(ALNUM, 7, 7))
past_dates = st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)).map(dt.date.isoformat)
any_dates = st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)).map(dt.date.isoformat)
datetimes = st.builds(
    lambda d, h, m, s: f"{d}T{h:02d}:{m:02d}" + ("" if s is None else f":{s:02d}"),
    any_dates, st.integers(0, 23), st.integers(0, 59), opt(st.integers(0, 59)))
# tags the field dictionary does not know: a known tag's value in ``fields`` is checked by
# its row's edits, which random text does not pass
_KNOWN = frozenset(default_dictionary().by_tag) | frozenset(
    t for rows in default_dictionary().keyed.values() for t in rows)
tags = chars(UPPER, 3, 3).filter(lambda t: t not in _KNOWN)
field_maps = st.dictionaries(tags, free_text, max_size=4)


@st.composite
def names(draw: st.DrawFn) -> Name:
    last = draw(chars(UPPER, 2, 8))
    first = draw(opt(chars(UPPER, 2, 6)))
    middle = draw(opt(chars(UPPER, 1, 1))) if first else None
    suffix = draw(opt(st.sampled_from(["JR", "SR", "III"]))) if first else None
    return Name(last, first, middle, suffix)


persons = st.builds(
    Person, name=opt(names()), dob=opt(past_dates), sex=opt(codes("sex", warn=True)),
    race=opt(codes("race")), height_in=opt(st.integers(48, 95)),
    weight_lb=opt(st.integers(80, 400)), eyes=opt(codes("eyes")), hair=opt(codes("hair")),
    skin=opt(codes("skin")), ssn=opt(chars(DIGITS, 9, 9)), fbi=opt(chars(ALNUM, 1, 9)),
    cii=opt(chars(ALNUM, 1, 10)), mnu=opt(st.builds(lambda p, n: f"{p}-{n}",
                                                      chars(UPPER, 2, 2), chars(ALNUM, 1, 12))),
    license=opt(st.builds(License, number=opt(chars(ALNUM, 1, 20)),
                          state=opt(codes("states")), expires_year=opt(st.integers(1900, 2099)),
                          class_=opt(chars(ALNUM, 1, 2)), status=opt(codes("license_status")),
                          expires=opt(any_dates))),
    address=opt(st.builds(Address, street=opt(short_text(30)), city=opt(short_text(20)),
                          state=opt(codes("states")),
                          zip=opt(chars(DIGITS, 5, 5) | chars(DIGITS, 9, 9)))))
colors = codes("colors") | st.builds(lambda a, b: f"{a}/{b}", codes("colors"), codes("colors"))
vehicles = st.builds(
    Vehicle, plate=opt(chars(ALNUM, 1, 10)), plate_state=opt(codes("states")),
    plate_year=opt(st.sampled_from(["2026", "26", "NX", "1999"])),
    plate_type=opt(codes("plate_types")), vin=opt(chars(ALNUM, 1, 20)),
    year=opt(st.integers(1900, 2099)), make=opt(chars(ALNUM, 1, 4)),
    model=opt(chars(ALNUM, 1, 3)), style=opt(codes("vehicle_styles")), color=opt(colors))
cases = st.builds(
    Case, oca=opt(st.builds(lambda a, b: a + b, chars(ALNUM, 1, 1), chars(ALNUM + "-", 0, 19))),
    nic=opt(st.builds(lambda a, b: a + b, chars(UPPER, 1, 1), chars(DIGITS, 9, 9))),
    fcn=opt(chars(ALNUM, 1, 20)))
money = st.builds(lambda neg, i, c: f"{'-' if neg else ''}{i}.{c:02d}", st.booleans(),
                  st.integers(0, 99999), st.integers(0, 99))
records = st.builds(
    Record, file=opt(codes("record_files")), person=opt(persons), vehicle=opt(vehicles),
    case=opt(cases), owner=opt(persons),
    registration=opt(st.builds(Registration, expires=opt(any_dates),
                               status=opt(codes("registration_status")), fees_due=opt(money),
                               stolen=opt(st.booleans()))),
    caution=st.booleans(), cmc=opt(chars(ALNUM, 2, 2)), ori=opt(oris),
    offense=opt(short_text(30)), remarks=opt(short_text(200)), fields=field_maps)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """A message of any kind that passes the field edits (warnings allowed)."""
    kind = draw(st.sampled_from(["inquiry", "response", "mail"]))
    mke = {"inquiry": st.sampled_from(["QW", "QV", "DQ", "RQ", "IQ", "FQ", "KQ", "YQ", "EW"]),
           "response": st.sampled_from(["QWR", "RR", "DR", "ER", "KR", "YR"]),
           "mail": st.sampled_from(["AM", "AML", "SM", "AA"])}[kind]
    fields = draw(field_maps)
    if draw(st.booleans()):
        fields = {"ODT": draw(datetimes | short_text(12)),
                  "OSN": draw(chars(DIGITS, 5, 5) | short_text(6)), **fields}
    return Message(
        format="niem", mke=draw(mke), origin=draw(opt(oris)),
        destinations=draw(st.lists(oris | codes("states"), max_size=3)),
        control=draw(opt(st.text(xml_char, min_size=1, max_size=10))),
        sequence=draw(opt(st.integers(0, 99999))), sent_at=draw(opt(datetimes)),
        operator=draw(opt(chars(ALNUM + "-_", 1, 20))), terminal=draw(opt(chars(ALNUM, 1, 10))),
        person=draw(opt(persons)), vehicle=draw(opt(vehicles)), case=draw(opt(cases)),
        reason=draw(opt(codes("reason_codes"))), purpose=draw(opt(codes("purpose_codes"))),
        attention=draw(opt(short_text(30))), remarks=draw(opt(short_text(200))),
        status=draw(opt(codes("statuses"))) if kind == "response" else None,
        records=draw(st.lists(records, max_size=3)) if kind == "response" else [],
        error=draw(opt(st.builds(ErrorInfo, code=opt(st.integers(0, 999)),
                                 reason=opt(free_text), echo=opt(free_text))))
        if kind == "response" else None,
        text=draw(opt(free_text)), fields=fields)


def _canon(msg: Message) -> dict[str, Any]:
    d = to_dict(msg)
    del d["format"], d["warnings"]
    return d


@given(messages())
def test_random_messages_round_trip(msg: Message) -> None:
    xml = NIEM.encode(msg)
    back = NIEM.decode(xml)
    assert _canon(back) == _canon(msg)
    assert back.format == "niem"


@given(messages())
def test_canonical_xml_is_a_fixed_point(msg: Message) -> None:
    xml = NIEM.encode(msg)
    assert NIEM.encode(NIEM.decode(xml)) == xml
    assert LOOSE.encode(LOOSE.decode(xml)) == xml


@settings(max_examples=6, suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(messages(), min_size=8, max_size=8))
def test_xmllint_accepts_generated_documents(tmp_path: Path, batch: list[Message]) -> None:
    xmllint = require_peer("xmllint")
    paths = []
    for i, msg in enumerate(batch):
        path = tmp_path / f"{i}.xml"
        path.write_bytes(NIEM.encode(msg))
        paths.append(str(path))
    run = subprocess.run([xmllint, "--noout", "--schema", str(XSD), *paths],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr


# ----------------------------------------------------------------------------- hostile bytes

@given(st.binary(max_size=400))
def test_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    for codec in (NIEM, LOOSE):
        try:
            codec.decode(data)
        except DecodeError:
            pass


SEEDS = [p.read_bytes() for p in sorted((FIXTURES / "messages" / "niem").glob("*.xml"))]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "delete", "insert", "duplicate", "token"]))
        if op == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 200))]
        else:
            data[at:at] = draw(st.sampled_from(
                [b"<", b">", b"&", b"</n2:Record>", b"<n2:Record>", b"<![CDATA[", b"]]>",
                 b"&amp;", b"&#0;", b"<!--", b"-->", b"<?x?>", b'n2:tag="A"', b"<nc:Person>",
                 b"<nc:Date>2020-02-30</nc:Date>", b"\x00", b"\xff", b"<!DOCTYPE x>"]))
    return bytes(data)


@given(mutated())
def test_mutated_documents_raise_only_decode_errors(data: bytes) -> None:
    for codec in (NIEM, LOOSE):
        try:
            msg = codec.decode(data)
        except DecodeError:
            continue
        # whatever was accepted can be written back (or is refused with a typed error)
        try:
            codec.encode(msg)
        except DecodeError:
            pass


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_every_seed_decodes(seed: int) -> None:
    """The mutation seeds themselves are valid, so mutations start from real documents."""
    assert NIEM.decode(SEEDS[seed]).mke
