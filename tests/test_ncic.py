"""The ``ncic`` codec: spec examples, grammar edge cases, responses, encodings, streams."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from clets.codecs import get_codec
from clets.codecs.ncic import NcicCodec
from clets.errors import DecodeError, EncodeError, ValidationError
from clets.model import ErrorInfo, Message, Name, Person, Record, from_dict, replace, to_dict

# The literal JSON of spec/model.md "Two examples".
QW_JSON = json.loads("""
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
QV_VEHICLE = json.loads("""
{"plate": "7ABC123", "plate_state": "CA", "plate_year": "2026", "plate_type": "PC",
"vin": null, "year": null, "make": null, "model": null, "style": null, "color": null}
""")

QW = b"QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012.SEX/M.RAC/W"
QV = b"QV.CA0349999.LIC/7ABC123.LIS/CA.LIY/2026.LIT/PC"
EW = (b"EW.CA0349999.NAM/DOE, JANE.SEX/F.RAC/W.DOB/19800202.HGT/505.WGT/130.OCA/24-001234"
      b".MIS/FTA. NO BAIL")
BANNER = ("WARNING - DO NOT ARREST OR DETAIN BASED SOLELY ON THIS RECORD. CONFIRM WITH THE "
          "ENTERING AGENCY (YQ) BEFORE ANY ACTION")


@pytest.fixture(scope="module")
def codec() -> NcicCodec:
    return NcicCodec()


def test_spec_example_qw(codec: NcicCodec) -> None:
    assert to_dict(codec.decode(QW)) == QW_JSON
    assert codec.encode(from_dict(QW_JSON)) == QW


def test_spec_example_qv(codec: NcicCodec) -> None:
    got = to_dict(codec.decode(QV))
    assert got["person"] is None
    assert got["vehicle"] == QV_VEHICLE
    assert codec.encode(codec.decode(QV)) == QV


def test_vin_inquiry_and_entry(codec: NcicCodec) -> None:
    msg = codec.decode(b"QV.CA0349999.VIN/1HGCM82633A004352")
    assert msg.vehicle is not None and msg.vehicle.vin == "1HGCM82633A004352"
    assert msg.warnings == []
    ew = codec.decode(EW)
    assert ew.case is not None and ew.case.oca == "24-001234"
    assert ew.remarks == "FTA. NO BAIL"
    assert ew.person is not None and ew.person.height_in == 65 and ew.person.weight_lb == 130
    assert codec.encode(ew) == EW


def test_registry_builds_codec() -> None:
    c = get_codec("ncic", encoding="cp037", edits=False)
    assert isinstance(c, NcicCodec) and c.encoding == "cp037" and c.edits is False
    assert c.decode(QW.decode().encode("cp037")).format == "ncic"


def test_name_written_with_one_space(codec: NcicCodec) -> None:
    msg = codec.decode(b"QW.CA0349999.NAM/SMITH,JOHN J JR.SEX/M")
    assert msg.person is not None and msg.person.name == Name("SMITH", "JOHN", "J", "JR")
    assert codec.encode(msg) == b"QW.CA0349999.NAM/SMITH, JOHN J JR.SEX/M"


def test_weight_zero_padded(codec: NcicCodec) -> None:
    msg = codec.decode(b"EW.CA0349999.NAM/DOE, JANE.WGT/95")
    assert msg.person is not None and msg.person.weight_lb == 95
    assert codec.encode(msg).endswith(b"WGT/095")


# ----------------------------------------------------------------------------- grammar


def test_dots_inside_free_text(codec: NcicCodec) -> None:
    msg = codec.decode(b"EW.CA0349999.MIS/A.B. C..D.OCA/X1")
    assert msg.remarks == "A.B. C..D"
    assert msg.case is not None and msg.case.oca == "X1"


def test_cr_lf_del_between_fields_ignored(codec: NcicCodec) -> None:
    wrapped = b"QW.CA0349999.NAM/SMITH, JOHN J.\r\nDOB/19751012\x7f.SEX/M.\nRAC/W\r\n"
    assert to_dict(codec.decode(wrapped)) == QW_JSON


