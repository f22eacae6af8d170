"""The ``nlets`` codec: quoted Nlets examples, both header forms, body kinds, edits, streams."""

from __future__ import annotations

import pytest

from clets.codecs import get_codec
from clets.codecs.nlets import NletsCodec
from clets.errors import DecodeError, EncodeError, ValidationError
from clets.model import ErrorInfo, Message, Person, Record, to_dict

# Quoted from Nlets' public examples (spec/formats.md §2, domain.md §2.2, §2.3, §2.8).
ER_QUOTED = (b"ER.NL0000000\n08:00 01/01/2010 01239\n08:00 01/01/2011 01233 AZNLETS20\nTXT\n"
             b".22. INVALID MESSAGE FORMAT - REFER TO RQ MKE OPTIONS BELOW")
KQ_QUOTED = b"KQ.AZNLETS20.AZ.TXT\nNAM/SMITH,JOHN.DOB/19500101.SEX/M"
YQ_QUOTED = (b"YQ.AZNLETS20.AZ0000000.TXT\nRTY/SS.PRI/R.OCA/10000000000.NIC/A111110000.\n"
             b"SER/110011001100.DEN/123456789. ...")
YQ_CONSTRUCTED = (b"YQ.CA0349999.WA0170000.TXT\nRTY/WP.RNO/1.PRI/U.OCA/24-001234.NIC/W123456789"
                  b".NAM/SMITH, JOHN J.DOB/19751012.SEX/M")
YR_CONSTRUCTED = (b"YR.WA0170000.CA0349999.TXT\nRTY/WP.RNO/1.NIC/W123456789.OCA/24-001234. "
                  b"CONFIRMED - WARRANT ACTIVE, WILL EXTRADITE ...")


@pytest.fixture(scope="module")
def codec() -> NletsCodec:
    return NletsCodec()


def test_quoted_er_both_ways(codec: NletsCodec) -> None:
    msg = codec.decode(ER_QUOTED)
    assert (msg.format, msg.mke, msg.origin) == ("nlets", "ER", "NL0000000")
    assert msg.sent_at == "2010-01-01T08:00" and msg.sequence == 1239
    assert msg.destinations == ["AZNLETS20"]
    assert msg.fields == {"ODT": "2011-01-01T08:00", "OSN": "01233"}
    assert msg.status == "error"
    assert msg.error == ErrorInfo(22, "INVALID MESSAGE FORMAT - REFER TO RQ MKE OPTIONS BELOW",
                                  None)
    assert codec.encode(msg) == ER_QUOTED


def test_quoted_kq(codec: NletsCodec) -> None:
    msg = codec.decode(KQ_QUOTED)
    assert (msg.mke, msg.origin, msg.destinations) == ("KQ", "AZNLETS20", ["AZ"])
    assert msg.person is not None and msg.person.name is not None
    assert (msg.person.name.last, msg.person.name.first) == ("SMITH", "JOHN")
    assert msg.person.dob == "1950-01-01" and msg.person.sex == "M"
    # canonical form writes one space after the comma
    assert codec.encode(msg) == KQ_QUOTED.replace(b"SMITH,JOHN", b"SMITH, JOHN")


def test_yq_and_yr_examples(codec: NletsCodec) -> None:
    yq = codec.decode(YQ_CONSTRUCTED)
    assert yq.destinations == ["WA0170000"]
    assert yq.fields == {"RTY": "WP", "RNO": "1", "PRI": "U"}
    assert yq.case is not None and (yq.case.oca, yq.case.nic) == ("24-001234", "W123456789")
    yr = codec.decode(YR_CONSTRUCTED)
    assert yr.fields == {"RTY": "WP", "RNO": "1"}
    assert yr.case is not None and yr.case.oca == "24-001234"
    assert yr.text == "CONFIRMED - WARRANT ACTIVE, WILL EXTRADITE ..."
    quoted = codec.decode(YQ_QUOTED)
    assert quoted.fields == {"RTY": "SS", "PRI": "R", "SER": "110011001100", "DEN": "123456789"}
    assert quoted.text == "..."
    for m in (yq, yr, quoted):  # canonical order differs, content survives
        assert to_dict(codec.decode(codec.encode(m))) == to_dict(m)


