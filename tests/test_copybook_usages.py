"""Field types for every USAGE: worked examples (by hand, from the IBM reference) and properties.

Properties, for every type: encode -> decode is the identity over the type's whole domain;
decode of arbitrary bytes raises nothing but DecodeError; encode of a value outside the domain
is EncodeError.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clets.codecs.copybook.pictures import parse_picture
from clets.codecs.copybook.usages import (
    FieldOptions,
    FieldSpec,
    FieldType,
    field_type,
    hfp_decode,
    hfp_encode,
)
from clets.errors import DecodeError, EncodeError

CP037 = FieldOptions()
ASCII = FieldOptions(encoding="ascii")


def ft(pic: str | None, usage: str = "display", options: FieldOptions = CP037,
       **spec: Any) -> FieldType:
    return field_type(FieldSpec(parse_picture(pic) if pic else None, usage, **spec), options)


def e(text: str) -> bytes:
    return text.encode("cp037")


# ====================================================================== worked examples

@pytest.mark.parametrize(("pic", "spec", "value", "data"), [
    ("9(4)", {}, 1234, e("1234")),
    ("S9(4)", {}, 1234, bytes.fromhex("F1F2F3C4")),
    ("S9(4)", {}, -1234, bytes.fromhex("F1F2F3D4")),
    ("S9(3)V99", {}, Decimal("-1.5"), bytes.fromhex("F0F0F1F5D0")),
    ("S9(4)", {"sign_position": "leading"}, -1234, bytes.fromhex("D1F2F3F4")),
    ("S9(4)", {"sign_position": "trailing", "sign_separate": True}, -1234, e("1234-")),
    ("S9(4)", {"sign_position": "leading", "sign_separate": True}, 1234, e("+1234")),
    ("999PPP", {}, 123000, e("123")),
    ("VPPP999", {}, Decimal("0.000123"), e("123")),
    ("S9(37)", {}, -(10**37 - 1), e("9" * 36) + b"\xd9"),
])
def test_display_numbers(pic: str, spec: dict[str, Any], value: Any, data: bytes) -> None:
    t = ft(pic, **spec)
    assert t.encode(value, "F", 0) == data
    assert t.decode(data, "F", 0) == value
    assert t.length == len(data)


# IBM Enterprise COBOL Programming Guide, "Examples: numeric data and internal representation"
IBM_TABLE: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("S9999", "display", {}, 1234, "F1F2F3C4"),
    ("S9999", "display", {}, -1234, "F1F2F3D4"),
    ("9999", "display", {}, 1234, "F1F2F3F4"),
    ("9999", "national", {}, 1234, "0031003200330034"),
    ("S9999", "display", {"sign_position": "leading"}, 1234, "C1F2F3F4"),
    ("S9999", "display", {"sign_position": "leading"}, -1234, "D1F2F3F4"),
    ("S9999", "display", {"sign_position": "leading", "sign_separate": True}, 1234,
     "4EF1F2F3F4"),
    ("S9999", "display", {"sign_position": "leading", "sign_separate": True}, -1234,
     "60F1F2F3F4"),
    ("S9999", "display", {"sign_position": "trailing", "sign_separate": True}, 1234,
     "F1F2F3F44E"),
    ("S9999", "display", {"sign_position": "trailing", "sign_separate": True}, -1234,
     "F1F2F3F460"),
    ("S9999", "national", {"sign_position": "leading", "sign_separate": True}, 1234,
     "002B0031003200330034"),
    ("S9999", "national", {"sign_position": "leading", "sign_separate": True}, -1234,
     "002D0031003200330034"),
    ("S9999", "national", {"sign_position": "trailing", "sign_separate": True}, 1234,
     "0031003200330034002B"),
    ("S9999", "national", {"sign_position": "trailing", "sign_separate": True}, -1234,
     "0031003200330034002D"),
    ("S9999", "binary", {}, 1234, "04D2"),
    ("S9999", "binary", {}, -1234, "FB2E"),
    ("S9999", "comp-5", {}, 12345, "3039"),
    ("S9999", "comp-5", {}, -12345, "CFC7"),
    ("9999", "binary", {}, 1234, "04D2"),
    ("9999", "comp-5", {}, 60000, "EA60"),
    ("S9999", "packed", {}, 1234, "01234C"),
    ("S9999", "packed", {}, -1234, "01234D"),
    ("9999", "packed", {}, 1234, "01234F"),
]


@pytest.mark.parametrize(("pic", "usage", "spec", "value", "hexdata"), IBM_TABLE)
def test_ibm_programming_guide_table(pic: str, usage: str, spec: dict[str, Any], value: int,
                                     hexdata: str) -> None:
    t = ft(pic, usage, **spec)
    assert t.encode(value, "F", 0).hex().upper() == hexdata
    assert t.decode(bytes.fromhex(hexdata), "F", 0) == value


def test_ibm_programming_guide_floats() -> None:
    for usage, hexdata in (("comp-1", "434D2000"), ("comp-2", "434D200000000000")):
        t = ft(None, usage)
        assert t.encode(1234, "F", 0).hex().upper() == hexdata
        assert t.encode(-1234, "F", 0).hex().upper() == "C" + hexdata[1:]
        assert t.decode(bytes.fromhex(hexdata), "F", 0) == 1234.0


def test_display_sign_zones_as_ibm_accepts_them() -> None:
    t = ft("S9(2)")
    for zone, sign in ((0xA, 1), (0xC, 1), (0xE, 1), (0xF, 1), (0xB, -1), (0xD, -1)):
        assert t.decode(bytes([0xF1, zone << 4 | 2]), "F", 0) == sign * 12
    with pytest.raises(DecodeError, match="0x92"):
        t.decode(bytes([0xF1, 0x92]), "F", 10)
    unsigned = ft("9(2)")
    with pytest.raises(DecodeError, match="negative") as exc:
        unsigned.decode(bytes([0xF1, 0xD2]), "QTY", 10)
    assert exc.value.field == "QTY" and exc.value.offset == 11


def test_lenient_display_numbers_as_cobrix_reads_them() -> None:
    lenient = FieldOptions(lenient=True)
    t = ft("S9(5)", options=lenient)
    for text, value in (("  123", 123), ("123  ", 123), ("1 2 3", 123), ("  -12", -12),
                        ("12-  ", -12), ("+0012", 12), ("     ", None)):
        assert t.decode(e(text), "F", 0) == value, text
    assert t.decode(e("  12") + b"\xd3", "F", 0) == -123  # overpunch at the end
    with pytest.raises(DecodeError):
        t.decode(e("12A45"), "F", 0)
    with pytest.raises(DecodeError):
        ft("S9(5)").decode(e("  123"), "F", 0)  # strict by default
    with pytest.raises(DecodeError):
        ft("9(3)", options=lenient).decode(e(" -1"), "F", 0)  # no sign in an unsigned field


def test_display_blank_is_none_and_none_is_zero() -> None:
    t = ft("S9(3)")
    for blank in (e("   "), b"\0\0\0", b"\xff\xff\xff"):
        assert t.decode(blank, "F", 0) is None
    assert t.encode(None, "F", 0) == bytes.fromhex("F0F0C0")


@pytest.mark.parametrize(("sign", "value", "data"), [
    ("ibm", -12, b"01K"), ("ibm", 12, b"01B"), ("ibm", -10, b"01}"), ("ibm", 10, b"01{"),
    ("mf", -12, b"01r"), ("mf", 12, b"012"),
])
def test_ascii_overpunch(sign: str, value: int, data: bytes) -> None:
    t = ft("S9(3)", options=FieldOptions(encoding="ascii", ascii_sign=sign))
    assert t.encode(value, "F", 0) == data
    other = ft("S9(3)", options=FieldOptions(encoding="ascii",
                                             ascii_sign="mf" if sign == "ibm" else "ibm"))
    assert other.decode(data, "F", 0) == value  # both conventions are read


@pytest.mark.parametrize(("pic", "usage", "value", "hexdata"), [
    ("S9(7)", "packed", 12345, "0012345C"),
    ("S9(5)", "packed", -1234, "01234D"),
    ("9(3)", "packed", 123, "123F"),
    ("S9(5)V99", "packed", Decimal("-12345.67"), "1234567D"),
    ("9(4)", "comp-6", 1234, "1234"),
    ("9(5)", "comp-6", 12345, "012345"),
    ("S9(4)", "binary", -2, "FFFE"),
    ("9(4)", "binary", 9999, "270F"),
    ("S9(9)", "binary", 123456789, "075BCD15"),
    ("S9(18)", "binary", -1, "FFFFFFFFFFFFFFFF"),
    ("S9(4)", "comp-5", 32767, "7FFF"),
    ("9(4)", "comp-5", 65535, "FFFF"),
    ("S9(3)V9", "comp-5", Decimal("-3276.8"), "8000"),
])
def test_packed_and_binary(pic: str, usage: str, value: Any, hexdata: str) -> None:
    t = ft(pic, usage)
    data = bytes.fromhex(hexdata)
    assert t.encode(value, "F", 0) == data
    assert t.decode(data, "F", 0) == value
    assert t.length == len(data)


def test_packed_sign_nibbles_ibm_accepts() -> None:
    t = ft("S9(3)", "packed")
    assert [t.decode(bytes([0x12, 0x30 | s]), "F", 0) for s in range(0xA, 0x10)] == [
        123, -123, 123, -123, 123, 123]
    with pytest.raises(DecodeError, match="sign nibble 9"):
        t.decode(b"\x12\x39", "F", 0)
    with pytest.raises(DecodeError, match="digit nibble A"):
        t.decode(b"\x1A\x3C", "F", 0)


def test_binary_trunc_std_and_bin() -> None:
    data = bytes.fromhex("7FFF")
    with pytest.raises(DecodeError, match="TRUNC"):
        ft("S9(4)", "binary").decode(data, "F", 0)
    assert ft("S9(4)", "binary", FieldOptions(trunc="bin")).decode(data, "F", 0) == 32767
    assert ft("S9(4)", "comp-5").decode(data, "F", 0) == 32767
    with pytest.raises(EncodeError):
        ft("S9(4)", "binary").encode(10000, "F", 0)
    assert ft("S9(4)", "binary", FieldOptions(trunc="bin")).encode(10000, "F", 0) == (
        10000).to_bytes(2, "big")
    with pytest.raises(EncodeError):
        ft("S9(4)", "comp-5").encode(32768, "F", 0)


@pytest.mark.parametrize(("digits", "length", "alignment"), [
    (1, 2, 2), (4, 2, 2), (5, 4, 4), (9, 4, 4), (10, 8, 4), (18, 8, 4)])
def test_binary_sizes_and_alignment(digits: int, length: int, alignment: int) -> None:
    t = ft(f"S9({digits})", "binary")
    assert (t.length, t.alignment) == (length, alignment)


def test_hfp_known_values() -> None:
    # IBM Principles of Operation examples: 1.0 = 41100000, -0.5 = C0800000, 0.1 = 40199999A
    assert hfp_encode(1.0, 4) == bytes.fromhex("41100000")
    assert hfp_encode(-0.5, 4) == bytes.fromhex("C0800000")
    assert hfp_encode(0.1, 4) == bytes.fromhex("4019999A")
    assert hfp_encode(0.1, 8) == bytes.fromhex("401999999999999A")
    assert hfp_encode(100.0, 8) == bytes.fromhex("4264000000000000")
    assert hfp_decode(bytes.fromhex("C276A00000000000")) == -118.625
    assert hfp_decode(bytes.fromhex("7FFFFFFF")) == (1 - 2**-24) * 16.0**63
    assert hfp_decode(bytes.fromhex("00100000")) == 16.0**-65
    with pytest.raises(ValueError):
        hfp_encode(1e76, 8)


@pytest.mark.parametrize(("pic", "usage"), [
    (None, "pointer"), (None, "comp-2"), ("+9.9E+99", "display"), ("S9(3)", "packed")])
def test_huge_integers_are_encode_errors(pic: str | None, usage: str) -> None:
    """A 5 000-digit int has no default repr (ValueError): the message must not need one."""
    with pytest.raises(EncodeError, match=r"bits|fit|digits|beyond"):
        ft(pic, usage).encode(10**5000, "F", 0)


def test_trailing_zeros_are_not_decimal_places() -> None:
    assert ft("9(3)").encode(Decimal("5.000000"), "F", 0) == e("005")
    assert ft("999PPP").encode(Decimal("5E+3"), "F", 0) == e("005")


def test_comp1_comp2_types() -> None:
    c1, c2 = ft(None, "comp-1"), ft(None, "comp-2")
    assert (c1.length, c1.alignment, c2.length, c2.alignment) == (4, 4, 8, 8)
    assert c2.decode(c2.encode(-118.625, "F", 0), "F", 0) == -118.625
    ieee = ft(None, "comp-2", FieldOptions(floating="ieee"))
    assert ieee.encode(1.5, "F", 0) == struct.pack(">d", 1.5)
    with pytest.raises(DecodeError, match="NaN"):
        ieee.decode(struct.pack(">d", math.nan), "F", 0)
    with pytest.raises(EncodeError):
        c2.encode(math.inf, "F", 0)
    with pytest.raises(EncodeError):
        ft(None, "comp-1", FieldOptions(floating="ieee")).encode(1e39, "F", 0)


@pytest.mark.parametrize(("pic", "value", "text"), [
    ("ZZZ9", 5, "   5"),
    ("ZZZ9", 0, "   0"),
    ("ZZZZ", 0, "    "),
    ("ZZ,ZZ9.99", Decimal("1234.5"), " 1,234.50"),
    ("ZZ,ZZ9.99", Decimal("0.05"), "     0.05"),
    ("ZZ.ZZ", Decimal("0.05"), "  .05"),
    ("ZZ.ZZ", 0, "     "),
    ("**,**9.99", Decimal("5"), "*****5.00"),
    ("**.**", 0, "**.**"),
    ("$$$,$$9.99", Decimal("1234"), " $1,234.00"),
    ("$$$,$$9.99", Decimal("234"), "   $234.00"),
    ("$$$.$$", Decimal("0.05"), "  $.05"),
    ("$$$.$$", 0, "      "),
    ("+++9", -5, "  -5"),
    ("+++9", 5, "  +5"),
    ("---9", 5, "   5"),
    ("--,---,--9.99", Decimal("-1234567.8"), "-1,234,567.80"),
    ("--,---,--9.99", Decimal("-1.5"), "        -1.50"),
    ("ZZZ9.99CR", Decimal("-5"), "   5.00CR"),
    ("ZZZ9.99CR", Decimal("5"), "   5.00  "),
    ("ZZZ9.99DB", Decimal("-5"), "   5.00DB"),
    ("+ZZ9", 0, "+  0"),
    ("-ZZ9", -7, "-  7"),
    ("ZZ9-", -7, "  7-"),
    ("$ZZ9", 42, "$ 42"),
    ("9(8).9(2)", Decimal("12345678.9"), "12345678.90"),
    ("99/99/99", 123199, "12/31/99"),
    ("999B999", 123456, "123 456"),
    ("9(3)0(3)", 123, "123000"),
    ("ZZPP", 1200, "12"),
])
def test_numeric_edited_moves(pic: str, value: Any, text: str) -> None:
    t = ft(pic)
    assert t.encode(value, "F", 0) == e(text)
    assert t.decode(e(text), "F", 0) == value


@pytest.mark.parametrize(("pic", "usage", "value", "data"), [
    ("ZZ0ZZ9", "display", 0, e("     0")),
    ("ZZ0ZZ9", "display", 100, e("   100")),
    ("ZZ0ZZ9", "display", 1234, e(" 10234")),
    ("Z(5)/99", "display", 9, e("      09")),
    ("Z(5)/99", "display", 12345, e("  123/45")),
    ("+$$$,$$9.99", "display", Decimal("-0.01"), e("-     $0.01")),
    ("+$$$,$$9.99", "display", Decimal("1189.62"), e("+ $1,189.62")),
    ("-$$$9.99", "display", Decimal("52.67"), e("  $52.67")),
    ("-$$$9.99", "display", Decimal("-52.67"), e("- $52.67")),
    ("S999PP", "packed", 100, bytes.fromhex("001C")),
    ("S999PP", "packed", -99900, bytes.fromhex("999D")),
])
def test_where_gnucobol_departs_from_ibm(pic: str, usage: str, value: Any, data: bytes) -> None:
    """Worked by hand from the IBM Language Reference (see test_copybook_gnucobol.py)."""
    t = ft(pic, usage)
    assert t.encode(value, "F", 0) == data
    assert t.decode(data, "F", 0) == value


def test_decimal_point_is_comma() -> None:
    pic = parse_picture("ZZZ.ZZ9,99", decimal_comma=True)
    assert (pic.digits, pic.scale, pic.decimal_comma) == (8, 2, True)
    t = field_type(FieldSpec(pic, "display"), FieldOptions(encoding="cp273"))
    data = " 12.345,60".encode("cp273")
    assert t.encode(Decimal("12345.6"), "F", 0) == data
    assert t.decode(data, "F", 0) == Decimal("12345.60")
    guessed = parse_picture("Z.ZZZ.ZZ9,99")  # invalid as written: only the comma reading
    assert (guessed.decimal_comma, guessed.scale, guessed.digits) == (True, 2, 9)
    assert not parse_picture("ZZ,ZZ9.99").decimal_comma
    f = field_type(FieldSpec(parse_picture("-9,9(3)E+99", decimal_comma=True), "display"),
                   CP037)
    assert f.encode(Decimal("-1.5"), "F", 0) == e("-1,500E+00")
    assert f.decode(e("-1,500E+00"), "F", 0) == Decimal("-1.5")


def test_edited_decode_refuses_what_a_move_cannot_write() -> None:
    t = ft("ZZZ9.99")
    with pytest.raises(DecodeError, match="not how PIC edits"):
        t.decode(e("0005.00"), "AMT", 3)
    assert t.decode(e("       "), "AMT", 3) is None  # uninitialised, not zero


def test_blank_when_zero() -> None:
    t = ft("9(3)V99", blank_when_zero=True)
    assert t.encode(0, "F", 0) == e("     ")
    assert t.decode(e("     "), "F", 0) == 0
    assert t.encode(Decimal("1.5"), "F", 0) == e("00150")
    t = ft("ZZ9.99", blank_when_zero=True)
    assert t.encode(0, "F", 0) == e("      ")


def test_text_policies() -> None:
    raw = e("AB") + b"\0\0" + b"\xff"
    assert ft("X(5)").decode(raw, "F", 0) == "AB"
    keep = FieldOptions(low_values="keep", high_values="keep", trim="none")
    assert ft("X(5)", options=keep).decode(raw, "F", 0) == "AB\0\0\x9f"
    assert ft("X(5)", options=keep).encode("AB\0\0\x9f", "F", 0) == raw
    with pytest.raises(DecodeError, match="low-values") as exc:
        ft("X(5)", options=FieldOptions(low_values="error")).decode(raw, "NAME", 10)
    assert exc.value.offset == 12
    for trim, out in (("none", "  A  "), ("right", "  A"), ("left", "A  "), ("both", "A")):
        assert ft("X(5)", options=FieldOptions(trim=trim)).decode(e("  A  "), "F", 0) == out


def test_cp1047_brackets() -> None:
    """cp1047 (z/OS UNIX) and cp037 differ on [ ] ^: the code page is an option, not a guess."""
    assert ft("X(3)", options=FieldOptions(encoding="cp1047")).encode("[^]", "F", 0) == (
        bytes.fromhex("AD5FBD"))
    assert ft("X(3)").encode("[^]", "F", 0) == bytes.fromhex("BAB0BB")


def test_text_encode() -> None:
    assert ft("X(5)").encode("AB", "F", 0) == e("AB   ")
    assert ft("X(5)", justified=True).encode("AB", "F", 0) == e("   AB")
    with pytest.raises(EncodeError, match="longer"):
        ft("X(2)").encode("ABC", "F", 0)
    with pytest.raises(EncodeError, match="no byte"):
        ft("X(2)").encode("\u20ac", "F", 0)
    with pytest.raises(EncodeError, match="letters"):
        ft("A(2)").encode("A1", "F", 0)


def test_national() -> None:
    t = ft("N(3)", "national")
    assert t.length == 6
    assert t.encode("h\u00e9", "F", 0) == "h\u00e9 ".encode("utf-16-be")
    assert t.decode("h\u00e9\0".encode("utf-16-be"), "F", 0) == "h\u00e9"
    with pytest.raises(DecodeError, match="UTF-16"):
        t.decode(b"\xd8\x00\x00A\x00B", "F", 0)
    n = ft("S9(3)", "national", sign_position="leading", sign_separate=True)
    assert n.encode(-12, "F", 0) == "-012".encode("utf-16-be")
    assert n.length == 8


def test_national_floating_point_and_dbcs_display_1() -> None:
    t = ft("-9V9(3)E-99", "national")
    assert t.encode(Decimal("-0.25"), "F", 0) == "-2500E-01".encode("utf-16-be")
    assert t.decode("-2500E-01".encode("utf-16-be"), "F", 0) == Decimal("-0.25")
    d = ft("N(3)", "display-1")
    assert d.length == 6 and d.decode(b"\x42\xc1" * 3, "F", 0) == "42C1" * 3


def test_alphanumeric_edited() -> None:
    t = ft("XXBXX")
    assert t.encode("ABCD", "F", 0) == e("AB CD")
    assert t.encode("AB CD", "F", 0) == e("AB CD")
    assert t.decode(e("AB CD"), "F", 0) == "AB CD"
    assert t.encode("\0" * 5, "F", 0) == b"\0" * 5  # an uninitialised field, as it was
    with pytest.raises(EncodeError):
        t.encode("ABCDEF", "F", 0)
    assert ft("99/99/9999").encode(  # numeric-edited, a date
        12312026, "F", 0) == e("12/31/2026")


@pytest.mark.parametrize(("pic", "value", "text"), [
    ("+9.9(4)E+99", Decimal("123.45"), "+1.2345E+02"),
    ("+9.9(4)E+99", Decimal("-0.000102"), "-1.0200E-04"),
    ("+9.9(4)E+99", 0, "+0.0000E+00"),
    ("-99V99E-99", Decimal("123.4"), " 1234E 01"),
    ("-99V99E-99", -5, "-5000E-01"),
    ("+.9(5)E+99", Decimal("12345"), "+.12345E+05"),
])
def test_external_floating_point(pic: str, value: Any, text: str) -> None:
    t = ft(pic)
    assert t.encode(value, "F", 0) == e(text)
    assert t.decode(e(text), "F", 0) == value
    with pytest.raises(EncodeError, match="significant digits"):
        t.encode(Decimal("1.234567"), "F", 0)
    with pytest.raises(EncodeError, match="beyond 99"):
        t.encode(Decimal("1E+150"), "F", 0)
    with pytest.raises(DecodeError, match="not an external floating-point"):
        t.decode(e("X" * t.length), "F", 0)


@given(st.sampled_from(["+9.9(4)E+99", "-99V99E-99", "+.9(5)E+99", "-9(16)E+99"]),
       st.integers(-(10**16) + 1, 10**16 - 1), st.integers(-80, 80))
def test_external_floating_round_trip(pic: str, mantissa: int, exponent: int) -> None:
    t = ft(pic)
    digits = parse_picture(pic).digits
    value = Decimal(f"{mantissa % 10**digits * (1 if mantissa >= 0 else -1)}E{exponent}")
    assert t.decode(t.encode(value, "F", 0), "F", 0) == value


@pytest.mark.parametrize(("pic", "length", "value", "hexdata"), [
    ("X(2)", 2, 65535, "FFFF"), ("X", 1, 7, "07"), ("9(2)", 1, 99, "63"), ("9(3)", 2, 999, "03E7"),
    ("9(5)", 3, 99999, "01869F"), ("9(3)V9", 2, Decimal("99.9"), "03E7")])
def test_micro_focus_comp_x(pic: str, length: int, value: Any, hexdata: str) -> None:
    t = ft(pic, "comp-x")
    assert t.length == length
    assert t.encode(value, "F", 0).hex().upper() == hexdata
    assert t.decode(bytes.fromhex(hexdata), "F", 0) == value
    with pytest.raises(EncodeError):
        t.encode(-1, "F", 0)


def test_cobrix_comp_9_is_little_endian_binary() -> None:
    t = ft("S9(4)", "comp-9")
    assert (t.length, t.encode(-2, "F", 0)) == (2, b"\xfe\xff")
    assert t.decode(b"\xd2\x04", "F", 0) == 1234
    from clets.codecs.copybook.usages import USAGE_KEYWORDS

    assert USAGE_KEYWORDS["COMP-3U"] == "comp-6"  # Cobrix's name for unsigned packed


def test_pointer_and_index() -> None:
    assert ft(None, "pointer").length == 4
    p8 = ft(None, "pointer", FieldOptions(pointer_size=8))
    assert p8.length == 8 and p8.decode(b"\xff" * 8, "F", 0) == 2**64 - 1
    assert ft(None, "index").decode(b"\xff\xff\xff\xfe", "F", 0) == -2
    proc = ft(None, "procedure-pointer")
    assert (proc.length, proc.alignment) == (8, 4)
    assert ft(None, "function-pointer").length == 4
    with pytest.raises(EncodeError):
        ft(None, "pointer").encode(-1, "F", 0)


def test_usage_keywords_cover_every_spelling() -> None:
    from clets.codecs.copybook.usages import USAGE_KEYWORDS

    for word, usage in USAGE_KEYWORDS.items():
        pic = None if usage in ("comp-1", "comp-2", "pointer", "index", "function-pointer",
                                "procedure-pointer") else "X(2)" if usage == "comp-x" else (
            "N(2)" if usage in ("national", "display-1") else "9(4)")
        assert ft(pic, usage).length > 0, word


def test_bad_combinations_are_picture_errors() -> None:
    from clets.codecs.copybook.pictures import PictureError

    for pic, usage, spec in (("X(3)", "packed", {}), ("9(19)", "binary", {}),
                             ("9(3)", "display", {"sign_separate": True}),
                             ("X(3)", "display", {"blank_when_zero": True}),
                             ("S9(3)", "display", {"blank_when_zero": True}),
                             ("9(3)", "display", {"justified": True}),
                             ("S9(3)", "comp-6", {}), ("9", "comp-1", {})):
        with pytest.raises(PictureError):
            ft(pic, usage, **spec)
    with pytest.raises(PictureError):
        ft(None, "display")
    with pytest.raises(PictureError):
        ft("X", options=FieldOptions(encoding="no-such-page"))


# ====================================================================== properties


@st.composite
def numeric_pictures(draw: st.DrawFn) -> str:
    signed = draw(st.booleans())
    total = draw(st.integers(1, 38))
    form = draw(st.sampled_from(["plain", "pleft", "pright"]))
    s = "S" if signed else ""
    if form == "pleft":
        return f"{s}VP({draw(st.integers(1, 4))})9({total})"
    if form == "pright":
        return f"{s}9({total})P({draw(st.integers(1, 4))})"
    frac = draw(st.integers(0, total))
    return s + (f"9({total - frac})" if total > frac else "") + (f"V9({frac})" if frac else "")


@st.composite
def display_specs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    pic = draw(numeric_pictures())
    spec: dict[str, Any] = {}
    if pic.startswith("S"):
        spec["sign_position"] = draw(st.sampled_from([None, "leading", "trailing"]))
        spec["sign_separate"] = draw(st.booleans()) and spec["sign_position"] is not None
    return pic, spec


OPTIONS = st.sampled_from([CP037, FieldOptions(encoding="cp500"), FieldOptions(encoding="cp1047"),
                           FieldOptions(encoding="cp1140"), FieldOptions(encoding="cp273"),
                           ASCII, FieldOptions(encoding="ascii", ascii_sign="mf")])


def value_of(draw: st.DrawFn, t: Any, pic: str) -> Any:
    p = parse_picture(pic)
    limit = 10**p.digits - 1
    n = draw(st.integers(-limit if p.signed else 0, limit))
    return n * 10**-p.scale if p.scale <= 0 else Decimal(f"{n}E-{p.scale}")


def assert_same(a: Any, b: Any) -> None:
    assert a == b and type(a) is type(b), (a, b)


@given(st.data(), display_specs(), OPTIONS)
def test_display_round_trip(data: st.DataObject, ps: tuple[str, dict[str, Any]],
                            options: FieldOptions) -> None:
    pic, spec = ps
    t = ft(pic, options=options, **spec)
    v = value_of(data.draw, t, pic)
    raw = t.encode(v, "F", 0)
    assert len(raw) == t.length
    assert_same(t.decode(raw, "F", 0), v)


@given(st.data(), display_specs(), st.booleans())
def test_national_numbers_round_trip(data: st.DataObject, ps: tuple[str, dict[str, Any]],
                                     edited: bool) -> None:
    """USAGE NATIONAL numbers: national decimal and national numeric-edited, UTF-16BE."""
    pic, spec = ps
    if edited:
        pic, spec = data.draw(st.sampled_from(EDITED)), {}
    t = ft(pic, "national", **spec)
    v = value_of(data.draw, t, pic)
    raw = t.encode(v, "F", 0)
    assert len(raw) == t.length and raw.decode("utf-16-be").isascii()
    assert_same(t.decode(raw, "F", 0), v)


@given(st.data(), numeric_pictures(), st.sampled_from(["packed", "comp-6", "binary",
                                                       "comp-5"]))
def test_packed_binary_round_trip(data: st.DataObject, pic: str, usage: str) -> None:
    p = parse_picture(pic)
    if usage == "comp-6" and p.signed:
        pic = pic[1:]
    if usage in ("binary", "comp-5") and p.digits > 18:
        return
    t = ft(pic, usage)
    v = value_of(data.draw, t, pic)
    raw = t.encode(v, "F", 0)
    assert len(raw) == t.length
    assert_same(t.decode(raw, "F", 0), v)


@given(st.sampled_from(["S9(4)", "9(4)", "S9(9)", "9(9)", "S9(18)", "9(18)", "S9(2)V99"]),
       st.sampled_from(["comp-5", "bin"]), st.data())
def test_binary_full_range_round_trip(pic: str, how: str, data: st.DataObject) -> None:
    t: Any = ft(pic, "comp-5") if how == "comp-5" else ft(pic, "binary",
                                                            FieldOptions(trunc="bin"))
    raw = data.draw(st.binary(min_size=t.length, max_size=t.length))
    v = t.decode(raw, "F", 0)
    assert t.encode(v, "F", 0) == raw
    assert_same(t.decode(t.encode(v, "F", 0), "F", 0), v)


EDITED = ["ZZZ9", "ZZZZ", "ZZ,ZZ9.99", "ZZ.ZZ", "**,**9.99", "**.**", "$$$,$$9.99", "$$$.$$",
          "+++9", "---9", "--,---,--9.99", "ZZZ9.99CR", "ZZZ9.99DB", "+ZZ9", "-ZZ9", "ZZ9-",
          "ZZ9+", "$ZZ9", "$**9.99", "9(8).9(2)", "99/99/99", "999B999", "9(3)0(3)", "ZZPP",
          "ZZ9V99", "+$$$,$$9.99", "$$$,$$9.99CR", "Z(30)9.99-", "-(20)9.9(6)", "$$B$$9",
          "ZZ0ZZ9", "+9(37)", "***9", "*(5)", "ZZ,ZZZ,ZZ9.99DB"]


@given(st.data(), st.sampled_from(EDITED), st.booleans(), OPTIONS)
def test_edited_round_trip(data: st.DataObject, pic: str, bwz: bool,
                           options: FieldOptions) -> None:
    if bwz and "*" in pic:
        bwz = False
    t = ft(pic, options=options, blank_when_zero=bwz)
    v = value_of(data.draw, t, pic)
    raw = t.encode(v, "F", 0)
    assert len(raw) == t.length
    assert_same(t.decode(raw, "F", 0), v)


@st.composite
def edited_pictures(draw: st.DrawFn) -> str:
    """Numeric-edited pictures put together from the parts COBOL allows; the ones our
    parser refuses are skipped (so this also says nothing refused is needed here)."""
    prefix = draw(st.sampled_from(["", "+", "-", "$", "+$", "-$"]))
    kind = draw(st.sampled_from(["Z", "*", "9", "$", "+", "-"]))
    whole = draw(st.integers(1, 9))
    body = ""
    for i in range(whole):
        body += kind if (kind not in "$+-" or i < whole - 1 or draw(st.booleans())) else "9"
        if i < whole - 1 and draw(st.integers(0, 4)) == 0:
            body += draw(st.sampled_from([",", "B", "0", "/"]))
    if kind in "$+-":
        body = kind + body  # the floating string's extra leading symbol
    point = draw(st.sampled_from(["", ".", "V"]))
    frac = draw(st.integers(0, 4)) if point else 0
    frac_kind = draw(st.sampled_from(["9", kind])) if kind != "9" else "9"
    if frac_kind != "9" and "9" in body:
        frac_kind = "9"
    suffix = draw(st.sampled_from(["", "CR", "DB", "+", "-"]))
    return prefix + body + point + frac_kind * frac + suffix


@given(edited_pictures(), st.data(), OPTIONS)
def test_generated_edited_pictures_round_trip(pic: str, data: st.DataObject,
                                              options: FieldOptions) -> None:
    from clets.codecs.copybook.pictures import PictureError

    try:
        p = parse_picture(pic)
        t = ft(pic, options=options)
    except PictureError:
        assume(False)
        return
    assert p.category in ("numeric-edited", "numeric")  # "99V9" is plain numeric
    for _ in range(3):
        v = value_of(data.draw, t, pic)
        raw = t.encode(v, "F", 0)
        assert len(raw) == t.length
        assert_same(t.decode(raw, "F", 0), v)


@given(st.sampled_from(EDITED), st.binary(max_size=40), st.booleans())
def test_edited_decode_is_exact_or_an_error(pic: str, tail: bytes, ascii_: bool) -> None:
    options = ASCII if ascii_ else CP037
    t = ft(pic, options=options)
    chars = "0123456789 *$+-,./CRDB"
    raw = bytes(tail[i % len(tail)] for i in range(t.length)) if tail else b""
    # mostly plausible characters, so that some of them decode
    raw = bytes(b if b % 3 else chars[b % len(chars)].encode(options.encoding if ascii_ else
                                                            "cp037")[0] for b in raw)
    assume(len(raw) == t.length)
    try:
        v = t.decode(raw, "F", 0)
    except DecodeError:
        return
    if v is not None:
        assert t.encode(v, "F", 0) == raw


@given(st.sampled_from(["X(8)", "A(3)", "N(4)", "XXBXX", "NNBNN", "G(2)"]),
       st.sampled_from(["keep", "space"]), st.sampled_from(["none", "right", "left", "both"]),
       st.booleans(), st.data())
def test_text_round_trip(pic: str, low: str, trim: str, justified: bool,
                         data: st.DataObject) -> None:
    """decode(encode(v)) is v padded as the field pads it, then trimmed by the policy; and
    that form is a fixed point."""
    options = FieldOptions(low_values=low, high_values=low, trim=trim)
    p = parse_picture(pic)
    usage = "national" if "N" in pic else "display"
    justified = justified and p.category in ("alphanumeric", "alphabetic", "national")
    t = ft(pic, usage, options, justified=justified)
    if p.category == "dbcs":
        v = data.draw(st.binary(min_size=t.length, max_size=t.length)).hex().upper()
        expect = v
    elif p.category in ("alphanumeric-edited", "national-edited"):
        v = data.draw(st.text("ABC 12", min_size=5, max_size=5))
        v = expect = v[:2] + " " + v[3:]
    else:
        if p.category == "alphabetic":
            alphabet = st.sampled_from("ABCxyz ")
        elif usage == "display":
            alphabet = st.characters(codec="cp037")
        else:
            alphabet = st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"])
        v = data.draw(st.text(alphabet, max_size=p.size))
        if low == "space":
            v = v.replace("\0", "x").replace("\x9f", "x").replace("\uffff", "x")
        full = v.rjust(p.size) if justified else v.ljust(p.size)
        expect = {"none": full, "right": full.rstrip(" "), "left": full.lstrip(" "),
                  "both": full.strip(" ")}[trim]
    raw = t.encode(v, "F", 0)
    assert len(raw) == t.length
    assert t.decode(raw, "F", 0) == expect
    if trim in ("none", "left" if justified else "right"):  # trims only padding
        assert t.encode(expect, "F", 0) == raw


@given(st.floats(allow_nan=False, allow_infinity=False), st.booleans())
def test_comp2_hfp_exact_for_every_double_in_range(x: float, negative: bool) -> None:
    assume(x == 0 or 16.0**-65 <= abs(x) < 16.0**63)
    t = ft(None, "comp-2")
    assert t.decode(t.encode(x, "F", 0), "F", 0) == x


@given(st.floats(min_value=-7.2e75, max_value=7.2e75, allow_nan=False))
def test_comp1_hfp_rounds_to_nearest(x: float) -> None:
    """COMP-1 keeps 24 fraction bits: the value written is within half a unit in the last
    place of x (checked in exact fractions), and is x itself when x fits."""
    from fractions import Fraction

    raw = hfp_encode(x, 4)
    y = hfp_decode(raw)
    exponent = (raw[0] & 0x7F) - 64
    half_ulp = Fraction(16) ** exponent / 2**25
    assert abs(Fraction(x) - Fraction(y)) <= half_ulp
    assert hfp_encode(y, 4) == raw  # what was written reads back and writes the same


@given(st.binary(min_size=4, max_size=4))
def test_comp1_hfp_normalised_round_trip(raw: bytes) -> None:
    t = ft(None, "comp-1")
    v = t.decode(raw, "F", 0)
    assume(raw[1] >> 4 or not any(raw[1:]))  # normalised (leading hex digit != 0), or zero
    if any(raw[1:]):
        assert t.encode(v, "F", 0) == raw


@given(st.floats(width=32, allow_nan=False, allow_infinity=False),
       st.sampled_from(["comp-1", "comp-2"]))
def test_ieee_round_trip(x: float, usage: str) -> None:
    t = ft(None, usage, FieldOptions(floating="ieee"))
    assert t.decode(t.encode(x, "F", 0), "F", 0) == x


ALL_TYPES: list[tuple[str | None, str, dict[str, Any], FieldOptions]] = [
    ("S9(5)V99", "display", {}, CP037), ("9(5)", "display", {}, CP037),
    ("S9(5)", "display", {"sign_position": "leading", "sign_separate": True}, CP037),
    ("S9(5)", "display", {}, ASCII), ("S9(7)V99", "packed", {}, CP037),
    ("9(4)", "packed", {}, CP037), ("9(5)", "comp-6", {}, CP037),
    ("S9(4)", "binary", {}, CP037), ("9(9)", "binary", {}, CP037),
    ("S9(18)", "comp-5", {}, CP037), (None, "comp-1", {}, CP037), (None, "comp-2", {}, CP037),
    (None, "comp-2", {}, FieldOptions(floating="ieee")), (None, "pointer", {}, CP037),
    ("X(6)", "display", {}, CP037), ("X(6)", "display", {}, FieldOptions(low_values="error")),
    ("N(3)", "national", {}, CP037), ("S9(3)", "national", {}, CP037),
    ("ZZ,ZZ9.99CR", "display", {}, CP037), ("$$$9.99", "display", {}, ASCII),
    ("XXBXX", "display", {}, CP037), ("NNBN", "national", {}, CP037),
    ("G(2)", "display", {}, CP037), ("9(3)", "display", {"blank_when_zero": True}, CP037),
    ("+9.9(4)E+99", "display", {}, CP037), ("-99V99E-99", "display", {}, ASCII),
    ("S9(5)V99", "display", {}, FieldOptions(lenient=True)),
    ("9(5)", "display", {}, FieldOptions(lenient=True, encoding="ascii")),
]


@given(st.sampled_from(ALL_TYPES), st.data())
def test_decode_raises_only_decode_error(case: Any, data: st.DataObject) -> None:
    """Bytes of the field's length (mostly; sometimes not), from all 256 values and from the
    characters that matter, so that decoding gets past the first check."""
    pic, usage, spec, options = case
    t = ft(pic, usage, options, **spec)
    size = data.draw(st.sampled_from([t.length] * 6 + [0, t.length - 1, t.length + 1]))
    page = "latin-1" if options.encoding == "ascii" else options.encoding
    useful = list(range(256)) + list(" 0123456789+-.,*$CRDBE{}ABJKpy".encode(page)) * 4
    raw = bytes(data.draw(st.lists(st.sampled_from(useful), min_size=max(size, 0),
                                   max_size=max(size, 0))))
    try:
        value = t.decode(raw, "F", 0)
    except DecodeError as exc:
        assert exc.field == "F"
        return
    if value is not None and usage not in ("comp-1", "comp-2"):
        again = t.decode(t.encode(value, "F", 0), "F", 0)  # what decodes, encodes
        assert again == value


@given(st.sampled_from(ALL_TYPES),
       st.one_of(st.integers(), st.decimals(), st.floats(), st.text(max_size=12),
                 st.booleans(), st.binary(max_size=4), st.lists(st.integers(), max_size=2)))
def test_encode_raises_only_encode_error(case: Any, value: Any) -> None:
    pic, usage, spec, options = case
    t = ft(pic, usage, options, **spec)
    try:
        raw = t.encode(value, "F", 0)
    except EncodeError:
        return
    assert len(raw) == t.length


@pytest.mark.parametrize(("pic", "usage", "value"), [
    ("9(3)", "display", 1000), ("9(3)", "display", -1), ("9(3)V9", "display", Decimal("1.25")),
    ("999PPP", "display", 123456), ("S9(3)", "packed", 1000), ("9(3)", "comp-6", -1),
    ("S9(4)", "binary", 10000), ("ZZ9", "display", -1), ("ZZ9.9", "display", Decimal("0.01")),
    ("X(2)", "display", 12), ("9(3)", "display", "12"), ("9(3)", "display", True),
    ("9(3)", "display", Decimal("NaN")), ("9(3)", "display", Decimal("1E+999999999")),
    ("9(3)", "display", math.inf),
    pytest.param("9(3)", "display", 10**5000, id="huge-int"),
    pytest.param("S9(4)", "comp-5", -(10**5000), id="huge-negative-int"),
    pytest.param("ZZ9", "display", 10**5000, id="huge-int-edited"),
    pytest.param("9(3)", "display", Decimal("1" + "0" * 100_000), id="huge-decimal"),
    pytest.param("9(3)V9", "display", Decimal("0." + "0" * 100_000 + "1"), id="tiny-decimal"),
])
def test_out_of_domain_is_encode_error(pic: str, usage: str, value: Any) -> None:
    with pytest.raises(EncodeError) as exc:
        ft(pic, usage).encode(value, "AMOUNT", 7)
    assert exc.value.field == "AMOUNT" and exc.value.offset == 7


PICTURES = ["X(3)", "A(2)", "XXBX", "9(4)", "S9(4)V99", "S9(38)",
            "999PPP", "VPP9", "ZZ9.99", "-Z9", "$$9.99CR", "N(3)", "NNBN", "G(2)",
            "+9.9E+99", "9(19)", "S9(18)", "X(65536)"]


@given(st.sampled_from([*PICTURES, None]), st.sampled_from([
    "display", "binary", "comp-1", "comp-2", "packed", "comp-5", "comp-6", "national",
    "pointer", "index", "display-1", "function-pointer", "procedure-pointer", "comp-x",
    "comp-9", "bogus"]),
    st.sampled_from([None, "leading", "trailing"]), st.booleans(), st.booleans(),
    st.booleans(),
    st.builds(FieldOptions, encoding=st.sampled_from(["cp037", "ascii", "cp1047", "nope"]),
              trunc=st.sampled_from(["std", "bin", "opt"]),
              floating=st.sampled_from(["hfp", "ieee", "vax"]),
              low_values=st.sampled_from(["keep", "space", "error", "x"]),
              trim=st.sampled_from(["none", "right", "left", "both", "x"]),
              pointer_size=st.sampled_from([4, 8, 2]),
              ascii_sign=st.sampled_from(["ibm", "mf", "x"])))
def test_any_combination_is_a_field_type_or_a_picture_error(
        pic: str | None, usage: str, sign: str | None, separate: bool, bwz: bool,
        justified: bool, options: FieldOptions) -> None:
    """The parser calls field_type for every item it reads: whatever the copybook says, the
    answer is a type or a PictureError (which it reports with the line), never a traceback."""
    from clets.codecs.copybook.pictures import PictureError

    spec = FieldSpec(parse_picture(pic) if pic else None, usage, sign_position=sign,
                     sign_separate=separate, blank_when_zero=bwz, justified=justified)
    try:
        t = field_type(spec, options)
    except PictureError:
        return
    assert t.length > 0 and t.alignment in (1, 2, 4, 8)
