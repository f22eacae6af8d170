"""NCIC and Nlets text as states and Nlets print it: several banner lines, values wrapped onto
the next line, text lines inside a record, repeated tags, code translations, a response
without its header (``ncic-lenient``), the GVR output header, and names without a comma."""

from __future__ import annotations

import pytest

from clets.codecs import get_codec
from clets.errors import DecodeError, ValidationError
from clets.model import to_dict

NCIC = get_codec("ncic")
LENIENT = get_codec("ncic-lenient")
NLETS = get_codec("nlets")

HIT_BODY = b"""***CAUTION*** POTENTIALLY DANGEROUS TO USMS PROTECTEE
***CAUTION*** VIOLENT TENDENCIES
MKE/WANTED PERSON - CAUTION POTENTIALLY DANGEROUS TO USMS PROTECTEE
VIOLENT TENDENCIES
EXL/1 - FULL EXTRADITION UNLESS OTHERWISE NOTED IN THE MIS FIELD
ORI/MD1012345 NAM/SMITH, JOHN J SEX/M RAC/W POB/TX CTZ/US
DOB/19751012 HGT/510 WGT/180 EYE/BRO HAI/BLK SKN/MED
SMT/TAT R ARM FPC/PO12DI13PMPI16XX14AA
OFF/ASSAULT - AGGRAV-WEAPON
DOW/20240301 OCA/24-001234 CMC/05 - VIOLENT TENDENCIES
MIS/SUBJECT MAY BE IN NEVADA AND IS KNOWN TO CARRY A
HANDGUN IN HIS VEHICLE
NIC/W123456789 DTE/20240302 1200 EST DLU/20240303 0900 EST
IMMED CONFIRM WARRANT AND EXTRADITION WITH ORI
AKA/SMYTHE, JOHN DOB/19751013 SMT/SC L CHK"""


def test_a_hit_without_header_is_read_by_the_lenient_codec_only() -> None:
    with pytest.raises(DecodeError):
        NCIC.decode(HIT_BODY)
    msg = LENIENT.decode(HIT_BODY)
    assert msg.mke == "RESP" and msg.destinations == [] and msg.status == "hit"
    assert msg.text == ("***CAUTION*** POTENTIALLY DANGEROUS TO USMS PROTECTEE\n"
                        "***CAUTION*** VIOLENT TENDENCIES")
    (rec,) = msg.records
    assert rec.file == "wanted" and rec.caution
    # the record type over two lines is kept as printed
    assert rec.fields["MKE"] == ("WANTED PERSON - CAUTION POTENTIALLY DANGEROUS TO USMS "
                                 "PROTECTEE\nVIOLENT TENDENCIES")
    assert rec.cmc == "05 - VIOLENT TENDENCIES"  # the code's translation is kept
    assert rec.fields["EXL"].startswith("1 - FULL")
    assert rec.remarks == ("SUBJECT MAY BE IN NEVADA AND IS KNOWN TO CARRY A\n"
                           "HANDGUN IN HIS VEHICLE")
    assert rec.fields["TXT"] == "IMMED CONFIRM WARRANT AND EXTRADITION WITH ORI"
    # supplemental data repeats DOB and SMT: the later values in fields, one a line
    assert rec.person is not None and rec.person.dob == "1975-10-12"
    assert rec.fields["DOB"] == "19751013" and rec.fields["SMT"] == "TAT R ARM\nSC L CHK"
    again = LENIENT.decode(LENIENT.encode(msg))
    assert to_dict(again) == to_dict(msg)


def test_the_same_hit_with_a_header_is_read_by_the_strict_codec() -> None:
    msg = NCIC.decode(b"QWR.CA0349999.*Q1.\n" + HIT_BODY)
    assert msg.mke == "QWR" and msg.control == "Q1" and len(msg.records) == 1
    assert to_dict(NCIC.decode(NCIC.encode(msg))) == to_dict(msg)


def test_a_translated_code_is_checked_by_its_code() -> None:
    with pytest.raises(ValidationError) as err:
        NCIC.decode(b"QWR.CA0349999.\nWARNING\n\nMKE/WANTED PERSON\nNAM/SMITH, JOHN "
                    b"EXL/9 - NOT A CODE")
    assert err.value.field == "EXL"


