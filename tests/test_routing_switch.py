"""The built-in routing profile (routes.toml) evaluated on canonical messages."""

from __future__ import annotations

import pytest

from clets.errors import ValidationError
from clets.model import Case, License, Message, Name, Person, Vehicle
from clets.switch.routing import Target, builtin_table

ALL = ("WPS", "NCIC", "CARPOS", "SVS", "DMV", "CCH", "NLETS")
OWNERS = {"CA0194200": "LAPD", "CA0190000": "SHERIFF"}


def route(msg: Message,
          configured: tuple[str, ...] = ALL) -> list[tuple[str, str, tuple[str, ...]]]:
    targets = builtin_table().route(msg, home_state="CA", configured=configured,
                                    ori_owner=OWNERS)
    return [(t.kind, t.name, t.address) for t in targets]


def m(mke: str, **kw: object) -> Message:
    return Message(format="json", mke=mke, origin="CA0194200", **kw)  # type: ignore[arg-type]


NAME = Name("SMITH", "JOHN")


@pytest.mark.parametrize(("msg", "expected"), [
    (m("QW", person=Person(name=NAME)), ["WPS", "NCIC"]),
    (m("QW", person=Person(name=NAME, dob="1975-10-12")), ["WPS", "NCIC", "CARPOS"]),
    (m("QV", vehicle=Vehicle(plate="7ABC123")), ["SVS", "NCIC", "DMV"]),
    (m("RQ", vehicle=Vehicle(plate="7ABC123", plate_state="CA")), ["DMV"]),
    (m("RQ", vehicle=Vehicle(vin="1HGCM82633A004352")), ["DMV"]),
    (m("DQ", person=Person(license=License(number="A1234567", state="CA"))), ["DMV"]),
    (m("QR", person=Person(name=NAME)), ["CCH", "NCIC"]),
    (m("QH", person=Person(fbi="123456AB1")), ["CCH", "NCIC"]),
    (m("IQ", person=Person(name=NAME)), ["CCH", "NCIC"]),
    (m("FQ", person=Person(name=NAME)), ["CCH", "NCIC"]),
    (m("QPO", person=Person(name=NAME)), ["CARPOS", "NCIC"]),
    (m("EW", person=Person(name=NAME)), ["WPS"]),
    (m("MW", case=Case(nic="W123456789")), ["WPS"]),
    (m("CW", case=Case(nic="W123456789")), ["WPS"]),
    (m("XW", case=Case(oca="24-1")), ["WPS"]),
    (m("LW", case=Case(nic="W123456789")), ["WPS"]),
    (m("YQ", destinations=["WA0170000"]), ["NLETS"]),
    (m("YR", destinations=["WA0170000"]), ["NLETS"]),
])
def test_builtin_routes(msg: Message, expected: list[str]) -> None:
    assert [name for _k, name, _a in route(msg)] == expected


def test_out_of_state_plate_goes_to_nlets_addressed_to_that_state() -> None:
    assert route(m("RQ", vehicle=Vehicle(plate="ABC123", plate_state="NV"))) == [
        ("destination", "NLETS", ("NV",))]


def test_out_of_state_licence_goes_to_nlets() -> None:
    lic = License(number="W1234", state="WA")
    assert route(m("DQ", person=Person(license=lic))) == [("destination", "NLETS", ("WA",))]


def test_am_goes_to_local_peers_and_other_states() -> None:
    msg = m("AM", destinations=["CA0190000", "NV0020000", "AZ"], text="BOLO")
    assert route(msg) == [("peer", "SHERIFF", ("CA0190000",)),
                          ("destination", "NLETS", ("NV0020000", "AZ"))]


@pytest.mark.parametrize("dest", ["CA0999999", "CA", "??"])
def test_am_to_unknown_home_ori_is_invalid_destination(dest: str) -> None:
    with pytest.raises(ValidationError) as info:
        route(m("AM", destinations=[dest], text="X"))
    assert info.value.code == 12


def test_unconfigured_destinations_are_skipped_and_none_left_is_12() -> None:
    assert [n for _k, n, _a in route(m("QV", vehicle=Vehicle(plate="1")), ("NCIC",))] == ["NCIC"]
    with pytest.raises(ValidationError) as info:
        route(m("QPO", person=Person(name=NAME)), ("DMV",))
    assert info.value.code == 12


@pytest.mark.parametrize(("msg", "tag"), [
    (m("QW", person=Person(dob="1975-10-12")), "NAM"),
    (m("QV"), "LIC"),
    (m("DQ", person=Person(name=NAME)), "OLN"),
    (m("EW", person=Person(name=NAME, sex="M", race="W", dob="1975-10-12")), "OCA"),
    (m("MW"), "NIC"),
])
def test_mandatory_fields(msg: Message, tag: str) -> None:
    with pytest.raises(ValidationError) as info:
        builtin_table().check_required(msg)
    assert info.value.code == 20 and str(info.value.reason) == f"MISSING MANDATORY FIELD {tag}"


@pytest.mark.parametrize(("mke", "inquiry", "full"), [
    ("QW", True, True), ("DQ", True, True), ("RQ", True, True), ("AM", True, True),
    ("YQ", True, True), ("EW", False, True), ("MW", False, True), ("CW", False, True),
    ("XW", False, True), ("LW", False, True), ("ZZ", False, False),
])
def test_access_classes(mke: str, inquiry: bool, full: bool) -> None:
    t = builtin_table()
    assert (t.allowed(mke, "inquiry"), t.allowed(mke, "full")) == (inquiry, full)


def test_target_is_plain_data() -> None:
    assert Target("destination", "NCIC") == Target("destination", "NCIC", ())