@pytest.mark.parametrize("brk", [b"\n", b"\r\n", b"\n\n", b"\x7f\r", b".\n"])
def test_a_line_that_starts_with_a_tag_starts_a_field(codec: NcicCodec, brk: bytes) -> None:
    # a line break before TAG/ separates as '.' does, with or without the '.' (fuzz finding:
    # ``MAM/X\nNAM/...`` read as MAM = ``XNAM/...``, which no one wrote)
    wire = b"QW.CA0349999.NAM/SMITH, JOHN J" + brk + b"DOB/19751012.SEX/M" + brk + b"RAC/W"
    assert to_dict(codec.decode(wire)) == QW_JSON
    # the ORI too: the header's '.' is a separator as well
    assert to_dict(codec.decode(QW.replace(b".NAM/", b"\nNAM/"))) == QW_JSON
    # a wrap inside a value still joins (a teletype wraps anywhere), and offsets still point
    # into the bytes as sent
    assert codec.decode(b"QW.CA0349999.NAM/SMITH, JO\r\nHN J.DOB/19751012").person.name.first \
        == "JOHN"  # type: ignore[union-attr]
    bad = b"QW.CA0349999.NAM/SMITH, JOHN J\r\n\r\nDOB/19751012\nSEX/Q"
    with pytest.raises(ValidationError) as err:
        codec.decode(bad)
    assert err.value.field == "SEX" and bad[err.value.offset:] == b"Q"


def test_a_status_text_ending_with_a_period_keeps_it() -> None:
    # fuzz finding: ``TEXT. CHG/...`` read the '.' as part of the separator before the echo;
    # such a text goes on the line after the echo (the layout it was read from)
    codec = NcicCodec(edits=False)
    data = b"QRR.CA0349999.\nCHG/QVR.CA0HISTORY\nNO RECORD ON FILE.\nSECOND LINE"
    msg = codec.decode(data)
    assert msg.text == "NO RECORD ON FILE.\nSECOND LINE" and msg.fields == {"CHG": "QVR.CA0HISTORY"}
    assert codec.encode(msg) == data
    assert to_dict(codec.decode(codec.encode(msg))) == to_dict(msg)
    # without the '.', the text and its echo share the status line, as before
    msg.text = "NO RECORD ON FILE\nSECOND LINE"
    assert codec.encode(msg) == (b"QRR.CA0349999.\nNO RECORD ON FILE CHG/QVR.CA0HISTORY\n"
                                 b"SECOND LINE")


def test_a_wrapped_value_is_checked_whole(codec: NcicCodec) -> None:
    # fuzz finding: a wrapped line appended to OAD (max 30) was never checked on decode, and
    # the same value was refused when the encoding was read back
    ok = b"QVR.CA0349999.\nWARNING\n\nMKE/STOLEN VEHICLE\nLIC/ABC123 OAD/5 MAIN ST\nAPT 12"
    msg = codec.decode(ok)
    assert msg.records[0].owner.address.street == "5 MAIN ST\nAPT 12"  # type: ignore[union-attr]
    assert codec.decode(codec.encode(msg)) == msg
    long = ok + b" BUILDING C NORTH SIDE"
    with pytest.raises(ValidationError) as err:
        codec.decode(long)
    assert err.value.field == "OAD" and long[err.value.offset:].startswith(b"5 MAIN ST")
    assert NcicCodec(edits=False).decode(long).records[0].owner is not None


def test_a_record_closed_by_the_next_type_line_gets_its_file() -> None:
    # a record followed directly by MKE/ (no blank line) kept file None and its type text,
    # and could not be written back
    codec = NcicCodec()
    data = (b"QWR.CA0349999.\nWARNING\n\nMKE/WANTED PERSON - CAUTION\nNAM/SMITH, JOHN\n"
            b"MKE/STOLEN VEHICLE\nLIC/ABC123")
    msg = codec.decode(data)
    assert [(r.file, r.caution, r.fields) for r in msg.records] == [
        ("wanted", True, {}), ("vehicle", False, {})]
    assert codec.encode(msg) == data.replace(b"\nMKE/STOLEN", b"\n\nMKE/STOLEN")