def test_a_value_in_fields_breaking_its_edit_is_refused_at_its_offset() -> None:
    data = (b"QWR.CA0349999.\nWARNING\n\nMKE/WANTED PERSON\n"
            b"NAM/SMITH, JOHN SMT/TATTOO ON THE RIGHT ARM")
    with pytest.raises(ValidationError) as err:
        NCIC.decode(data)
    assert err.value.field == "SMT" and err.value.offset == data.index(b"SMT/") + 4
    assert "longer than 10" in err.value.reason


def test_a_name_without_a_comma_is_refused_with_ncics_rule() -> None:
    with pytest.raises(ValidationError) as err:
        NCIC.decode(b"QW.CA0349999.NAM/SMITH JOHN E.DOB/19751012")
    assert err.value.field == "NAM"
    assert "comma after the surname" in err.value.reason
    # a surname alone, one word, is a name
    assert NCIC.decode(b"QW.CA0349999.NAM/SMITH.DOB/19751012").person is not None


def test_gq_reads_the_registrants_name_as_nlets_defines_it() -> None:
    """Nlets GQ: NAM is the registrant, LAST FIRST MI or a business, spaces between names."""
    data = b"GQ.AZNLETS20.FA.TXT\nATN/NLETS_ANALYST.NAM/SMITH JOHN E"
    msg = NLETS.decode(data)
    assert msg.person is None and msg.fields == {"NAM": "SMITH JOHN E"}
    assert msg.attention == "NLETS_ANALYST"
    assert NLETS.encode(msg) == data
    with pytest.raises(ValidationError) as err:
        NLETS.decode(b"GQ.AZNLETS20.FA.TXT\nATN/X.NAM/" + b"A" * 41)
    assert err.value.field == "NAM"


def test_gvr_output_header_as_nlets_prints_it() -> None:
    data = (b"GVR.NL0000000.\n13:00 09/28/2017 00038\n13:00 09/28/2017 01106\nAZNLETS46.TXT\n"
            b"VIN: 3GNEC12J48G183197\nVEHICLE DATA")
    msg = NLETS.decode(data)
    assert msg.origin == "NL0000000" and msg.destinations == ["AZNLETS46"]
    assert msg.sequence == 38 and msg.fields["OSN"] == "01106"
    assert msg.text == "VIN: 3GNEC12J48G183197\nVEHICLE DATA"
    assert NLETS.encode(msg) == data  # written back in the service's own header form
    # the standard form of another key is unchanged
    er = NLETS.decode(b"ER.NL0000000\n08:00 01/01/2010 01239\n08:00 01/01/2011 01233 "
                      b"AZNLETS20\nTXT\n.22. INVALID MESSAGE FORMAT")
    assert er.destinations == ["AZNLETS20"] and er.error is not None


@pytest.mark.parametrize("wire", [
    b"LPQ.AZNLETS20.NL.TXT\nLIC/ABC123",
    b"LPQ.AZNLETS20.AL.TXT\nEID/1234567890.DAT/20120612",
    b"GQ.AZNLETS20.FA.TXT\nATN/NLETS_ANALYST.SER/18-709",
    b"GQ.AZNLETS20.FA.TXT\nATN/NLETS_ANALYST.REG/XLETS",
    b"YQ.AZNLETS20.AZ0000000.TXT\nRTY/SS.PRI/R.OCA/10000000000.NIC/A111110000."
    b"SER/110011001100.DEN/123456789",
    b"YQ.CA0349999.ON0000000.TXT\nRTY/WP.RNO/1.PRI/U.OCA/24-1.NIC/NONE.NAM/SMITH, JOHN",
])
def test_published_nlets_inquiries_decode_with_every_tag_known(wire: bytes) -> None:
    from clets.model import default_dictionary

    msg = NLETS.decode(wire)
    d = default_dictionary()
    assert all(d.row_for(tag, msg.mke) is not None for tag in msg.fields), msg.fields
    assert NLETS.encode(msg) == wire


def test_banner_lines_and_an_echo_over_two_lines() -> None:
    data = (b"QWR.CA0349999.\nNO NCIC WANT NAM/SMITH, JOHN J DOB/19751012\nSEX/M RAC/W\n"
            b"NO NCIC PROTECTION ORDER\nEND OF RESPONSE")
    msg = NCIC.decode(data)
    assert msg.status == "no_hit" and msg.records == []
    assert msg.person is not None and msg.person.sex == "M"
    assert msg.text == "NO NCIC WANT\nNO NCIC PROTECTION ORDER\nEND OF RESPONSE"
    assert to_dict(NCIC.decode(NCIC.encode(msg))) == to_dict(msg)


