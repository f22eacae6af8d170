"""The niem codec: fixtures both ways, the shipped XSD (also checked by xmllint), the element
table, tolerance, validation errors and the stream form."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from clets.codecs import get_codec
from clets.codecs.niem import NiemCodec, default_mapping
from clets.errors import (
    INVALID_FIELD,
    ConfigError,
    DecodeError,
    EncodeError,
    LayoutError,
    ValidationError,
)
from clets.model import (
    Case,
    ErrorInfo,
    Message,
    Name,
    Person,
    Record,
    Vehicle,
    code_table,
    from_dict,
    model_fields,
    to_dict,
)
from clets.model.types import Address, License, Registration
from tests.conftest import FIXTURES, ROOT, require_peer

NIEM = FIXTURES / "messages" / "niem"
XSD_DIR = ROOT / "src" / "clets" / "codecs" / "xsd"
XSD = XSD_DIR / "nlets-niem-4.00-profile.xsd"
WIRES = sorted(NIEM.glob("*.xml"))
CANONICAL = [p for p in WIRES if ".lenient." not in p.name]
N2 = "http://www.nlets.org/niem/1.0"


def _expected(wire: Path) -> Path:
    return NIEM / (wire.name.split(".")[0] + ".json")


@pytest.fixture(scope="module")
def codec() -> NiemCodec:
    c = get_codec("niem")
    assert isinstance(c, NiemCodec)
    return c


def test_fixture_inventory() -> None:
    """At least 20 samples, every wire with its expected JSON, the kinds the brief names."""
    assert len(WIRES) >= 20
    for wire in WIRES:
        assert _expected(wire).exists(), wire.name
    mkes = {json.loads(_expected(w).read_text())["mke"] for w in WIRES}
    assert {"QW", "QV", "DQ", "RQ", "IQ", "FQ", "KQ", "AM", "SM", "ER"} <= mkes
    statuses = {json.loads(_expected(w).read_text())["status"] for w in WIRES}
    assert {"hit", "no_hit", "error"} <= statuses
    assert any(len(json.loads(_expected(w).read_text())["records"]) >= 3 for w in WIRES)
    assert sum(".lenient." in w.name for w in WIRES) >= 3


@pytest.mark.parametrize("wire", WIRES, ids=[w.name for w in WIRES])
def test_fixture_decodes_to_expected(codec: NiemCodec, wire: Path) -> None:
    want = json.loads(_expected(wire).read_text("utf-8"))
    assert to_dict(codec.decode(wire.read_bytes())) == want


@pytest.mark.parametrize("wire", CANONICAL, ids=[w.name for w in CANONICAL])
def test_canonical_fixture_is_what_encode_writes(codec: NiemCodec, wire: Path) -> None:
    want = from_dict(json.loads(_expected(wire).read_text("utf-8")))
    assert codec.encode(want) == wire.read_bytes()


def test_lenient_fixtures_reencode_to_valid_canonical_xml(codec: NiemCodec) -> None:
    for wire in WIRES:
        if ".lenient." in wire.name:
            msg = codec.decode(wire.read_bytes())
            again = codec.decode(codec.encode(msg))
            assert to_dict(again) == to_dict(msg)


# ----------------------------------------------------------------------------- XSD

def test_xmllint_accepts_our_schema_and_every_canonical_fixture() -> None:
    """An independent validator (libxml2's xmllint, not lxml) agrees with the codec."""
    xmllint = require_peer("xmllint")
    run = subprocess.run([xmllint, "--noout", "--schema", str(XSD), *map(str, CANONICAL)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("validates") == len(CANONICAL)


def test_xmllint_rejects_what_the_codec_rejects(tmp_path: Path) -> None:
    xmllint = require_peer("xmllint")
    bad = (NIEM / "qw_person.xml").read_bytes().replace(
        b"<nc:PersonSexCode>M<", b"<nc:PersonSexCode>Q<")
    path = tmp_path / "bad.xml"
    path.write_bytes(bad)
    run = subprocess.run([xmllint, "--noout", "--schema", str(XSD), str(path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode != 0 and "PersonSexCode" in run.stderr
    with pytest.raises(ValidationError, match="PersonSexCode"):
        get_codec("niem").decode(bad)


_TABLE_TYPES = {
    "SexCodeSimpleType": "sex", "RaceCodeSimpleType": "race", "EyeColorCodeSimpleType": "eyes",
    "HairColorCodeSimpleType": "hair", "SkinToneCodeSimpleType": "skin",
    "StateCodeSimpleType": "states", "PlateTypeCodeSimpleType": "plate_types",
    "VehicleStyleCodeSimpleType": "vehicle_styles", "ColorCodeSimpleType": "colors",
    "ReasonCodeSimpleType": "reason_codes", "PurposeCodeSimpleType": "purpose_codes",
    "LicenseStatusCodeSimpleType": "license_status",
    "RegistrationStatusCodeSimpleType": "registration_status",
    "RecordFileCodeSimpleType": "record_files", "ResponseStatusCodeSimpleType": "statuses",
}


def test_xsd_enumerations_are_the_code_tables() -> None:
    """The XSD's code lists may not drift from clets/model/tables (codes + warn codes)."""
    doc = etree.parse(str(XSD_DIR / "clets-codes.xsd"))
    xs = {"xs": "http://www.w3.org/2001/XMLSchema"}
    for type_name, table in _TABLE_TYPES.items():
        values = doc.xpath(f"//xs:simpleType[@name='{type_name}']//xs:enumeration/@value",
                           namespaces=xs)
        t = code_table(table)
        assert set(values) == set(t.codes) | set(t.warn), type_name


def test_xsd_patterns_match_the_field_dictionary() -> None:
    """Where fields.toml has a `chars` pattern, the XSD type is the same language (sampled)."""
    from clets.model import default_dictionary

    doc = etree.parse(str(XSD_DIR / "clets-codes.xsd"))
    xs = {"xs": "http://www.w3.org/2001/XMLSchema"}

    def pattern(name: str) -> re.Pattern[str]:
        (value,) = doc.xpath(f"//xs:simpleType[@name='{name}']//xs:pattern/@value",
                             namespaces=xs)
        return re.compile(value)

    d = default_dictionary().by_tag
    samples = {
        ("ORISimpleType", "ORI"): ["CA0349999", "NL0000000", "ca0349999", "CA034999", "1A0349999"],
        ("PlateYearSimpleType", "LIY"): ["2026", "26", "NX", "202", "N", "NXX"],
        ("NICSimpleType", "NIC"): ["W123456789", "W12345678", "1123456789"],
        ("CMCSimpleType", "CMC"): ["05", "5", "ABC"],
        ("OCASimpleType", "OCA"): ["24-001234", "-24", "A" * 20, "A" * 21],
        ("MNUSimpleType", "MNU"): ["AS-123456789", "AS123", "A-1"],
        ("PostalCodeSimpleType", "ZIP"): ["94501", "945011234", "94501-1234", "9450"],
        ("MoneySimpleType", "FEE"): ["0.00", "-18.07", "123456.78", "-123456.78", "1234567.00",
                                     "1.5"],
        ("LicenseClassSimpleType", "OLC"): ["C", "M1", "CDL"],
    }
    for (type_name, tag), values in samples.items():
        fd = d[tag]
        xsd_re = pattern(type_name)
        (longest,) = doc.xpath(f"//xs:simpleType[@name='{type_name}']//xs:maxLength/@value",
                               namespaces=xs) or ["999"]
        for v in values:
            by_dict = bool(fd.chars.fullmatch(v)) if fd.chars else True
            by_dict = by_dict and (fd.max is None or len(v) <= fd.max) and (
                fd.min is None or len(v) >= fd.min)
            by_xsd = bool(xsd_re.fullmatch(v)) and len(v) <= int(longest)
            assert by_xsd == by_dict, (type_name, v)


# ----------------------------------------------------------------------------- table

def _model_paths(cls: type, prefix: str = "") -> set[str]:
    nested = {"name": Name, "license": License, "address": Address,
              "registration": Registration, "error": ErrorInfo}
    out = set()
    for name in model_fields(cls):
        key = name.rstrip("_")
        if key in nested:
            out |= _model_paths(nested[key], f"{prefix}{key}.")
        else:
            out.add(prefix + key)
    return out


def test_mapping_table_covers_every_canonical_field() -> None:
    """Every slot of the model has an element, except `format` and `warnings` (not on the wire)."""
    m = default_mapping()

    def paths(group: str) -> set[str]:
        return {row.path for row in m.groups[group]}

    message = paths("header") | paths("body")
    assert _model_paths(Message) - {"format", "warnings"} <= message | {"fields"}
    assert _model_paths(Record) <= paths("record")
    assert _model_paths(Person) <= paths("person")
    assert _model_paths(Vehicle) <= paths("vehicle")
    assert _model_paths(Case) <= paths("case")


def test_mapping_rows_use_the_field_dictionary_paths() -> None:
    """Rows whose canonical path has a field-dictionary row normalise with that row."""
    from clets.model import default_dictionary

    d = default_dictionary().by_path
    m = default_mapping()
    prefix = {"person": "person.", "vehicle": "vehicle.", "case": "case."}
    bound = [row for g, rows in m.groups.items() for row in rows
             if prefix.get(g, "") + row.path in d]
    assert len(bound) >= 30
    for row in bound:
        assert row.tag == d[prefix.get(row.group, "") + row.path].tag


def test_bad_mapping_file_is_a_layout_error(tmp_path: Path) -> None:
    text = (ROOT / "src/clets/codecs/niem_mapping.toml").read_text()
    bad = tmp_path / "m.toml"
    bad.write_text(text.replace('element = "nc:PersonSexCode"', 'element = "zz:PersonSexCode"'))
    with pytest.raises(LayoutError, match="zz:PersonSexCode"):
        NiemCodec(mapping=bad)
    bad.write_text(text.replace('type = "split"', 'type = "colour"'))
    with pytest.raises(LayoutError, match="unknown type"):
        NiemCodec(mapping=bad)
    with pytest.raises(ConfigError):
        NiemCodec(max_depth=0)


# ----------------------------------------------------------------------------- behaviour

def test_ncic_conversion_keeps_every_field(codec: NiemCodec) -> None:
    """Beyond nlets: every ncic fixture survives ncic -> niem -> ncic too."""
    ncic = get_codec("ncic")
    ncic_dir = FIXTURES / "messages" / "ncic"
    done = 0
    for wire in sorted(ncic_dir.glob("*.txt")):
        msg = ncic.decode(wire.read_bytes())
        back = codec.decode(codec.encode(msg))
        a, b = to_dict(msg), to_dict(back)
        for d in (a, b):
            del d["format"], d["warnings"]
        assert a == b, wire.name
        if ".lenient." not in wire.name:
            assert ncic.encode(back) == wire.read_bytes(), wire.name
        done += 1
    assert done >= 10


def test_container_follows_the_content(codec: NiemCodec) -> None:
    def container(msg: Message) -> str:
        root = etree.fromstring(codec.encode(msg))
        return etree.QName(root[1]).localname

    assert container(Message(mke="QW", origin="CA0349999")) == "NLETSInquiryData"
    assert container(Message(mke="YR", origin="CA0349999", text="OK")) == "NLETSResponseData"
    assert container(Message(mke="QW", origin="CA0349999", status="no_hit")) == \
        "NLETSResponseData"
    assert container(Message(mke="AML", origin="CA0349999", text="X")) == "NLETSMailData"
    root = etree.fromstring(codec.encode(Message(mke="SM", origin="CA0349999", text="UP")))
    assert root[1].get(f"{{{N2}}}key") == "SM"
    assert etree.QName(root[1][0]).localname == "StatusMessageText"


def test_cdata_for_free_text_escaped_when_cdata_cannot_carry_it(codec: NiemCodec) -> None:
    msg = Message(mke="AM", origin="CA0349999", text="A < B & C", remarks="X]]>Y")
    xml = codec.encode(msg)
    assert b"<![CDATA[A < B & C]]>" in xml
    assert b"X]]&gt;Y" in xml
    assert codec.decode(xml).remarks == "X]]>Y"
    crlf = Message(mke="AM", origin="CA0349999", text="L1\r\nL2\r\n")
    assert codec.decode(codec.encode(crlf)).text == "L1\r\nL2\r\n"


def test_header_pseudo_tags_and_fallback(codec: NiemCodec) -> None:
    msg = Message(mke="AM", origin="CA0349999", sent_at="2024-01-02T03:04:05",
                  sequence=7, fields={"OSN": "00042", "ODT": "2024-01-02T03:04", "XYZ": "1"})
    xml = codec.encode(msg)
    assert b"<nh2:MessageSendTime>03:04:05<" in xml
    assert b"<nh2:SendMessageNumeric>00007<" in xml
    assert b"<nh2:ReceiveMessageNumeric>00042<" in xml
    back = codec.decode(xml)
    assert back.fields == msg.fields and back.sent_at == msg.sent_at
    odd = Message(mke="AM", origin="CA0349999", fields={"OSN": "12", "ODT": "yesterday"})
    xml = codec.encode(odd)
    assert b'n2:tag="OSN">12<' in xml and b'n2:tag="ODT">yesterday<' in xml
    assert codec.decode(xml).fields == odd.fields


def _replace(name: str, old: bytes, new: bytes) -> bytes:
    data = (NIEM / name).read_bytes()
    assert old in data
    return data.replace(old, new, 1)


def test_value_errors_name_element_path_and_line(codec: NiemCodec) -> None:
    bad = _replace("qw_person.xml", b"<nc:PersonRaceCode>W<", b"<nc:PersonRaceCode>Z<")
    with pytest.raises(ValidationError) as info:
        codec.decode(bad)
    err = info.value
    assert err.code == INVALID_FIELD and err.value == "Z"
    assert err.field == "/n2:NLETS/n2:NLETSInquiryData/nc:Person/nc:PersonRaceCode"
    line = bad[:bad.index(b">Z<")].count(b"\n") + 1
    assert f"(line {line})" in str(err)


def test_bad_origin_ori_is_error_21(codec: NiemCodec) -> None:
    """formats.md §1/§3: a malformed ORI is an invalid field (the switch answers .10.)."""
    bad = _replace("qw_person.xml", b">CA0349999<", b">CA03499<")
    with pytest.raises(ValidationError) as info:
        codec.decode(bad)
    assert info.value.code == INVALID_FIELD


def test_structure_errors_are_decode_errors(codec: NiemCodec) -> None:
    bad = _replace("qw_person.xml", b"<nc:PersonSexCode>",
                   b"<nc:Bogus>x</nc:Bogus><nc:PersonSexCode>")
    with pytest.raises(DecodeError, match="Bogus") as info:
        codec.decode(bad)
    assert not isinstance(info.value, ValidationError)
    assert "line" in str(info.value)


def test_dates_are_calendar_dates(codec: NiemCodec) -> None:
    bad = _replace("qw_person.xml", b">1975-10-12<", b">1975-02-30<")
    with pytest.raises(ValidationError, match="1975-02-30"):
        codec.decode(bad)
    bad = _replace("sm_status.xml", b">05/01/2024<", b">02/30/2024<")
    with pytest.raises(ValidationError):
        codec.decode(bad)


def test_field_edits_run_on_decode_unless_disabled() -> None:
    future = _replace("qw_person.xml", b">1975-10-12<", b">2999-01-01<")
    with pytest.raises(ValidationError, match="future") as info:
        get_codec("niem").decode(future)
    assert info.value.format == "niem"
    assert get_codec("niem", edits=False).decode(future).person.dob == "2999-01-01"  # type: ignore[union-attr]


def test_encode_validates_what_it_wrote(codec: NiemCodec) -> None:
    with pytest.raises(EncodeError, match="PersonSexCode"):
        codec.encode(Message(mke="QW", origin="CA0349999", person=Person(sex="Q")))
    with pytest.raises(EncodeError, match="MessageKeyCodeText"):
        codec.encode(Message(mke="", origin="CA0349999"))
    with pytest.raises(EncodeError, match="XML"):
        codec.encode(Message(mke="AM", origin="CA0349999", text="BELL\x07"))
    with pytest.raises(EncodeError, match="sent_at"):
        codec.encode(Message(mke="AM", origin="CA0349999", sent_at="today"))
    raw = get_codec("niem", validate=False).encode(
        Message(mke="QW", origin="CA0349999", person=Person(sex="Q")))
    assert b">Q<" in raw


def test_duplicate_field_tags_refused(codec: NiemCodec) -> None:
    bad = _replace("unknown_fields_order.xml", b'n2:tag="AAA"', b'n2:tag="ZZZ"')
    with pytest.raises(DecodeError):
        codec.decode(bad)
    with pytest.raises(DecodeError, match="twice"):
        get_codec("niem", validate=False).decode(bad)


def test_tolerated_namespaces_are_normalised_before_validation(codec: NiemCodec) -> None:
    mixed = codec.decode((NIEM / "mixed_nc2_nc3.lenient.xml").read_bytes())
    first, second = mixed.records
    assert first.person is not None and second.person is not None
    assert second.person.sex == "M" and second.person.race == "W"
    assert second.vehicle is not None and second.vehicle.plate_state == "NV"
    # a jxdm element the profile does not take back is still refused
    bad = _replace("mixed_nc2_nc3.lenient.xml", b"<j:VehicleMakeCode>HOND</j:VehicleMakeCode>",
                   b"<j:VehicleDoorCountQuantity>4</j:VehicleDoorCountQuantity>")
    with pytest.raises(DecodeError, match="VehicleDoorCountQuantity"):
        codec.decode(bad)


def test_validate_false_still_maps_strictly() -> None:
    loose = get_codec("niem", validate=False)
    good = (NIEM / "qwr_hit_three.xml").read_bytes()
    assert to_dict(loose.decode(good)) == to_dict(get_codec("niem").decode(good))
    with pytest.raises(DecodeError, match="Bogus"):
        loose.decode(good.replace(b"<n2:RecordFileCode>", b"<n2:Bogus/><n2:RecordFileCode>", 1))
    with pytest.raises(DecodeError, match="root"):
        loose.decode(b"<x/>")
    with pytest.raises(ValidationError, match="integer"):
        loose.decode(good.replace(b"<nc:MeasurePointValue>70<", b"<nc:MeasurePointValue>7O<", 1))


def test_decode_stream_reads_concatenated_documents(codec: NiemCodec) -> None:
    parts = [(NIEM / n).read_bytes() for n in ("qw_person.xml", "am_output.xml", "rq_plate.xml")]
    got = [m.mke for m in codec.decode_stream(b"\n".join(parts))]
    assert got == ["QW", "AM", "RQ"]
    broken = parts[0] + parts[1].replace(b"</n2:NLETS>", b"")
    with pytest.raises(DecodeError) as info:
        list(codec.decode_stream(broken))
    assert info.value.offset is not None and info.value.offset >= len(parts[0])


def test_registry_and_cli_convert() -> None:
    """`clets convert --from nlets --to niem` and back through the real CLI."""
    nlets = FIXTURES / "messages" / "nlets" / "rr_two_records.txt"
    if not nlets.exists():
        pytest.skip("nlets fixtures absent")
    exe = ROOT / ".venv" / "bin" / "clets"
    if not exe.exists():
        pytest.skip("clets entry point not installed in .venv")
    xml = subprocess.run([str(exe), "convert", "--from", "nlets", "--to", "niem"],
                         input=nlets.read_bytes(), capture_output=True, timeout=60, check=True)
    assert xml.stdout.startswith(b"<?xml")
    back = subprocess.run([str(exe), "convert", "--from", "niem", "--to", "nlets"],
                          input=xml.stdout, capture_output=True, timeout=60, check=True)
    assert back.stdout.rstrip(b"\n") == nlets.read_bytes().rstrip(b"\n")