def test_a_last_value_the_decoder_would_cut_is_not_written() -> None:
    # found by the fixed-point property test: LIC/A-..A reads (edits off) as plate A..A, which
    # written back would read as LIC/A and untagged fields '' and 'A' (refused)
    codec = NcicCodec(edits=False)
    msg = codec.decode(b"QW.CA0349999.LIC/A-..A")
    assert msg.vehicle is not None and msg.vehicle.plate == "A..A"
    with pytest.raises(EncodeError, match="untagged") as err:
        codec.encode(msg)
    assert err.value.field == "LIC"
    # untagged fields themselves still go back where they were read
    data = b"LN.CA0349999.NAM/SMITH, JOHN.NIC/W146203706.19990205.CASE 1234.EXTR"
    assert NcicCodec().encode(NcicCodec().decode(data)) == data


def test_an_empty_record_type_is_an_empty_field() -> None:
    # fuzz finding: ``MKE/ VCO/BLU`` read as a record with type text '', written back with
    # no MKE/ line, where its fields read as the status line's echo
    data = b"QVR.CA0349999.\nWARNING\n\nMKE/ VCO/BLU"
    for codec in (NcicCodec(), NcicCodec(edits=False)):
        with pytest.raises(DecodeError, match="empty record type") as err:
            codec.decode(data)
        assert data[err.value.offset:].startswith(b"MKE/ ")
    msg = Message(mke="QVR", destinations=["CA0349999"], status="hit",
                  records=[Record(file="other", fields={"MKE": "", "ZZ9": "X"})])
    with pytest.raises(EncodeError, match="record type"):
        NcicCodec().encode(msg)


def test_a_name_with_no_part_is_refused_even_without_edits() -> None:
    # found by the fixed-point property test: NAM/, read (edits off) as a Name of no part,
    # which is written as nothing
    for codec in (NcicCodec(), NcicCodec(edits=False)):
        with pytest.raises(ValidationError, match="surname or a given name") as err:
            codec.decode(b"QW.CA0349999.NAM/,")
        assert err.value.field == "NAM" and err.value.offset == 17
    assert NcicCodec(edits=False).decode(b"QW.CA0349999.NAM/, JR").person.name.first == "JR"  # type: ignore[union-attr]


@pytest.mark.parametrize("edits", [True, False])
def test_an_identifier_of_only_dashes_and_spaces_is_refused(edits: bool) -> None:
    # found by the fixed-point property test: LIC/- read as plate '' (the '-' dropped),
    # which is written as nothing
    codec = NcicCodec(edits=edits)
    for wire, offset in ((b"QW.CA0349999.LIC/-", 17), (b"QW.CA0349999.NAM/X, Y.SOC/ - ", 26)):
        with pytest.raises(ValidationError, match="no value") as err:
            codec.decode(wire)
        assert err.value.offset == offset
    assert codec.decode(b"QW.CA0349999.LIC/AB-1").vehicle.plate == "AB1"  # type: ignore[union-attr]


def test_trailing_dot_is_an_error(codec: NcicCodec) -> None:
    with pytest.raises(DecodeError) as err:
        codec.decode(QW + b".")
    assert err.value.offset == len(QW)
    with pytest.raises(DecodeError):
        codec.decode(b"QW.CA0349999.")


def test_trailing_dot_never_encoded(codec: NcicCodec) -> None:
    msg = Message(mke="EW", origin="CA0349999", remarks="ENDS WITH.")
    with pytest.raises(EncodeError):
        codec.encode(msg)


def test_missing_ori(codec: NcicCodec) -> None:
    for data in (b"QW.NAM/SMITH, JOHN", b"QW"):
        with pytest.raises(DecodeError) as err:
            codec.decode(data)
        assert err.value.field == "ORI"
        assert err.value.format == "ncic"


def test_bad_ori_rejected_by_edits(codec: NcicCodec) -> None:
    with pytest.raises(ValidationError) as err:
        codec.decode(b"QW.C10349999.NAM/SMITH, JOHN")
    assert err.value.field == "ORI" and err.value.offset == 3
    assert NcicCodec(edits=False).decode(b"QW.C10349999.NAM/SMITH, JOHN").origin == "C10349999"


@pytest.mark.parametrize("edits", [True, False])
@pytest.mark.parametrize("data", [b"QV.ca0349999.LIC/7ABC123", b"QV.CA03-4999.LIC/7ABC123",
                                  b"QVR.ca0349999.\nNO RECORD"])