def test_input_form_with_control_and_destinations(codec: NletsCodec) -> None:
    data = b"DQ.CA0349999.AZ,NV.*DQ0001.TXT\nNAM/SMITH, JOHN J.DOB/19751012.SEX/M"
    msg = codec.decode(data)
    assert msg.destinations == ["AZ", "NV"] and msg.control == "DQ0001"
    assert msg.sent_at is None and msg.sequence is None
    assert codec.encode(msg) == data
    # body on the same line as TXT, CR LF line ends, MMDDYY date: all read
    same = codec.decode(b"DQ.CA0349999.AZ,NV.*DQ0001.TXTNAM/SMITH, JOHN J.\r\nDOB/101275.SEX/M")
    assert same.person == msg.person


def test_destination_rules(codec: NletsCodec) -> None:
    with pytest.raises(ValidationError) as err:
        codec.decode(b"DQ.CA0349999.AZ,NV,OR,WA,ID,UT.TXT\nNAM/SMITH, JOHN")
    assert err.value.code == 12
    with pytest.raises(ValidationError):
        codec.decode(b"YQ.CA0349999.AZ,WA0170000.TXT\nNAM/SMITH, JOHN")
    with pytest.raises(DecodeError) as derr:
        codec.decode(b"DQ.CA0349999..TXT\nNAM/SMITH, JOHN")
    assert derr.value.field == "destinations"


def test_control_limits(codec: NletsCodec) -> None:
    with pytest.raises(DecodeError) as err:
        codec.decode(b"DQ.CA0349999.AZ.*ELEVENCHARS.TXT\nNAM/SMITH, JOHN")
    assert err.value.field == "control"
    with pytest.raises(EncodeError):
        codec.encode(Message(mke="AM", origin="CA0349999", destinations=["AZ"],
                             control="ELEVENCHARS", text="HI"))


def test_output_form_chosen_by_sequence(codec: NletsCodec) -> None:
    msg = Message(mke="AM", origin="AZ0070000", destinations=["CA0349999"],
                  sent_at="2024-04-02T09:15", sequence=10231, text="HELLO\nWORLD",
                  fields={"ODT": "2024-04-02T09:16", "OSN": "00077"})
    wire = codec.encode(msg)
    assert wire == (b"AM.AZ0070000\n09:15 04/02/2024 10231\n09:16 04/02/2024 00077 CA0349999\n"
                    b"TXT\nHELLO\nWORLD")
    back = codec.decode(wire)
    assert (back.text, back.sequence, back.fields) == (msg.text, msg.sequence, msg.fields)
    with pytest.raises(EncodeError):
        codec.encode(Message(mke="AM", origin="AZ0070000", sequence=1, text="X"))


def test_output_header_errors(codec: NletsCodec) -> None:
    bad_time = ER_QUOTED.replace(b"08:00 01/01/2010", b"25:00 01/01/2010")
    with pytest.raises(DecodeError) as err:
        codec.decode(bad_time)
    assert err.value.field == "header" and err.value.offset == len(b"ER.NL0000000\n")
    with pytest.raises(DecodeError):
        codec.decode(ER_QUOTED.replace(b"\nTXT\n", b"\nTEXT\n"))
    with pytest.raises(DecodeError):
        codec.decode(b"ER.NL0000000\n08:00 01/01/2010 01239")


def test_free_text_keys(codec: NletsCodec) -> None:
    data = b"AM.CA0349999.AZ,NV.*ADM1.TXT\nNAM/NOT A FIELD HERE.\nSECOND LINE."
    msg = codec.decode(data)
    assert msg.text == "NAM/NOT A FIELD HERE.\nSECOND LINE." and msg.person is None
    assert codec.encode(msg) == data
    with pytest.raises(EncodeError):
        codec.encode(Message(mke="AM", origin="CA0349999", destinations=["AZ"],
                             person=Person(sex="M")))


def test_multi_record_response(codec: NletsCodec) -> None:
    data = (b"DR.AZ0000000\n10:41 03/14/2024 00321\n10:41 03/14/2024 04567 CA0349999\n"
            b"*DQ0001.TXT\nMKE/DRIVER LICENSE\nNAM/SMITH, JOHN J DOB/19751012 OLN/D1 OLS/AZ "
            b"OLC/D DLS/VA DLE/20271012 PTS/2\n\nMKE/DRIVER LICENSE\nNAM/SMITH, JOHN J OLN/D2")
    msg = codec.decode(data)
    assert msg.control == "DQ0001" and msg.status == "hit" and len(msg.records) == 2
    lic = msg.records[0].person.license  # type: ignore[union-attr]
    assert lic is not None and (lic.number, lic.class_, lic.status, lic.expires) == (
        "D1", "D", "VA", "2027-10-12")
    assert msg.records[0].fields == {"PTS": "2"}
    assert codec.encode(msg) == data


