"""Packed, zoned and binary fields: signs, limits, blanks, bad nibbles -- in both engines.

Every check runs through the generated field code AND the construct layout (interpreted and
compiled), because the two must agree byte for byte and error for error.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.codecs.copybook import parse_copybook
from clets.errors import DecodeError, EncodeError

COPYBOOK = """
       01  NUMS.
           05  FILLER        PIC X(2).
           05  P-SIGNED      PIC S9(5)V99 COMP-3.
           05  P-UNSIGNED    PIC 9(3) COMP-3.
           05  P-EVEN        PIC S9(4) COMP-3.
           05  P-MAX         PIC S9(31) COMP-3.
           05  Z-UNSIGNED    PIC 9(4).
           05  Z-SIGNED      PIC S9(3).
           05  Z-ONE         PIC S9.
           05  Z-SCALED      PIC S9(3)V9.
           05  B-HALF        PIC S9(4) COMP.
           05  B-WORD        PIC 9(9) BINARY.
           05  T-TEXT        PIC X(5).
"""
LAYOUT = parse_copybook(COPYBOOK, source="NUMS.cpy")
COMPILED = LAYOUT.construct.compile()
OFF = {f.key: f.offset for f in LAYOUT.fields if not f.filler}
LEN = {f.key: f.length for f in LAYOUT.fields if not f.filler}
ZERO = LAYOUT.encode_fields({})


def with_field(key: str, raw: bytes) -> bytes:
    assert len(raw) == LEN[key]
    return ZERO[:OFF[key]] + raw + ZERO[OFF[key] + LEN[key]:]


def decode_all(data: bytes) -> dict[str, Any]:
    """Decode through every engine; they must agree (value or error)."""
    results = []
    for fn in (LAYOUT.decode_fields, LAYOUT.parse_construct,
               lambda d: LAYOUT.parse_construct(d, COMPILED)):
        try:
            results.append(("ok", fn(data)))
        except DecodeError as exc:
            results.append(("err", (type(exc), exc.field, exc.offset)))
    assert results[0] == results[1] == results[2]
    kind, value = results[0]
    if kind == "err":
        raise DecodeError("engines agree on an error", field=value[1], offset=value[2])
    return value  # type: ignore[no-any-return]


def encode_all(values: dict[str, Any]) -> bytes:
    out = []
    for fn in (LAYOUT.encode_fields, LAYOUT.build_construct,
               lambda v: LAYOUT.build_construct(v, COMPILED)):
        try:
            out.append(("ok", fn(values)))
        except EncodeError as exc:
            out.append(("err", (exc.field, exc.offset)))
    assert out[0] == out[1] == out[2]
    if out[0][0] == "err":
        raise EncodeError("engines agree on an error", field=out[0][1][0])
    return out[0][1]  # type: ignore[no-any-return]


def test_zero_record_layout() -> None:
    assert len(ZERO) == LAYOUT.length == 2 + 4 + 2 + 3 + 16 + 4 + 3 + 1 + 4 + 2 + 4 + 5
    assert ZERO[OFF["P-SIGNED"]:OFF["P-SIGNED"] + 4] == bytes.fromhex("0000000c")
    assert ZERO[OFF["P-UNSIGNED"]:OFF["P-UNSIGNED"] + 2] == bytes.fromhex("000f")
    assert ZERO[OFF["Z-SIGNED"]:OFF["Z-SIGNED"] + 3] == bytes.fromhex("f0f0c0")
    assert ZERO[:2] == b"\x40\x40"


@pytest.mark.parametrize(("raw", "value"), [
    ("0001807d", Decimal("-18.07")),
    ("0001807c", Decimal("18.07")),
    ("0001807f", Decimal("18.07")),
    ("0001807a", Decimal("18.07")),
    ("0001807e", Decimal("18.07")),
    ("0001807b", Decimal("-18.07")),
    ("0000000c", Decimal("0.00")),
    ("0000000d", Decimal("0.00")),  # negative zero reads as zero
    ("9999999c", Decimal("99999.99")),
    ("9999999d", Decimal("-99999.99")),
])
def test_packed_signs_on_input(raw: str, value: Decimal) -> None:
    got = decode_all(with_field("P-SIGNED", bytes.fromhex(raw)))["P-SIGNED"]
    assert got == value and str(got) == str(value)


def test_packed_output_signs_and_examples() -> None:
    # domain.md: +12345 in S9(7) COMP-3 = 00 12 34 5C; -1234 in S9(5) = 01 23 4D
    lay = parse_copybook("       01 R.\n          05 A PIC S9(7) COMP-3.\n"
                         "          05 B PIC S9(5) COMP-3.\n          05 C PIC 9(3) COMP-3.\n")
    data = lay.encode_fields({"A": 12345, "B": -1234, "C": 7})
    assert data == bytes.fromhex("0012345c" "01234d" "007f")
    assert lay.build_construct({"A": 12345, "B": -1234, "C": 7}) == data


@pytest.mark.parametrize(("key", "raw", "offset_in_field", "words"), [
    ("P-SIGNED", "00018a7c", 2, "digit nibble A"),
    ("P-SIGNED", "00018070", 3, "sign nibble 0"),
    ("P-SIGNED", "f001807c", 0, "digit nibble F"),
    ("P-UNSIGNED", "123d", 1, "unsigned"),
    ("P-EVEN", "10000c", 0, "more than the 4 digits"),
])
def test_packed_invalid_nibbles(key: str, raw: str, offset_in_field: int, words: str) -> None:
    data = with_field(key, bytes.fromhex(raw))
    with pytest.raises(DecodeError) as info:
        LAYOUT.decode_fields(data)
    assert info.value.field == key
    assert info.value.offset == OFF[key] + offset_in_field
    assert words in info.value.reason
    with pytest.raises(DecodeError):
        decode_all(data)


def test_packed_max_digits() -> None:
    big = 10**31 - 1
    assert decode_all(encode_all({"P-MAX": -big}))["P-MAX"] == -big
    with pytest.raises(EncodeError) as info:
        encode_all({"P-MAX": 10**31})
    assert info.value.field == "P-MAX"


@pytest.mark.parametrize(("raw", "value"), [
    ("f1f2c3", 123), ("f1f2d3", -123), ("f1f2f3", 123), ("f0f0d0", 0),
])
def test_zoned_signs(raw: str, value: int) -> None:
    assert decode_all(with_field("Z-SIGNED", bytes.fromhex(raw)))["Z-SIGNED"] == value


def test_zoned_output_sign_is_c_or_d() -> None:
    data = encode_all({"Z-SIGNED": -123, "Z-ONE": 5, "Z-SCALED": Decimal("-12.5")})
    assert data[OFF["Z-SIGNED"]:OFF["Z-SIGNED"] + 3] == bytes.fromhex("f1f2d3")
    assert data[OFF["Z-ONE"]:OFF["Z-ONE"] + 1] == bytes.fromhex("c5")
    assert data[OFF["Z-SCALED"]:OFF["Z-SCALED"] + 4] == bytes.fromhex("f0f1f2d5")
    assert decode_all(data)["Z-SCALED"] == Decimal("-12.5")


@pytest.mark.parametrize(("key", "raw", "at", "words"), [
    ("Z-UNSIGNED", "f1f2f3d4", 3, "unsigned"),
    ("Z-UNSIGNED", "f1c2f3f4", 1, "zone"),
    ("Z-UNSIGNED", "f1f2faf4", 2, "digit"),
    ("Z-SIGNED", "f1f2a3", 2, "sign zone A"),
    ("Z-ONE", "e5", 0, "sign zone E"),
])
def test_zoned_invalid(key: str, raw: str, at: int, words: str) -> None:
    data = with_field(key, bytes.fromhex(raw))
    with pytest.raises(DecodeError) as info:
        LAYOUT.decode_fields(data)
    assert (info.value.field, info.value.offset) == (key, OFF[key] + at)
    assert words in info.value.reason
    with pytest.raises(DecodeError):
        decode_all(data)


@pytest.mark.parametrize("fill", [0x40, 0x00, 0xFF])
def test_blank_numeric_and_text_fields(fill: int) -> None:
    values = decode_all(with_field("Z-UNSIGNED", bytes([fill] * 4))
                        [:OFF["P-SIGNED"]] + bytes([fill] * 4)
                        + with_field("Z-UNSIGNED", bytes([fill] * 4))[OFF["P-SIGNED"] + 4:])
    assert values["Z-UNSIGNED"] is None
    assert values["P-SIGNED"] is None
    text = decode_all(with_field("T-TEXT", bytes([fill] * 5)))["T-TEXT"]
    assert text == ""


def test_binary_fields() -> None:
    data = encode_all({"B-HALF": -2, "B-WORD": 123456789})
    assert data[OFF["B-HALF"]:OFF["B-HALF"] + 2] == b"\xff\xfe"
    assert data[OFF["B-WORD"]:OFF["B-WORD"] + 4] == (123456789).to_bytes(4, "big")
    assert decode_all(data)["B-HALF"] == -2
    with pytest.raises(DecodeError) as info:
        LAYOUT.decode_fields(with_field("B-HALF", (12345).to_bytes(2, "big")))
    assert info.value.field == "B-HALF"
    with pytest.raises(EncodeError):
        encode_all({"B-HALF": 10000})


@pytest.mark.parametrize(("key", "value", "words"), [
    ("P-SIGNED", Decimal("1.234"), "decimal places"),
    ("P-UNSIGNED", -1, "negative"),
    ("Z-UNSIGNED", 10000, "4 digits"),
    ("Z-SIGNED", "12", "expected a number"),
    ("T-TEXT", "TOOLONG", "longer than the 5"),
    ("T-TEXT", "A€", "no byte in cp037"),
    ("T-TEXT", 5, "expected text"),
])
def test_encode_errors_name_the_field(key: str, value: Any, words: str) -> None:
    for fn in (LAYOUT.encode_fields, LAYOUT.build_construct):
        with pytest.raises(EncodeError) as info:
            fn({key: value})
        assert info.value.field == key
        assert words in str(info.value)


def test_truncated_and_oversized_records() -> None:
    for data in (ZERO[:-1], ZERO + b"\x40", b""):
        for fn in (LAYOUT.decode_fields, LAYOUT.parse_construct):
            with pytest.raises(DecodeError, match=f"{LAYOUT.length} bytes, got {len(data)}"):
                fn(data)
        with pytest.raises(DecodeError):
            LAYOUT.parse_construct(data, COMPILED)


# --------------------------------------------------------------------------- properties

_packed7 = st.integers(-9999999, 9999999).map(lambda n: Decimal(n).scaleb(-2))
VALUES = st.fixed_dictionaries({
    "P-SIGNED": st.one_of(st.none(), _packed7),
    "P-UNSIGNED": st.integers(0, 999),
    "P-EVEN": st.integers(-9999, 9999),
    "P-MAX": st.integers(-(10**31) + 1, 10**31 - 1),
    "Z-UNSIGNED": st.integers(0, 9999),
    "Z-SIGNED": st.integers(-999, 999),
    "Z-ONE": st.integers(-9, 9),
    "Z-SCALED": st.integers(-9999, 9999).map(lambda n: Decimal(n).scaleb(-1)),
    "B-HALF": st.integers(-9999, 9999),
    "B-WORD": st.integers(0, 999999999),
    "T-TEXT": st.text(st.sampled_from("ABC XYZ019[]!^|-"), max_size=5).map(str.rstrip),
})


@given(VALUES)
def test_values_round_trip_identically_in_every_engine(values: dict[str, Any]) -> None:
    data = encode_all(values)
    back = decode_all(data)
    expected = dict(values)
    if expected["P-SIGNED"] is None:
        expected["P-SIGNED"] = Decimal("0.00")
    assert back == expected
    assert encode_all(back) == data


@given(st.binary(min_size=LAYOUT.length, max_size=LAYOUT.length))
def test_random_bytes_decode_the_same_in_every_engine(data: bytes) -> None:
    try:
        decode_all(data)
    except DecodeError:
        pass


@given(st.lists(st.tuples(st.integers(0, LAYOUT.length - 1), st.integers(0, 255)),
                max_size=6))
def test_mutated_records_decode_the_same_in_every_engine(edits: list[tuple[int, int]]) -> None:
    data = bytearray(encode_all({"P-SIGNED": Decimal("-18.07"), "Z-SIGNED": -5}))
    for pos, byte in edits:
        data[pos] = byte
    try:
        decode_all(bytes(data))
    except DecodeError:
        pass
