"""COBOL storage types as construct field types, plus the value helpers both engines share.

Two engines read a record: the construct layout (declarative, inspectable, ``.compile()``-able)
and a generated function (layout.py) that is several times faster.  They must agree exactly, so
every rule about *bytes -> value* and *value -> bytes* lives once, in the ``decode_*`` /
``encode_*`` helpers below; the construct types call them, and the generated code calls them
whenever its inline fast check does not apply (blank fields, unusual sign nibbles, errors).

Values: ``PIC X`` -> ``str`` (trailing EBCDIC spaces stripped; all low-values or all
high-values -> ``""``); numeric -> ``int``, or ``Decimal`` when the picture has ``V``; a numeric
DISPLAY or COMP-3 field that is all spaces, low-values or high-values -> ``None``.

Every failure is a :class:`~clets.errors.DecodeError` / :class:`~clets.errors.EncodeError`
naming the copybook field and the byte offset, never a bare ``ValueError`` or construct error.
"""

from __future__ import annotations

import codecs
from decimal import Decimal, InvalidOperation
from typing import Any

from construct import Construct

from clets.errors import DecodeError, EncodeError, LayoutError

__all__ = [
    "BinaryField",
    "PackedField",
    "TextField",
    "ZonedField",
    "check_encoding",
    "decode_binary",
    "decode_packed",
    "decode_text",
    "decode_zoned",
    "encode_binary",
    "encode_packed",
    "encode_text",
    "encode_zoned",
    "scaled",
    "units",
]

_BLANK_BYTES = (0x40, 0x00, 0xFF)  # EBCDIC space, low-values, high-values


def check_encoding(encoding: str) -> str:
    """The canonical codec name of an EBCDIC single-byte code page, or LayoutError.

    The generated decoder decodes a whole record at once and slices the text, and takes
    packed/binary bytes through the same code page and back, so the code page must map all
    256 bytes one to one.  cp1047 is not in the standard library: it is used when the optional
    ``ebcdic`` package is installed.
    """
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        try:
            import ebcdic  # type: ignore[import-not-found]  # noqa: F401  (registers cp1047, cp1141, ... on import)

            info = codecs.lookup(encoding)
        except (ImportError, LookupError):
            raise LayoutError(
                f"unknown code page {encoding!r} (cp037, cp500, cp1140, cp273 are built in; "
                "cp1047 needs `pip install ebcdic`)") from None
    every = bytes(range(256))
    try:
        text = every.decode(info.name)
        ok = len(text) == 256 and text.encode(info.name) == every
    except (UnicodeError, ValueError):
        ok = False
    if not ok:
        raise LayoutError(f"code page {encoding!r} is not a one-to-one single-byte code page")
    if text[0x40] != " " or [c for c in text[0xF0:0xFA]] != list("0123456789"):
        raise LayoutError(f"code page {encoding!r} is not EBCDIC (space 0x40, digits 0xF0-0xF9)")
    return info.name


def _is_blank(raw: bytes) -> bool:
    first = raw[0]
    return first in _BLANK_BYTES and raw.count(first) == len(raw)


def scaled(value: int, scale: int) -> int | Decimal:
    """An integer count of units as the field's value: ``int`` or an exact ``Decimal``."""
    if not scale:
        return value
    return Decimal(f"{value}E-{scale}")