def test_registration_record_with_owner(codec: NletsCodec) -> None:
    data = (b"RR.NV0000000.CA0349999.*RQ2.TXT\nMKE/VEHICLE REGISTRATION\n"
            b"LIC/6DEF456 LIS/NV OWN/DOE, JANE OZP/89109 REX/20250630 RST/AC FEE/-18.07 STL/Y")
    rec = codec.decode(data).records[0]
    assert rec.owner is not None and rec.owner.name is not None and rec.owner.name.last == "DOE"
    assert rec.registration is not None
    assert (rec.registration.fees_due, rec.registration.stolen) == ("-18.07", True)
    assert codec.encode(codec.decode(data)) == data


def test_status_line_body(codec: NletsCodec) -> None:
    data = b"DR.NV0000000.CA0349999.TXT\nNOT ON FILE NAM/SMITH, JOHN J DOB/19751012"
    msg = codec.decode(data)
    assert msg.status == "no_hit" and msg.text == "NOT ON FILE"
    assert msg.person is not None and msg.person.dob == "1975-10-12"
    assert codec.encode(msg) == data


def test_error_with_echo(codec: NletsCodec) -> None:
    data = (b"ER.NL0000000\n14:02 03/05/2024 00412\n14:02 03/05/2024 00988 CA0349999\nTXT\n"
            b".12. INVALID DESTINATION\nDQ.CA0349999.ZZ.TXT\nNAM/SMITH, JOHN J")
    msg = codec.decode(data)
    assert msg.error == ErrorInfo(12, "INVALID DESTINATION",
                                  "DQ.CA0349999.ZZ.TXT\nNAM/SMITH, JOHN J")
    assert codec.encode(msg) == data


def test_trailing_dot_and_empty_fields(codec: NletsCodec) -> None:
    with pytest.raises(DecodeError):
        codec.decode(b"DQ.CA0349999.AZ.TXT\nNAM/SMITH, JOHN.SEX/M.")
    with pytest.raises(DecodeError) as err:
        codec.decode(b"YQ.CA0349999.WA0170000.TXT\nRTY/WP.RNO/.PRI/U")
    assert err.value.field == "RNO"


def test_edits_and_offsets(codec: NletsCodec) -> None:
    data = b"DQ.CA0349999.AZ.TXT\nNAM/SMITH, JOHN.\r\nSEX/Q"
    with pytest.raises(ValidationError) as err:
        codec.decode(data)
    assert err.value.field == "SEX" and err.value.offset == data.index(b"Q", 20)
    assert NletsCodec(edits=False).decode(data).person.sex == "Q"  # type: ignore[union-attr]


def test_a_line_that_starts_with_a_tag_starts_a_field(codec: NletsCodec) -> None:
    # fuzz finding: ``MAM/X\nNAM/...`` was read as MAM = ``XNAM/...`` (the line break
    # dropped), written back on one line, and read back differently or not at all
    one_a_line = b"DQ.CA0349999.AZ,NV.*DQ0001.TXT\nNAM/SMITH, JOHN J\nDOB/19751012\r\nSEX/M"
    dotted = b"DQ.CA0349999.AZ,NV.*DQ0001.TXT\nNAM/SMITH, JOHN J.DOB/19751012.SEX/M"
    assert to_dict(codec.decode(one_a_line)) == to_dict(codec.decode(dotted))
    lenient = NletsCodec(edits=False)
    msg = lenient.decode(b"DQ.CA0349999.AZ.TXT\nMAM/SMITH, JOHNNSE\nNAM/SMITH, JOHN J DOB/1")
    assert msg.fields == {"MAM": "SMITH, JOHNNSE"}
    wire = lenient.encode(msg)
    assert to_dict(lenient.decode(wire)) == to_dict(msg)
    # with edits, the second line's NAM is refused where it starts, not swallowed
    data = b"DQ.CA0349999.AZ.TXT\nMAM/SMITH, JOHNNSE\nNAM/SMITH, JOHN J DOB/19751012 SEX/M"
    with pytest.raises(ValidationError) as err:
        codec.decode(data)
    assert err.value.field == "NAM" and data[err.value.offset - 4:].startswith(b"NAM/")