def test_ori_with_other_characters_is_code_21_even_without_edits(data: bytes,
                                                                 edits: bool) -> None:
    """formats.md section 1: an ORI that breaks the pattern is a reject, code 21."""
    with pytest.raises(DecodeError) as err:
        NcicCodec(edits=edits).decode(data)
    at = data.index(b".") + 1
    assert (err.value.code, err.value.field, err.value.offset) == (21, "ORI", at)


def test_bad_message_key(codec: NcicCodec) -> None:
    with pytest.raises(DecodeError) as err:
        codec.decode(b"QWXYZ.CA0349999.NAM/SMITH, JOHN")
    assert err.value.field == "MKE" and err.value.offset == 0


def test_unknown_tags_kept_in_wire_order(codec: NcicCodec) -> None:
    data = b"QW.CA0349999.ZZZ/1.NAM/SMITH, JOHN.SMT/TAT R ARM.CMC/05"
    msg = codec.decode(data)
    assert list(msg.fields.items()) == [("ZZZ", "1"), ("SMT", "TAT R ARM"), ("CMC", "05")]
    # slots in dictionary order first, then ``fields`` in their order
    assert codec.encode(msg) == b"QW.CA0349999.NAM/SMITH, JOHN.ZZZ/1.SMT/TAT R ARM.CMC/05"


def test_repeated_tag_keeps_later_values_in_fields(codec: NcicCodec) -> None:
    """NCIC supplemental data repeats tags (AKA, DOB, SMT up to nine times): the first value
    fills the slot, the later ones go to ``fields`` one a line, each checked by its edits."""
    msg = codec.decode(b"EN.CA0349999.NAM/SMITH, JOHN.NIC/W123456789.DOB/19751012"
                       b".DOB/19751013.SMT/TAT R ARM.SMT/SC L CHK")
    assert msg.person is not None and msg.person.dob == "1975-10-12"
    assert msg.fields == {"DOB": "19751013", "SMT": "TAT R ARM\nSC L CHK"}
    again = codec.decode(codec.encode(msg))
    assert again == msg
    with pytest.raises(DecodeError) as err:
        codec.decode(b"QW.CA0349999.SEX/M.SEX/Q")
    assert err.value.field == "SEX"


def test_empty_field_is_an_error(codec: NcicCodec) -> None:
    with pytest.raises(DecodeError) as err:
        codec.decode(b"QW.CA0349999.NAM/.SEX/M")
    assert err.value.field == "NAM"


def test_too_long_value_is_code_21(codec: NcicCodec) -> None:
    with pytest.raises(ValidationError) as err:
        codec.decode(b"QV.CA0349999.LIC/ABCDEFGHIJK.LIS/CA")
    assert err.value.code == 21 and err.value.field == "LIC"
    assert err.value.offset == len("QV.CA0349999.LIC/")
    assert err.value.format == "ncic"


def test_unknown_code_rejected(codec: NcicCodec) -> None:
    with pytest.raises(ValidationError) as err:
        codec.decode(b"QW.CA0349999.NAM/SMITH, JOHN.SEX/Q")
    assert err.value.field == "SEX" and err.value.value == "Q"
    assert NcicCodec(edits=False).decode(b"QW.CA0349999.NAM/SMITH, JOHN.SEX/Q").person.sex == "Q"


def test_bad_date_rejected_even_without_edits() -> None:
    for c in (NcicCodec(), NcicCodec(edits=False)):
        with pytest.raises(ValidationError) as err:
            c.decode(b"QW.CA0349999.NAM/SMITH, JOHN.DOB/19751340")
        assert err.value.field == "DOB"
        assert err.value.offset == len("QW.CA0349999.NAM/SMITH, JOHN.DOB/")


def test_future_dob_rejected(codec: NcicCodec) -> None:
    future = (dt.date.today() + dt.timedelta(days=400)).strftime("%Y%m%d").encode()
    with pytest.raises(ValidationError) as err:
        codec.decode(b"QW.CA0349999.NAM/SMITH, JOHN.DOB/" + future)
    assert err.value.field == "DOB" and err.value.code == 21


def test_vin_check_digit_is_a_warning(codec: NcicCodec) -> None:
    msg = codec.decode(b"QV.CA0349999.VIN/1HGCM82633A004353")
    assert msg.warnings == ["VIN check digit mismatch"]


def test_height_parsed_and_written(codec: NcicCodec) -> None:
    msg = codec.decode(b"EW.CA0349999.NAM/DOE, JANE.HGT/510")
    assert msg.person is not None and msg.person.height_in == 70
    with pytest.raises(ValidationError):
        codec.decode(b"EW.CA0349999.NAM/DOE, JANE.HGT/515")


