"""The per-message data-quality checks: each fires on its error and stays quiet on clean data."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from clets.errors import ConfigError
from clets.model import Message
from clets.model.types import License, Name, Person, Record, Vehicle
from clets.quality.catalogue import catalogue, load_catalogue, with_policies
from clets.quality.rules import RULES, run_checks, vin_problems

TODAY = dt.date(2026, 12, 3)


def clean_person() -> Person:
    return Person(name=Name("SMITH", "JOHN"), dob="1980-05-17", sex="M", height_in=70,
                  weight_lb=180, ssn="123456789", fbi="123456AB1", cii="A12345678",
                  license=License(number="B1234567", state="CA", class_="C",
                                  expires="2028-05-17"))


def clean_vehicle() -> Vehicle:
    return Vehicle(plate="7ABC123", plate_state="CA", vin="1HGCM82633A004352", year=2003)


def ids(msg: Message) -> set[str]:
    return {f.check for f in run_checks(msg, TODAY)}


def test_clean_message_has_no_flags() -> None:
    msg = Message(format="json", mke="EW", person=clean_person(), vehicle=clean_vehicle())
    assert run_checks(msg, TODAY) == []


def test_catalogue_and_code_agree() -> None:
    assert set(RULES) <= set(catalogue())


@pytest.mark.parametrize("ssn", ["000123456", "666123456", "900123456", "123006789",
                                 "123450000", "078051120", "219099999"])
def test_ssn_never_issued(ssn: str) -> None:
    p = clean_person()
    p.ssn = ssn
    assert "ssn_invalid" in ids(Message(format="json", mke="QW", person=p))


@pytest.mark.parametrize(("vin", "year", "why"), [
    ("1HGCM82633A00435", 2003, "characters"),
    ("1HGCM82633A0O4352", 2003, "never used"),
    ("1HGCM82643A004352", 2003, "check digit"),
    ("1HGCM82633A004352", 2005, "does not match"),
    ("1HGCM8263UA004352", None, "not a year code"),
])
def test_vin_problems(vin: str, year: int | None, why: str) -> None:
    problems = vin_problems(vin, year)
    assert any(why in p for p in problems), problems


def test_vin_pre_1981_and_foreign_are_quiet() -> None:
    assert vin_problems("12345678", 1975) == []
    # a European VIN: the check digit is not mandatory outside North America
    assert vin_problems("WVWZZZ1JZXW000001", 1999) == []


@pytest.mark.parametrize(("attr", "value", "check"), [
    ("dob", "2027-01-01", "dob_future"),
    ("dob", "1890-01-01", "dob_too_old"),
    ("height_in", 130, "body_range"),
    ("weight_lb", 5, "body_range"),
    ("fbi", "AB", "fbi_format"),
    ("cii", "12", "cii_format"),
])
def test_person_plausibility(attr: str, value: object, check: str) -> None:
    p = clean_person()
    setattr(p, attr, value)
    assert check in ids(Message(format="json", mke="QW", person=p))


def test_licence_checks() -> None:
    p = clean_person()
    assert p.license is not None
    p.license.number = "12345678"
    assert "oln_format" in ids(Message(format="json", mke="QW", person=p))
    p = clean_person()
    assert p.license is not None
    p.license.expires = "1990-01-01"  # holder born 1980
    assert "licence_dates" in ids(Message(format="json", mke="QW", person=p))
    msg = Message(format="json", mke="QW", person=clean_person(), fields={"OLI": "2029-01-01"})
    assert "licence_dates" in ids(msg)
    p = clean_person()
    assert p.license is not None
    p.dob, p.license.class_ = "2010-01-01", "A"
    assert "licence_class_age" in ids(Message(format="json", mke="QW", person=p))


def test_juvenile_with_adult_key() -> None:
    p = clean_person()
    p.dob = "2012-03-04"
    p.license = None
    assert "juvenile_adult_record" in ids(Message(format="json", mke="EW", person=p))
    assert "juvenile_adult_record" not in ids(Message(format="json", mke="EWJ", person=p))


def test_plate_forms() -> None:
    v = clean_vehicle()
    v.plate = "UNK"
    assert "plate_format" in ids(Message(format="json", mke="QV", vehicle=v))
    v.plate, v.plate_state = "ABCDEFG", "OR"  # Oregon plates are at most 6
    assert "plate_format" in ids(Message(format="json", mke="QV", vehicle=v))
    v.plate_state = "ZZ"  # unknown state: not checked
    assert "plate_format" not in ids(Message(format="json", mke="QV", vehicle=v))


def test_records_in_answers_are_checked_with_their_path() -> None:
    p = clean_person()
    p.ssn = "000000000"
    msg = Message(format="json", mke="QW", records=[Record(file="wanted", person=p)])
    flags = run_checks(msg, TODAY)
    assert [f.path for f in flags] == ["records[0].person.ssn"]


def test_policies_are_data() -> None:
    checks = with_policies(catalogue(), {"ssn_invalid": "reject"})
    p = clean_person()
    p.ssn = "666000000"
    flags = run_checks(Message(format="json", mke="QW", person=p), TODAY, checks)
    assert {f.policy for f in flags if f.check == "ssn_invalid"} == {"reject"}
    with pytest.raises(ConfigError):
        with_policies(catalogue(), {"ssn_invalid": "shrug"})
    with pytest.raises(ConfigError):
        load_catalogue({"check": [{"id": "nope", "kind": "identifier"}]}, frozenset({"x"}))


def test_cli_check() -> None:
    msg = {"format": "json", "mke": "QW", "person": {"dob": "2031-01-01", "ssn": "666111111"}}
    run = subprocess.run([sys.executable, "-m", "clets.cli", "quality", "check", "--today",
                          "2026-12-03"], input=json.dumps(msg).encode(), capture_output=True,
                         check=False)
    assert run.returncode == 1, run.stderr
    found = {json.loads(line)["check"] for line in run.stdout.splitlines()}
    assert found == {"dob_future", "ssn_invalid"}
    clean = {"format": "json", "mke": "QW", "person": {"dob": "1990-01-01"}}
    run = subprocess.run([sys.executable, "-m", "clets.cli", "quality", "check", "--today",
                          "2026-12-03"], input=json.dumps(clean).encode(), capture_output=True,
                         check=False)
    assert (run.returncode, run.stdout) == (0, b"")
