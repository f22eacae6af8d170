"""The four built-in DMV codecs: fixtures, mapping rules of formats.md §4, and properties."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.codecs.base import get_codec
from clets.errors import DecodeError, EncodeError, ValidationError
from clets.model import (
    Address,
    License,
    Message,
    Name,
    Person,
    Record,
    Registration,
    Vehicle,
    code_table,
    to_dict,
)
from clets.model.edits import _VIN_MAP, _VIN_WEIGHTS
from tests.conftest import FIXTURES

NAMES = ["dmv-reg-request", "dmv-reg-response", "dmv-dl-request", "dmv-dl-response"]
ENGINES = ["fast", "construct", "compiled"]


def fixture_pairs() -> list[tuple[str, Path, Path]]:
    out = []
    for name in NAMES:
        for b in sorted((FIXTURES / "messages" / name).glob("*.bin")):
            out.append((name, b, b.with_name(b.name.split(".")[0] + ".json")))
    return out


def test_enough_fixtures() -> None:
    pairs = fixture_pairs()
    assert len(pairs) >= 12
    assert {n for n, _, _ in pairs} == set(NAMES)
    assert any(".rdw." in b.name for _, b, _ in pairs)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("name", "binary", "expected"), fixture_pairs(),
                         ids=lambda v: v.name if isinstance(v, Path) else str(v))
def test_fixture_decodes_and_reencodes_byte_identical(name: str, binary: Path, expected: Path,
                                                       engine: str) -> None:
    codec = _codec(name, engine)
    data = binary.read_bytes()
    want = json.loads(expected.read_text())
    if isinstance(want, list):
        msgs = list(codec.decode_stream(data))
        assert [to_dict(m) for m in msgs] == want
        assert codec.encode_stream(msgs, rdw=True) == data  # type: ignore[attr-defined]
    else:
        msg = codec.decode(data)
        assert to_dict(msg) == want
        assert codec.encode(msg) == data


def _fixture(name: str, sample: str) -> bytes:
    return (FIXTURES / "messages" / name / f"{sample}.cp037.bin").read_bytes()


def test_mapping_rules_of_the_spec() -> None:
    regr = get_codec("dmv-reg-response")
    hit = regr.decode(_fixture("dmv-reg-response", "hit-negative-fees"))
    assert hit.origin is None and hit.destinations == ["CA0190000"]
    assert hit.records[0].registration is not None
    assert hit.records[0].registration.fees_due == "-18.07"
    nohit = regr.decode(_fixture("dmv-reg-response", "no-hit"))
    assert nohit.records == [] and nohit.status == "no_hit"
    assert nohit.vehicle == Vehicle(plate="7ABC124", plate_state="CA")
    assert nohit.fields == {}  # zero fees, blank owner: nothing to keep
    dlr = get_codec("dmv-dl-response")
    d = dlr.decode(_fixture("dmv-dl-response", "hit-valid"))
    assert d.records[0].person is not None and d.records[0].person.height_in == 70
    assert d.records[0].fields == {"PTS": "0", "FTA": "0"}
    q = get_codec("dmv-dl-request").decode(_fixture("dmv-dl-request", "by-oln"))
    assert q.origin == "CA0349999" and q.destinations == []
    assert "DQ-SEARCH-TYPE" not in q.fields


def test_search_type_is_derived_on_encode() -> None:
    c = get_codec("dmv-reg-request")
    by_vin = Message(mke="RGQ1", origin="CA0349999", vehicle=Vehicle(vin="1HGCM82633A004352"))
    assert c.encode(by_vin)[23:24] == "V".encode("cp037")
    by_plate = Message(mke="RGQ1", origin="CA0349999", vehicle=Vehicle(plate="ABC"))
    assert c.encode(by_plate)[23:24] == "P".encode("cp037")
    dl = get_codec("dmv-dl-request")
    assert dl.encode(Message(mke="DLQ1", person=Person(license=License(number="X1"))))[23:24] \
        == b"\xd6"  # O
    bad = bytearray(_fixture("dmv-reg-request", "by-plate"))
    bad[23] = 0xE7  # X
    with pytest.raises(ValidationError) as info:
        c.decode(bytes(bad))
    assert info.value.field == "RQ-SEARCH-TYPE" and info.value.offset == 23


def test_unknown_status_and_bad_date_are_typed_errors() -> None:
    c = get_codec("dmv-reg-response")
    data = bytearray(_fixture("dmv-reg-response", "hit-active"))
    data[23] = 0xE7  # X
    with pytest.raises(ValidationError) as info:
        c.decode(bytes(data))
    assert info.value.field == "RR-STATUS" and "unknown code" in str(info.value)
    data = bytearray(_fixture("dmv-reg-response", "hit-active"))
    data[158:166] = "20261399".encode("cp037")
    with pytest.raises(ValidationError) as info:
        c.decode(bytes(data))
    assert info.value.field == "RR-EXPIRES" and info.value.offset == 158


def test_edits_apply_on_decode() -> None:
    data = bytearray(_fixture("dmv-dl-response", "hit-valid"))
    data[70:71] = "Q".encode("cp037")  # sex Q: not in the code table
    with pytest.raises(ValidationError):
        get_codec("dmv-dl-response").decode(bytes(data))
    msg = get_codec("dmv-dl-response", edits=False).decode(bytes(data))
    assert msg.records[0].person is not None and msg.records[0].person.sex == "Q"


def test_encode_refuses_what_the_record_cannot_hold() -> None:
    c = get_codec("dmv-reg-response")
    msg = c.decode(_fixture("dmv-reg-response", "hit-active"))
    msg.status = "no_hit"  # a record but not a hit
    with pytest.raises(EncodeError, match="RR-STATUS"):
        c.encode(msg)
    msg.status = "pending"
    with pytest.raises(EncodeError) as info:
        c.encode(msg)
    assert info.value.field == "RR-STATUS"
    msg = c.decode(_fixture("dmv-reg-response", "hit-active"))
    msg.records.append(Record(file="registration"))
    with pytest.raises(EncodeError, match="at most one record"):
        c.encode(msg)
    msg = c.decode(_fixture("dmv-reg-response", "hit-active"))
    msg.destinations = ["CA0349999", "NV0000000"]
    with pytest.raises(EncodeError, match="one destination"):
        c.encode(msg)
    msg = c.decode(_fixture("dmv-reg-response", "hit-active"))
    assert msg.records[0].registration is not None
    msg.records[0].registration.fees_due = "12.345"
    with pytest.raises(EncodeError) as info:
        c.encode(msg)
    assert info.value.field == "RR-FEES-DUE"
    msg.records[0].registration.fees_due = "100000.00"
    with pytest.raises(EncodeError, match="RR-FEES-DUE"):
        c.encode(msg)


# --------------------------------------------------------------------------- strategies

_AZ = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SUFFIX = {"JR", "SR", "II", "III", "IV", "V", "VI"}


def _word(n: int) -> st.SearchStrategy[str]:
    return st.text(_AZ, min_size=1, max_size=n)


def _table(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(code_table(name).codes))


def _opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), s)


@st.composite
def names(draw: st.DrawFn) -> Name:
    last = draw(_word(10))
    first = draw(_opt(_word(8).filter(lambda w: w not in _SUFFIX)))
    middle = draw(_opt(_word(6).filter(lambda w: w not in _SUFFIX))) if first else None
    return Name(last=last, first=first, middle=middle)


def _vin_with_check_digit(body: str) -> str:
    total = sum(_VIN_MAP[c] * w for c, w in zip(body, _VIN_WEIGHTS, strict=True))
    digit = "X" if total % 11 == 10 else str(total % 11)
    return body[:8] + digit + body[9:]


vins = st.text("ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=17, max_size=17).map(
    _vin_with_check_digit)
oris = st.from_regex(r"[A-Z]{2}[A-Z0-9]{7}", fullmatch=True)
controls = _opt(st.from_regex(r"[A-Z0-9][A-Z0-9\-]{0,9}", fullmatch=True))
plates = st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True)
streets = st.from_regex(r"[A-Z0-9]([A-Z0-9 ]{0,28}[A-Z0-9])?", fullmatch=True)
cities = st.from_regex(r"[A-Z]([A-Z ]{0,18}[A-Z])?", fullmatch=True)
zips = st.from_regex(r"[0-9]{5}", fullmatch=True).filter(lambda z: z != "00000")
texts = _opt(st.from_regex(r"[A-Z0-9 \-]{0,39}[A-Z0-9]", fullmatch=True))
dates = st.dates(_dt.date(1990, 1, 1), _dt.date(2040, 12, 31)).map(_dt.date.isoformat)
dobs = st.dates(_dt.date(1920, 1, 1), _dt.date(2008, 12, 31)).map(_dt.date.isoformat)


@st.composite
def vehicles(draw: st.DrawFn, full: bool) -> Vehicle:
    v = Vehicle(plate=draw(_opt(plates)), plate_state=draw(_opt(_table("states"))),
                vin=draw(_opt(vins)))
    if full:
        v.year = draw(_opt(st.integers(1900, 2099)))
        v.make = draw(_opt(_word(4)))
        v.model = draw(_opt(st.from_regex(r"[A-Z0-9]{1,3}", fullmatch=True)))
        v.style = draw(_opt(_table("vehicle_styles")))
        v.color = draw(_opt(_table("colors")))
    return v


def _fees(units: int) -> str:
    return f"{'-' if units < 0 else ''}{abs(units) // 100}.{abs(units) % 100:02d}"


@st.composite
def reg_responses(draw: st.DrawFn) -> Message:
    status = draw(st.sampled_from(["hit", "no_hit", "error"]))
    msg = Message(format="dmv-reg-response", mke="RGR1", destinations=[draw(oris)],
                  control=draw(controls), status=status, text=draw(texts))
    if status == "hit":
        owner = Person(name=draw(_opt(names())),
                       address=Address(street=draw(_opt(streets)), city=draw(_opt(cities)),
                                       state=draw(_opt(_table("states"))),
                                       zip=draw(_opt(zips))))
        msg.records = [Record(
            file="registration", vehicle=draw(vehicles(True)), owner=owner,
            registration=Registration(
                expires=draw(_opt(dates)), status=draw(_opt(_table("registration_status"))),
                fees_due=_fees(draw(st.integers(-9999999, 9999999))),
                stolen=draw(_opt(st.booleans()))))]
    else:
        msg.vehicle = draw(vehicles(True))
    return msg


@st.composite
def dl_people(draw: st.DrawFn) -> Person:
    return Person(
        name=draw(_opt(names())), dob=draw(_opt(dobs)), sex=draw(_opt(_table("sex"))),
        height_in=draw(_opt(st.integers(4 * 12, 8 * 12 + 11))),
        weight_lb=draw(_opt(st.integers(1, 999))), eyes=draw(_opt(_table("eyes"))),
        hair=draw(_opt(_table("hair"))),
        license=License(number=draw(_opt(plates)),
                        class_=draw(_opt(st.from_regex(r"[A-Z][0-9A-Z]?", fullmatch=True))),
                        status=draw(_opt(_table("license_status"))),
                        expires=draw(_opt(dates))),
        address=Address(street=draw(_opt(streets)), city=draw(_opt(cities)),
                        zip=draw(_opt(zips))))


@st.composite
def dl_responses(draw: st.DrawFn) -> Message:
    status = draw(st.sampled_from(["hit", "no_hit", "error"]))
    msg = Message(format="dmv-dl-response", mke="DLR1", destinations=[draw(oris)],
                  control=draw(controls), status=status)
    if status == "hit":
        msg.records = [Record(file="driver", person=draw(dl_people()), fields={
            "PTS": str(draw(st.integers(-999, 999))), "FTA": str(draw(st.integers(-999, 999)))})]
    else:
        msg.person = draw(dl_people())
    return msg


@st.composite
def reg_requests(draw: st.DrawFn) -> Message:
    return Message(format="dmv-reg-request", mke="RGQ1", origin=draw(oris),
                   control=draw(controls), vehicle=draw(vehicles(False)))


@st.composite
def dl_requests(draw: st.DrawFn) -> Message:
    person = Person(license=License(number=draw(_opt(plates))), name=draw(_opt(names())),
                    dob=draw(_opt(dobs)))
    return Message(format="dmv-dl-request", mke="DLQ1", origin=draw(oris),
                   control=draw(controls), person=person)


STRATEGIES = {"dmv-reg-request": reg_requests(), "dmv-reg-response": reg_responses(),
              "dmv-dl-request": dl_requests(), "dmv-dl-response": dl_responses()}
LENGTHS = {"dmv-reg-request": 80, "dmv-reg-response": 256, "dmv-dl-request": 80,
           "dmv-dl-response": 200}


@pytest.mark.parametrize("name", NAMES)
def test_model_record_model(name: str) -> None:
    fast = get_codec(name)
    slow = get_codec(name, engine="compiled")

    @given(STRATEGIES[name])
    def check(msg: Message) -> None:
        data = fast.encode(msg)
        assert len(data) == LENGTHS[name]
        assert slow.encode(msg) == data
        back = fast.decode(data)
        assert to_dict(back) == to_dict(msg)
        assert to_dict(slow.decode(data)) == to_dict(back)
        assert fast.encode(back) == data  # record -> model -> record is byte-identical

    check()


_CODECS: dict[tuple[str, str], Any] = {}


def _codec(name: str, engine: str) -> Any:
    if (name, engine) not in _CODECS:
        _CODECS[name, engine] = get_codec(name, engine=engine)
    return _CODECS[name, engine]


def _engines_agree(name: str, data: bytes) -> None:
    results = []
    for engine in ("fast", "construct"):
        codec = _codec(name, engine)
        try:
            results.append(("ok", to_dict(codec.decode(data))))
        except DecodeError as exc:  # every failure is a typed clets error
            results.append(("err", type(exc).__name__, exc.field, exc.offset))
    assert results[0] == results[1]


@pytest.mark.parametrize("name", NAMES)
def test_random_records_raise_only_typed_errors(name: str) -> None:
    @given(st.binary(min_size=LENGTHS[name], max_size=LENGTHS[name]))
    def check(data: bytes) -> None:
        _engines_agree(name, data)

    check()


@pytest.mark.parametrize("name", NAMES)
def test_mutated_fixtures_raise_only_typed_errors(name: str) -> None:
    base = [b.read_bytes() for b in sorted((FIXTURES / "messages" / name).glob("*.bin"))
            if ".rdw." not in b.name]

    @given(st.sampled_from(base),
           st.lists(st.tuples(st.integers(0, LENGTHS[name] - 1), st.integers(0, 255)),
                    min_size=1, max_size=4))
    def check(record: bytes, edits: list[tuple[int, int]]) -> None:
        data = bytearray(record)
        for pos, byte in edits:
            data[pos] = byte
        _engines_agree(name, bytes(data))

    check()


@pytest.mark.parametrize("name", NAMES)
def test_random_streams_raise_only_typed_errors(name: str) -> None:
    codec = get_codec(name)

    @given(st.binary(max_size=3 * LENGTHS[name] + 12))
    def check(data: bytes) -> None:
        try:
            list(codec.decode_stream(data))
        except DecodeError:
            pass

    check()