def test_unsolicited_key_with_dot(codec: NcicCodec) -> None:
    data = (b"$.L.CA0349999.\nLOCATE NOTIFICATION\n\nMKE/LOCATED WANTED PERSON\n"
            b"NAM/SMITH, JOHN J NIC/W123456789 ORI/NV0020000")
    msg = codec.decode(data)
    assert msg.mke == "$.L" and msg.destinations == ["CA0349999"]
    assert msg.records[0].file == "wanted"
    assert msg.records[0].fields == {"MKE": "LOCATED WANTED PERSON"}
    assert codec.encode(msg) == data


# ----------------------------------------------------------------------------- encodings


def test_cp037_and_ascii_differ_but_agree(codec: NcicCodec) -> None:
    ebcdic = NcicCodec(encoding="cp037")
    wire = ebcdic.encode(codec.decode(QW))
    assert wire != QW and wire[:2] == b"\xd8\xe6"  # Q W in EBCDIC
    assert to_dict(ebcdic.decode(wire)) == QW_JSON
    with pytest.raises(DecodeError):
        codec.decode(wire)  # EBCDIC bytes are not ASCII


def test_cp037_and_cp500_differ_on_brackets() -> None:
    msg = Message(mke="EW", origin="CA0349999", remarks="SEE [CASE 12]! NOW")
    b037 = NcicCodec(encoding="cp037").encode(msg)
    b500 = NcicCodec(encoding="cp500").encode(msg)
    assert b037 != b500
    assert b037.replace(b"\xba", b"").replace(b"\xbb", b"").replace(b"\x5a", b"") == \
        b500.replace(b"\x4a", b"").replace(b"\x5a", b"").replace(b"\x4f", b"")
    assert NcicCodec(encoding="cp500").decode(b500).remarks == "SEE [CASE 12]! NOW"
    # reading cp037 bytes as cp500 gives other characters, never the same text
    try:
        wrong = NcicCodec(encoding="cp500").decode(b037).remarks
    except DecodeError:
        wrong = None
    assert wrong != "SEE [CASE 12]! NOW"


def test_unsupported_encoding() -> None:
    with pytest.raises(DecodeError):
        NcicCodec(encoding="utf-16")


@pytest.mark.parametrize("data", [b"", b"   ", b"\r\n", b"\x00\x01\x02", b"\xff\xfe\xfd",
                                  b"QW.CA0349999.NAM/\xe9", b"\x80QW", b"QW.CA0349999.\tNAM/X"])
def test_empty_and_garbage_raise_decode_error(codec: NcicCodec, data: bytes) -> None:
    with pytest.raises(DecodeError) as err:
        codec.decode(data)
    assert err.value.format == "ncic" and err.value.offset is not None


def test_not_bytes() -> None:
    with pytest.raises(DecodeError):
        NcicCodec().decode("QW.CA0349999")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- responses


def test_hit_with_caution_and_several_records(codec: NcicCodec) -> None:
    data = ("QWR.CA0349999.*Q0000124.\n" + BANNER + "\n\n"
            "MKE/WANTED PERSON - CAUTION\n"
            "NAM/SMITH, JOHN J DOB/19751012 SEX/M OCA/24-001234 NIC/W123456789 CMC/05 "
            "ORI/CA0349999 OFF/ASSAULT EXL/1\n\n"
            "MKE/PROTECTION ORDER\nNAM/SMITH, JOHN J MIS/NO CONTACT. STAY AWAY\n\n"
            "MKE/GANG MEMBER\nNAM/SMITH, JOHN J").encode()
    msg = codec.decode(data)
    assert msg.mke == "QWR" and msg.origin is None
    assert msg.destinations == ["CA0349999"] and msg.control == "Q0000124"
    assert msg.status == "hit" and msg.text == BANNER
    r0, r1, r2 = msg.records
    assert (r0.file, r0.caution, r0.cmc, r0.ori, r0.offense) == (
        "wanted", True, "05", "CA0349999", "ASSAULT")
    assert r0.case is not None and r0.case.nic == "W123456789"
    assert r0.fields == {"EXL": "1"}
    assert (r1.file, r1.caution, r1.remarks) == ("protection_order", False, "NO CONTACT. STAY AWAY")
    assert (r2.file, r2.fields) == ("other", {"MKE": "GANG MEMBER"})
    assert codec.encode(msg) == data