def test_fields_that_would_read_as_a_record_line_are_refused(codec: NletsCodec) -> None:
    # one field whose value holds ' TAG/' and no '.TAG/': a decoder takes the body for a
    # response's record line, so the encoder refuses it with a typed error
    msg = Message(mke="DQ", origin="CA0349999", destinations=["AZ"],
                  fields={"MAM": "SMITH NAM/JONES"})
    with pytest.raises(EncodeError, match="record line"):
        codec.encode(msg)
    msg = Message(mke="DQ", origin="CA0349999", destinations=["AZ"],
                  fields={"OCA": "24-1"}, text="SEE NAM/JONES")
    with pytest.raises(EncodeError, match="record line"):
        codec.encode(msg)
    # with a second field the '.' separator says what it is: written and read back
    msg.fields = {"MAM": "SMITH NAM/JONES", "ZZ9": "X"}
    msg.text = None
    assert codec.decode(codec.encode(msg)).fields == msg.fields


def test_text_tail_needs_structured_last_field(codec: NletsCodec) -> None:
    with pytest.raises(EncodeError):
        codec.encode(Message(mke="YR", origin="WA0170000", destinations=["CA0349999"],
                             remarks="FREE", text="MORE TEXT"))
    with pytest.raises(EncodeError):  # plain text that would read as a field
        codec.encode(Message(mke="YR", origin="WA0170000", destinations=["CA0349999"],
                             text="NAM/SMITH"))


def test_cp037(codec: NletsCodec) -> None:
    ebcdic = get_codec("nlets", encoding="cp037")
    wire = ebcdic.encode(codec.decode(ER_QUOTED))
    assert wire.startswith("ER.NL0000000".encode("cp037")) and b"\x25" in wire  # EBCDIC LF
    assert to_dict(ebcdic.decode(wire)) == to_dict(codec.decode(ER_QUOTED))
    nl = wire.replace(b"\x25", b"\x15")  # mainframe NL line ends read as line ends too
    assert to_dict(ebcdic.decode(nl)) == to_dict(codec.decode(ER_QUOTED))


@pytest.mark.parametrize("data", [b"", b"\n\n", b"ER", b"ER.NL0000000", b"ER.NL0000000.",
                                  b"\x00ER", b"DQ.CA0349999.AZ.TX", b"\xc1\xc2"])
def test_garbage(codec: NletsCodec, data: bytes) -> None:
    with pytest.raises(DecodeError) as err:
        codec.decode(data)
    assert err.value.format == "nlets"


def test_stream(codec: NletsCodec) -> None:
    am = b"AM.CA0349999.AZ.TXT\nLINE ONE\nLINE TWO"
    data = ER_QUOTED + b"\n\n" + KQ_QUOTED + b"\r\n\r\n" + am + b"\n"
    msgs = list(codec.decode_stream(data))
    assert [m.mke for m in msgs] == ["ER", "KQ", "AM"]
    assert msgs[2].text == "LINE ONE\nLINE TWO"
    again = codec.encode_stream(msgs)
    assert [to_dict(m) for m in codec.decode_stream(again)] == [to_dict(m) for m in msgs]


def test_response_record_needs_type_or_status_line(codec: NletsCodec) -> None:
    msg = Message(mke="LR", origin="AZ0000000", destinations=["CA0349999"], status="hit",
                  records=[Record(file="other", fields={"ABC": "1"})])
    with pytest.raises(EncodeError):  # LR is a free-text key
        codec.encode(msg)
    msg.mke = "XR"
    with pytest.raises(EncodeError):  # the body would read as inquiry fields
        codec.encode(msg)
    msg.text = "WARNING - RECORDS FOLLOW"
    msg.format = "nlets"
    wire = codec.encode(msg)
    assert wire == b"XR.AZ0000000.CA0349999.TXT\nWARNING - RECORDS FOLLOW\n\nABC/1"
    assert to_dict(codec.decode(wire)) == to_dict(msg)
    # an unknown status line is fine when a typed record block follows
    msg.text = "RECORDS FOLLOW"
    msg.records[0].fields["MKE"] = "GANG MEMBER"
    assert to_dict(codec.decode(codec.encode(msg))) == to_dict(msg)


@pytest.mark.parametrize("edits", [True, False])
def test_sender_ori_with_other_characters_is_code_21(edits: bool) -> None:
    """formats.md section 1: an ORI that breaks the pattern is a reject, code 21; a missing
    one is a malformed message (22)."""
    with pytest.raises(DecodeError) as err:
        NletsCodec(edits=edits).decode(b"QV.ca0349999.CA.TXTLIC/7ABC123")
    assert (err.value.code, err.value.field, err.value.offset) == (21, "ORI", 3)
    with pytest.raises(DecodeError) as err:
        NletsCodec(edits=edits).decode(b"QV.LIC/7ABC123")
    assert (err.value.code, err.value.field) == (22, "ORI")