def test_trailing_blanks_on_header_lines_are_not_fields() -> None:
    """Copies of printed output keep the blanks that end a line."""
    msg = NLETS.decode(b"DR.NVOLN0000  \n10:15 01/01/2012 01234  \n10:15 01/01/2012 05678 "
                       b"AZNLETS20 \nTXT\nNOT ON FILE")
    assert (msg.origin, msg.destinations, msg.sequence) == ("NVOLN0000", ["AZNLETS20"], 1234)
    assert msg.status == "no_hit"
    resp = NCIC.decode(b"QWR.CA0349999. \nNO NCIC WANT NAM/SMITH, JOHN  \n")
    assert resp.destinations == ["CA0349999"] and resp.status == "no_hit"


def test_an_nlets_body_of_space_separated_fields_is_a_response_line() -> None:
    msg = NLETS.decode(b"LPR.NL0000000\n08:00 01/01/2012 01239\n08:00 01/01/2012 01233 "
                       b"AZNLETS20\nTXT\nLIC/ABC123 EID/1234567890 DAT/20120612 LOC/AL")
    assert msg.vehicle is not None and msg.vehicle.plate == "ABC123"
    assert msg.fields["EID"] == "1234567890" and msg.fields["LOC"] == "AL"


def test_a_prefix_keeps_the_edit_of_its_own_message_type_only() -> None:
    """LPQ's LOC is a 2-character state code; the road and weather query's LOC is a place."""
    assert NLETS.decode(b"HQ.AZNLETS20.NV.TXT\nLOC/I-80").fields == {"LOC": "I-80"}
    with pytest.raises(ValidationError) as err:
        NLETS.decode(b"LPQ.AZNLETS20.NL.TXT\nLIC/ABC123.LOC/I-80")
    assert err.value.field == "LOC"


def test_a_caution_in_its_own_words_is_a_caution() -> None:
    data = (b"QVR.CA0349999.\nWARNING\n\nMKE/STOLEN VEHICLE - OCCUPANTS ARMED\n"
            b"LIC/ABC123 LIS/CA NIC/V123456789")
    (rec,) = NCIC.decode(data).records
    assert (rec.file, rec.caution) == ("vehicle", True)
    assert NCIC.encode(NCIC.decode(data)) == data


@pytest.mark.parametrize("wire", [
    b"LW.MD1012600.NAM/SMITH, JOHN J.NIC/W146203706.19990205.CASE 1234567890.EXTR",
    b"CW.MD1012600.NAM/SMITH, JOHN J.NIC/W146203706.19990205",
    b"1N01HEADER.LW.MD1012600.NAM/SMITH, JOHN J.NIC/W146203706.19990205",
    b"1N01HEADER.QW.MD1012600.NAM/SMITH, JOHN J.DOB/19511012",
])
def test_ncic_header_and_untagged_fields_after_the_last_tag(wire: bytes) -> None:
    """The NCIC manual writes a transaction header before the key, and the positional data
    of a locate or a clear after the record's identifiers: both are kept and written back."""
    msg = NCIC.decode(wire)
    assert msg.case is None or msg.case.nic == "W146203706"
    if wire.startswith(b"1N01"):
        assert msg.fields["HDR"] == "1N01HEADER" and msg.mke in ("LW", "QW")
    if b"19990205" in wire:
        assert msg.fields["POS"].split("\n")[0] == "19990205"
    assert NCIC.encode(msg) == wire


def test_a_value_its_edit_accepts_is_never_cut_at_a_dot() -> None:
    msg = NCIC.decode(b"QW.CA0349999.NAM/SMITH, JOHN.MIS/SEE ALSO.CASE 1")
    assert msg.remarks == "SEE ALSO.CASE 1" and "POS" not in msg.fields
    with pytest.raises(ValidationError):  # the text before the dot breaks the edit too
        NCIC.decode(b"QW.CA0349999.NAM/SMITH, JOHN.NIC/W1.19990205")