def test_record_fields_separated_by_periods_or_spaces(codec: NcicCodec) -> None:
    data = (b"QVR.CA0349999.\nWARNING\nMKE/STOLEN VEHICLE\n"
            b"LIC/7ABC123.LIS/CA  VIN/1HGCM82633A004352.\nNIC/V123456789. ORI/CA0190000")
    rec = codec.decode(data).records[0]
    assert rec.vehicle is not None and rec.vehicle.plate == "7ABC123"
    assert rec.vehicle.vin == "1HGCM82633A004352"
    assert rec.case is not None and rec.case.nic == "V123456789" and rec.ori == "CA0190000"
    assert codec.encode(codec.decode(data)) == (
        b"QVR.CA0349999.\nWARNING\n\nMKE/STOLEN VEHICLE\n"
        b"LIC/7ABC123 LIS/CA VIN/1HGCM82633A004352 NIC/V123456789 ORI/CA0190000")


def test_no_hit_echo_goes_to_message(codec: NcicCodec) -> None:
    data = b"QWR.CA0349999.\nNO NCIC WANT NAM/SMITH, JOHN J DOB/19751012 SEX/M RAC/W"
    msg = codec.decode(data)
    assert msg.status == "no_hit" and msg.text == "NO NCIC WANT" and msg.records == []
    assert msg.person is not None and msg.person.dob == "1975-10-12"
    assert codec.encode(msg) == data


def test_error_response(codec: NcicCodec) -> None:
    data = b"QWR.CA0349999.*C1.\n.21. INVALID FIELD DOB\nQW.CA0349999.NAM/X.DOB/1\nSECOND"
    msg = codec.decode(data)
    assert msg.status == "error"
    assert msg.error == ErrorInfo(21, "INVALID FIELD DOB", "QW.CA0349999.NAM/X.DOB/1\nSECOND")
    assert codec.encode(msg) == data
    bare = codec.decode(b"QWR.CA0349999.\n.22.")
    assert bare.error == ErrorInfo(22, None, None)


def test_record_edits_apply(codec: NcicCodec) -> None:
    with pytest.raises(ValidationError) as err:
        codec.decode(b"QWR.CA0349999.\nWARNING\nMKE/WANTED PERSON\nNAM/X, Y SEX/Q")
    assert err.value.field == "SEX" and err.value.offset == len(
        "QWR.CA0349999.\nWARNING\nMKE/WANTED PERSON\nNAM/X, Y SEX/")


def test_response_encode_checks(codec: NcicCodec) -> None:
    ok = Message(mke="QWR", destinations=["CA0349999"], status="no_hit")
    assert codec.encode(ok) == b"QWR.CA0349999.\nNO RECORD"
    with pytest.raises(EncodeError):
        codec.encode(Message(mke="QWR", destinations=[], status="no_hit"))
    with pytest.raises(EncodeError):  # status does not match the status line
        codec.encode(Message(mke="QWR", destinations=["CA0349999"], status="hit",
                             text="NO RECORD"))
    with pytest.raises(EncodeError):  # an inquiry key carries no records
        codec.encode(Message(mke="QW", origin="CA0349999", records=[Record(file="wanted")]))
    with pytest.raises(EncodeError):  # owner details without a tag
        codec.encode(Message(mke="QWR", destinations=["CA0349999"], status="hit",
                             records=[Record(file="registration", owner=Person(sex="M"))]))
    with pytest.raises(EncodeError):  # a value that would read as two fields
        codec.encode(Message(mke="QWR", destinations=["CA0349999"], status="hit",
                             records=[Record(file="wanted", remarks="SEE OCA/123")]))


# ----------------------------------------------------------------------------- streams