def units(value: Any, scale: int) -> int:
    """A field value as an integer count of 10**-scale units; ValueError if it does not fit."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value * int(10**scale)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("not a finite number")
        sign, digits, exp = value.as_tuple()
        assert isinstance(exp, int)
        n = int("".join(map(str, digits)) or "0")
        shift = exp + scale
        if shift < 0:
            if n % 10**-shift:
                raise ValueError(f"more than {scale} decimal places")
            n //= 10**-shift
        else:
            n *= int(10**shift)
        return -n if sign else n
    raise ValueError(f"expected a number, got {type(value).__name__}")


# --------------------------------------------------------------------------- decode helpers


def decode_text(raw: bytes, encoding: str) -> str:
    """Space-padded text; all low-values or all high-values is empty."""
    if raw and raw[0] in (0x00, 0xFF) and raw.count(raw[0]) == len(raw):
        return ""
    return raw.decode(encoding).rstrip(" ")


def decode_zoned(raw: bytes, signed: bool, scale: int, name: str, offset: int) -> Any:
    """Zoned decimal: F0-F9 per digit, the sign in the zone nibble of the last byte."""
    if _is_blank(raw):
        return None
    n = 0
    last = len(raw) - 1
    for i, b in enumerate(raw):
        zone, digit = b >> 4, b & 0x0F
        if digit > 9:
            raise DecodeError(f"invalid zoned decimal digit byte 0x{b:02X}", field=name,
                              offset=offset + i, data=raw)
        if i < last and zone != 0xF:
            raise DecodeError(f"invalid zoned decimal zone in byte 0x{b:02X}", field=name,
                              offset=offset + i, data=raw)
        n = n * 10 + digit
    zone = raw[last] >> 4
    if zone == 0xD:
        if not signed:
            raise DecodeError("negative sign (zone D) in an unsigned field", field=name,
                              offset=offset + last, data=raw)
        n = -n
    elif zone not in (0xC, 0xF):
        raise DecodeError(f"invalid zoned decimal sign zone {zone:X} (expected C, D or F)",
                          field=name, offset=offset + last, data=raw)
    return scaled(n, scale)


_PACKED_POSITIVE = frozenset({0xA, 0xC, 0xE, 0xF})
_PACKED_NEGATIVE = frozenset({0xB, 0xD})


def decode_packed(raw: bytes, digits: int, signed: bool, scale: int, name: str,
                  offset: int) -> Any:
    """COMP-3: two digits a byte, the sign in the last low nibble (C/A/E/F +, D/B -)."""
    if _is_blank(raw):
        return None
    h = raw.hex()
    body, sign = h[:-1], int(h[-1], 16)
    for i, c in enumerate(body):
        if c not in "0123456789":
            raise DecodeError(f"invalid packed decimal digit nibble {c.upper()}", field=name,
                              offset=offset + i // 2, data=raw)
    if sign in _PACKED_NEGATIVE:
        if not signed:
            raise DecodeError(f"negative sign nibble {sign:X} in an unsigned field",
                              field=name, offset=offset + len(raw) - 1, data=raw)
        n = -int(body)
    elif sign in _PACKED_POSITIVE:
        n = int(body)
    else:
        raise DecodeError(f"invalid packed decimal sign nibble {sign:X}", field=name,
                          offset=offset + len(raw) - 1, data=raw)
    if abs(n) >= 10**digits:
        raise DecodeError(f"packed value has more than the {digits} digits of its PIC",
                          field=name, offset=offset, data=raw)
    return scaled(n, scale)


def decode_binary(raw: bytes, digits: int, signed: bool, scale: int, name: str,
                  offset: int) -> Any:
    """COMP/BINARY: big-endian two's complement, limited to the PIC's digits."""
    n = int.from_bytes(raw, "big", signed=signed)
    if abs(n) >= 10**digits:
        raise DecodeError(f"binary value {n} has more than the {digits} digits of its PIC",
                          field=name, offset=offset, data=raw)
    return scaled(n, scale)


# --------------------------------------------------------------------------- encode helpers


def encode_text(value: Any, length: int, encoding: str, name: str, offset: int) -> bytes:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise EncodeError(f"expected text, got {type(value).__name__}", field=name,
                          offset=offset)
    if len(value) > length:
        raise EncodeError(f"{value!r} is longer than the {length} characters of its PIC",
                          field=name, offset=offset)
    try:
        return value.ljust(length).encode(encoding)
    except UnicodeEncodeError as exc:
        raise EncodeError(f"character {value[exc.start]!r} has no byte in {encoding}",
                          field=name, offset=offset + exc.start) from None


def _units_or_error(value: Any, digits: int, signed: bool, scale: int, name: str,
                    offset: int) -> int:
    if value is None:
        return 0
    try:
        n = units(value, scale)
    except (ValueError, InvalidOperation) as exc:
        raise EncodeError(f"{value!r}: {exc}", field=name, offset=offset) from None
    if n < 0 and not signed:
        raise EncodeError(f"negative value {value} in an unsigned field", field=name,
                          offset=offset)
    if abs(n) >= 10**digits:
        raise EncodeError(f"{value} does not fit the {digits} digits of its PIC", field=name,
                          offset=offset)
    return n


def encode_zoned(value: Any, digits: int, signed: bool, scale: int, name: str,
                 offset: int) -> bytes:
    n = _units_or_error(value, digits, signed, scale, name, offset)
    out = bytearray(0xF0 | int(c) for c in f"{abs(n):0{digits}d}")
    if signed:
        out[-1] = (0xD0 if n < 0 else 0xC0) | (out[-1] & 0x0F)
    return bytes(out)


def encode_packed(value: Any, digits: int, signed: bool, scale: int, name: str,
                  offset: int) -> bytes:
    n = _units_or_error(value, digits, signed, scale, name, offset)
    nibbles = (digits // 2 + 1) * 2 - 1
    sign = "d" if n < 0 else ("c" if signed else "f")
    return bytes.fromhex(f"{abs(n):0{nibbles}d}{sign}")


def encode_binary(value: Any, length: int, digits: int, signed: bool, scale: int, name: str,
                  offset: int) -> bytes:
    n = _units_or_error(value, digits, signed, scale, name, offset)
    return n.to_bytes(length, "big", signed=signed)


# --------------------------------------------------------------------------- construct types


def _read(io: Any, length: int, name: str) -> tuple[bytes, int]:
    offset = io.tell()
    raw = io.read(length)
    if len(raw) != length:
        raise DecodeError(f"record ends inside the field (expected {length} bytes, found "
                          f"{len(raw)})", field=name, offset=offset)
    return raw, offset


# Called from construct's compiled parsers (see the _emitparse methods): one call per field.
def cparse_text(io: Any, length: int, encoding: str, name: str) -> str:
    return decode_text(_read(io, length, name)[0], encoding)


def cparse_zoned(io: Any, digits: int, signed: bool, scale: int, name: str) -> Any:
    raw, offset = _read(io, digits, name)
    return decode_zoned(raw, signed, scale, name, offset)


def cparse_packed(io: Any, digits: int, signed: bool, scale: int, name: str) -> Any:
    raw, offset = _read(io, digits // 2 + 1, name)
    return decode_packed(raw, digits, signed, scale, name, offset)


def cparse_binary(io: Any, length: int, digits: int, signed: bool, scale: int,
                  name: str) -> Any:
    raw, offset = _read(io, length, name)
    return decode_binary(raw, digits, signed, scale, name, offset)


def cskip(io: Any, length: int, name: str) -> None:
    _read(io, length, name)


def cbuild(obj: Any, io: Any, data: bytes) -> Any:
    io.write(data)
    return obj


class _Field(Construct):  # type: ignore[misc]
    """Base: fixed size, builds ``None`` as a blank field (so FILLER needs no value)."""

    length: int

    def __init__(self, name: str) -> None:
        super().__init__()
        self.cobol_name = name
        self.flagbuildnone = True

    def _sizeof(self, context: Any, path: Any) -> int:
        return self.length

    def _encode(self, obj: Any, offset: int) -> bytes:
        raise NotImplementedError

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        stream.write(self._encode(obj, stream.tell()))
        return obj

    def _encode_source(self) -> str:
        raise NotImplementedError

    def _emitbuild(self, code: Any) -> str:
        self._import(code)
        return f"cbuild(obj, io, {self._encode_source()})"

    @staticmethod
    def _import(code: Any) -> None:
        code.append("from clets.codecs.copybook.fields import cparse_text, cparse_zoned, "
                    "cparse_packed, cparse_binary, cskip, cbuild, encode_text, encode_zoned, "
                    "encode_packed, encode_binary")


class TextField(_Field):
    """``PIC X(n)``: EBCDIC text padded with 0x40."""

    def __init__(self, length: int, encoding: str, name: str) -> None:
        super().__init__(name)
        self.length, self.encoding = length, encoding

    def _parse(self, stream: Any, context: Any, path: Any) -> str:
        return cparse_text(stream, self.length, self.encoding, self.cobol_name)

    def _encode(self, obj: Any, offset: int) -> bytes:
        return encode_text(obj, self.length, self.encoding, self.cobol_name, offset)

    def _emitparse(self, code: Any) -> str:
        self._import(code)
        return f"cparse_text(io, {self.length}, {self.encoding!r}, {self.cobol_name!r})"

    def _encode_source(self) -> str:
        return (f"encode_text(obj, {self.length}, {self.encoding!r}, {self.cobol_name!r}, "
                "io.tell())")


class ZonedField(_Field):
    """``PIC 9(n)`` / ``S9(n)`` DISPLAY: one digit a byte, sign in the last zone nibble."""

    def __init__(self, digits: int, signed: bool, scale: int, name: str) -> None:
        super().__init__(name)
        self.length = self.digits = digits
        self.signed, self.scale = signed, scale

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        return cparse_zoned(stream, self.digits, self.signed, self.scale, self.cobol_name)

    def _encode(self, obj: Any, offset: int) -> bytes:
        return encode_zoned(obj, self.digits, self.signed, self.scale, self.cobol_name, offset)

    def _emitparse(self, code: Any) -> str:
        self._import(code)
        return (f"cparse_zoned(io, {self.digits}, {self.signed}, {self.scale}, "
                f"{self.cobol_name!r})")

    def _encode_source(self) -> str:
        return (f"encode_zoned(obj, {self.digits}, {self.signed}, {self.scale}, "
                f"{self.cobol_name!r}, io.tell())")


class PackedField(_Field):
    """``COMP-3``: packed decimal, digits//2 + 1 bytes."""

    def __init__(self, digits: int, signed: bool, scale: int, name: str) -> None:
        super().__init__(name)
        self.digits, self.signed, self.scale = digits, signed, scale
        self.length = digits // 2 + 1

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        return cparse_packed(stream, self.digits, self.signed, self.scale, self.cobol_name)

    def _encode(self, obj: Any, offset: int) -> bytes:
        return encode_packed(obj, self.digits, self.signed, self.scale, self.cobol_name, offset)

    def _emitparse(self, code: Any) -> str:
        self._import(code)
        return (f"cparse_packed(io, {self.digits}, {self.signed}, {self.scale}, "
                f"{self.cobol_name!r})")

    def _encode_source(self) -> str:
        return (f"encode_packed(obj, {self.digits}, {self.signed}, {self.scale}, "
                f"{self.cobol_name!r}, io.tell())")


