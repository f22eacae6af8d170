"""The canonical model's JSON form, field dictionary and field edits."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.codecs import get_codec
from clets.errors import DecodeError, ValidationError
from clets.model import (
    Message,
    Name,
    Person,
    Record,
    Registration,
    Vehicle,
    apply_edits,
    check,
    default_dictionary,
    dumps,
    format_name,
    from_dict,
    loads,
    parse_name,
    to_dict,
    vin_check_digit_ok,
)
from tests.strategies import inquiries

SPEC_QW = json.loads("""
{"format": "ncic", "mke": "QW", "origin": "CA0349999", "destinations": [], "control": null,
 "sequence": null, "sent_at": null, "operator": null, "terminal": null,
 "person": {"name": {"last": "SMITH", "first": "JOHN", "middle": "J", "suffix": null},
            "dob": "1975-10-12", "sex": "M", "race": "W", "height_in": null, "weight_lb": null,
            "eyes": null, "hair": null, "skin": null, "ssn": null, "fbi": null, "cii": null,
            "mnu": null, "license": null, "address": null},
 "vehicle": null, "case": null, "reason": null, "purpose": null, "attention": null,
 "remarks": null, "status": null, "records": [], "error": null, "text": null,
 "fields": {}, "warnings": []}
""")


def test_spec_example_json_form_is_exact() -> None:
    msg = Message(format="ncic", mke="QW", origin="CA0349999",
                  person=Person(name=Name("SMITH", "JOHN", "J"), dob="1975-10-12", sex="M",
                                race="W"))
    assert to_dict(msg) == SPEC_QW
    assert list(to_dict(msg)) == list(SPEC_QW)  # key order too
    assert from_dict(SPEC_QW) == msg


def test_all_absent_object_is_null() -> None:
    msg = Message(format="json", mke="QV", vehicle=Vehicle(), person=Person(name=Name()))
    d = to_dict(msg)
    assert d["vehicle"] is None and d["person"] is None


def test_license_class_key() -> None:
    d = dict(SPEC_QW)
    d["person"] = dict(d["person"], license={"number": "A1234567", "state": "CA",
                                             "expires_year": 2027, "class": "C",
                                             "status": "VA", "expires": "2027-10-12"})
    msg = from_dict(d)
    assert msg.person is not None and msg.person.license is not None
    assert msg.person.license.class_ == "C"
    assert to_dict(msg)["person"]["license"]["class"] == "C"


@pytest.mark.parametrize(("doc", "where"), [
    ({"format": "json", "mke": "QV", "plate": "X"}, "plate"),
    ({"format": "json", "mke": "QV", "vehicle": {"plates": "X"}}, "vehicle.plates"),
    ({"format": "json", "mke": "QV", "sequence": "12"}, "sequence"),
    ({"format": "json", "mke": "QV", "sequence": True}, "sequence"),
    ({"format": "json", "mke": "QV", "records": [{"caution": "yes"}]}, "records[0].caution"),
    ({"format": "json", "mke": "QV", "fields": {"SMT": 3}}, "fields.SMT"),
    ({"format": "json"}, "mke"),
])
def test_strict_load_names_the_path(doc: dict, where: str) -> None:
    with pytest.raises(DecodeError) as info:
        from_dict(doc)
    assert info.value.field == where


@pytest.mark.parametrize("text", [b"", b"{", b"\xff\xfe", b"[1,2]", b"null", b"[" * 100000])
def test_bad_json_is_typed(text: bytes) -> None:
    with pytest.raises(DecodeError):
        loads(text)


@given(inquiries("json"))
def test_json_codec_round_trips(msg: Message) -> None:
    codec = get_codec("json")
    wire = codec.encode(msg)
    back = codec.decode(wire)
    assert back == msg
    assert codec.encode(back) == wire


@given(st.binary(max_size=200))
def test_json_codec_random_bytes_only_typed_errors(data: bytes) -> None:
    try:
        get_codec("json").decode(data)
    except DecodeError:
        pass


@pytest.mark.parametrize(("wire", "name"), [
    ("SMITH, JOHN J", Name("SMITH", "JOHN", "J")),
    ("SMITH,JOHN", Name("SMITH", "JOHN")),
    ("SMITH, JOHN JAMES JR", Name("SMITH", "JOHN", "JAMES", "JR")),
    ("SMITH", Name("SMITH")),
    ("DE LA CRUZ, MARIA", Name("DE LA CRUZ", "MARIA")),
])
def test_names(wire: str, name: Name) -> None:
    assert parse_name(wire) == name
    assert parse_name(format_name(name)) == name


def test_dictionary_types() -> None:
    d = default_dictionary()
    assert d.by_tag["HGT"].parse("510") == 70
    assert d.by_tag["HGT"].format(70) == "510"
    assert d.by_tag["WGT"].format(95) == "095"
    assert d.by_tag["DOB"].parse("19751012") == "1975-10-12"
    # model.md: dates are CCYYMMDD on the wire; "Nlets also accepts MMDDYY on input"
    with pytest.raises(ValidationError):
        d.by_tag["DOB"].parse("101275")
    assert d.by_tag["DOB"].parser(short_dates=True)("101275") == "1975-10-12"
    assert d.by_tag["DOB"].parser(short_dates=True)("19751012") == "1975-10-12"
    for bad in ("1975-10-12", "133075", "7510"):
        with pytest.raises(ValidationError):
            d.by_tag["DOB"].parser(short_dates=True)(bad)
    with pytest.raises(ValidationError):
        d.by_tag["HGT"].parse("58")  # wire FII: feet and two digits of inches
    assert d.by_tag["LIC"].parse("7abc-123") == "7ABC123"
    with pytest.raises(ValidationError) as info:
        d.by_tag["DOB"].parse("19750231")
    assert info.value.field == "DOB" and info.value.value == "19750231"
    with pytest.raises(ValidationError):
        d.by_tag["HGT"].parse("513")


def test_vin_check_digit() -> None:
    assert vin_check_digit_ok("1HGCM82633A004352")
    assert not vin_check_digit_ok("1HGCM82643A004352")
    assert not vin_check_digit_ok("1HGCM8263")


def _reasons(msg: Message) -> dict[str, str]:
    return {f.path: f.severity for f in check(msg, today=dt.date(2026, 11, 28))}


def test_edits_reject_and_warn() -> None:
    msg = Message(format="ncic", mke="QW", origin="CA03499",  # short ORI
                  person=Person(name=Name("SMITH", "JOHN"), dob="2030-01-01", sex="Q"),
                  vehicle=Vehicle(plate="TOOLONGPLATE1", vin="1HGCM82643A004352"))
    found = _reasons(msg)
    assert found == {"origin": "reject", "person.dob": "reject", "person.sex": "reject",
                     "vehicle.plate": "reject", "vehicle.vin": "warn"}


def test_apply_edits_raises_first_reject_with_field_and_value() -> None:
    msg = Message(format="ncic", mke="QV", origin="CA0349999",
                  vehicle=Vehicle(plate="7ABC123", plate_state="ZZ"))
    with pytest.raises(ValidationError) as info:
        apply_edits(msg)
    assert info.value.field == "LIS" and info.value.value == "ZZ" and info.value.code == 21


def test_apply_edits_warnings() -> None:
    msg = Message(format="ncic", mke="QV", origin="CA0349999",
                  vehicle=Vehicle(vin="1HGCM82643A004352"),
                  person=Person(name=Name("DOE", "PAT"), sex="X"))
    apply_edits(msg)
    assert "VIN check digit mismatch" in msg.warnings
    assert any(w.startswith("SEX") for w in msg.warnings)


def test_edits_reach_into_records() -> None:
    msg = Message(format="ncic", mke="RR", records=[Record(
        file="registration", owner=Person(name=Name("DOE", "JANE"), sex="Z"),
        registration=Registration(fees_due="12.00"))])
    assert _reasons(msg) == {"records[0].owner.sex": "reject"}


def test_dumps_is_one_line() -> None:
    assert "\n" not in dumps(from_dict(SPEC_QW))


def test_the_cached_day_follows_midnight_and_clock_steps(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """DOB "not in the future" compares with a cached day: it must roll at local midnight
    and follow the clock when it is stepped back (NTP, a restored VM)."""
    import datetime as dt

    from clets.model import edits

    midnight = dt.datetime(2031, 5, 17).timestamp()
    for now, day in ((midnight - 1, "2031-05-16"), (midnight, "2031-05-17"),
                     (midnight + 86399, "2031-05-17"), (midnight - 86400 * 3, "2031-05-14")):
        monkeypatch.setattr(edits.time, "time", lambda now=now: now)
        assert edits._today_iso() == day and edits._today() == dt.date.fromisoformat(day)


def test_prepare_builds_everything_check_needs_up_front() -> None:
    """A daemon calls ``prepare`` at start: afterwards, checking a message with records and
    an owner builds nothing more (no dictionary load, no code generation on the first one)."""
    import subprocess
    import sys

    code = (
        "from clets.model import edits, Message, Record, Person, Name\n"
        "def misses():\n"
        "    return (edits._walker.cache_info().misses,\n"
        "            edits.default_dictionary.cache_info().misses)\n"
        "edits.prepare()\n"
        "built = misses()\n"
        "msg = Message(format='json', mke='QWR', origin='CA0194200', records=[Record("
        "file='WANTED', owner=Person(name=Name('DOE', 'JOHN')))])\n"
        "edits.check(msg)\n"
        "after = misses()\n"
        "print(built, after)\n"
        "assert built == after == (3, 1), (built, after)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