def test_stream_of_inquiries_and_responses(codec: NcicCodec) -> None:
    error = b"QWR.CA0349999.\n.21. INVALID FIELD DOB\nQW.CA0349999.NAM/X.DOB/1"
    hit = (b"QVR.CA0349999.\nWARNING\n\nMKE/STOLEN VEHICLE\nLIC/7ABC123\n\n"
           b"MKE/STOLEN VEHICLE\nLIC/X1")
    data = QW + b"\n" + QV + b"\r\n\r\n" + error + b"\n\n" + hit + b"\n\n\n" + EW + b"\n"
    msgs = list(codec.decode_stream(data))
    assert [m.mke for m in msgs] == ["QW", "QV", "QWR", "QVR", "EW"]
    assert msgs[2].error is not None and msgs[2].error.echo == "QW.CA0349999.NAM/X.DOB/1"
    assert len(msgs[3].records) == 2
    again = codec.encode_stream(msgs)
    assert [to_dict(m) for m in codec.decode_stream(again)] == [to_dict(m) for m in msgs]


def test_stream_error_offset_points_into_the_stream(codec: NcicCodec) -> None:
    data = QW + b"\n\n" + b"QV.CA0349999.LIC/ABCDEFGHIJKL"
    with pytest.raises(ValidationError) as err:
        list(codec.decode_stream(data))
    assert err.value.offset == len(QW) + 2 + len("QV.CA0349999.LIC/")


def test_inquiry_control_field_round_trips() -> None:
    codec = get_codec("ncic")
    wire = b"QV.CA0349999.*D000000042.LIC/7ABC123.LIS/CA"
    msg = codec.decode(wire)
    assert msg.control == "D000000042" and msg.vehicle is not None
    assert msg.vehicle.plate == "7ABC123"
    assert codec.encode(msg) == wire
    only = codec.decode(b"QV.CA0349999.*X1")
    assert only.control == "X1" and only.vehicle is None


@pytest.mark.parametrize("wire", [b"QV.CA0349999.*.LIC/7ABC123",
                                  b"QV.CA0349999.*ABCDEFGHIJK.LIC/7ABC123",
                                  b"QV.CA0349999.*X1."])
def test_inquiry_control_field_errors(wire: bytes) -> None:
    with pytest.raises(DecodeError):
        get_codec("ncic").decode(wire)


@pytest.mark.parametrize("value", [b"101275", b"1975-10-12"])
def test_ncic_dates_are_ccyymmdd_only(value: bytes) -> None:
    """model.md: DOB wire CCYYMMDD; only Nlets also accepts MMDDYY on input."""
    from clets.codecs.nlets import NletsCodec

    with pytest.raises(ValidationError) as info:
        NcicCodec().decode(b"QW.CA0349999.NAM/SMITH, JOHN.DOB/" + value)
    assert (info.value.code, info.value.field) == (21, "DOB")
    if value == b"101275":
        msg = NletsCodec().decode(b"QW.CA0349999.AZ.TXTNAM/SMITH, JOHN.DOB/" + value)
        assert msg.person is not None and msg.person.dob == "1975-10-12"


def test_record_type_line_may_carry_the_first_fields() -> None:
    """formats.md §1: record lines are TAG/value fields; a file that writes the record type
    and its first fields on one line decodes like the canonical two-line form."""
    one_line = (b"QWR.CA0349999.*Q1.\nWARNING - DO NOT ARREST\n\n"
                b"MKE/WANTED PERSON - CAUTION ORI/CA0340000 NAM/SMITH, JOHN J SEX/M CMC/05\n\n"
                b"MKE/MISSING PERSON\nNAM/DOE, JANE")
    codec = NcicCodec()
    msg = codec.decode(one_line)
    assert codec.decode(codec.encode(msg)) == msg
    first = msg.records[0]
    assert (first.file, first.caution, first.ori, first.cmc) == ("wanted", True, "CA0340000", "05")
    assert first.person is not None and first.person.name is not None
    assert first.person.name.last == "SMITH" and first.fields == {}
    assert msg.records[1].file == "missing"


@pytest.mark.parametrize("dob", ["1975-02-31", "19751012", "1975-1-12", "1975-13-01"])
def test_a_date_the_decoder_would_refuse_is_not_written(dob: str) -> None:
    """Canonical JSON is not checked on load; the encoder is the last gate before the wire."""
    msg = Message(mke="QW", origin="CA0349999",
                  person=Person(name=Name("SMITH", "JOHN"), dob=dob))
    for name in ("ncic", "nlets"):
        with pytest.raises(EncodeError) as err:
            get_codec(name).encode(replace(msg, destinations=["NV"]) if name == "nlets" else msg)
        assert err.value.field == "DOB"