class BinaryField(_Field):
    """``COMP``/``BINARY``: big-endian, 2/4/8 bytes by digits."""

    def __init__(self, length: int, digits: int, signed: bool, scale: int, name: str) -> None:
        super().__init__(name)
        self.length, self.digits, self.signed, self.scale = length, digits, signed, scale

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        return cparse_binary(stream, self.length, self.digits, self.signed, self.scale,
                             self.cobol_name)

    def _encode(self, obj: Any, offset: int) -> bytes:
        return encode_binary(obj, self.length, self.digits, self.signed, self.scale,
                             self.cobol_name, offset)

    def _emitparse(self, code: Any) -> str:
        self._import(code)
        return (f"cparse_binary(io, {self.length}, {self.digits}, {self.signed}, "
                f"{self.scale}, {self.cobol_name!r})")

    def _encode_source(self) -> str:
        return (f"encode_binary(obj, {self.length}, {self.digits}, {self.signed}, {self.scale}, "
                f"{self.cobol_name!r}, io.tell())")


class FillerField(_Field):
    """A FILLER: its bytes are skipped on parse, whatever they hold, and built as the blank
    value of its picture -- what the generated decoder and encoder do, so that the construct
    engines accept the same records as the fast one (a zoned FILLER holding spaces is common)."""

    def __init__(self, inner: _Field) -> None:
        super().__init__("FILLER")
        self.inner, self.length = inner, inner.length

    def _parse(self, stream: Any, context: Any, path: Any) -> None:
        cskip(stream, self.length, self.cobol_name)

    def _encode(self, obj: Any, offset: int) -> bytes:
        return self.inner._encode(None, offset)

    def _emitparse(self, code: Any) -> str:
        self._import(code)
        return f"cskip(io, {self.length}, {self.cobol_name!r})"

    def _encode_source(self) -> str:
        return self.inner._encode_source().replace("(obj,", "(None,", 1)
