"""COBOL field types: bytes <-> value for every USAGE and PICTURE, one occurrence at a time.

``field_type(FieldSpec(picture, usage, ...), FieldOptions(encoding=...))`` gives an object with
``length`` (bytes of one occurrence), ``alignment`` (its natural boundary under SYNC) and
``decode(raw, name, offset)`` / ``encode(value, name, offset)``.  It knows nothing of the layout:
``name`` and ``offset`` only go into errors, so an operator reading a DecodeError sees which
field of which record and which byte.

Values: text and national -> ``str``; numbers -> ``int`` when the scale is <= 0, an exact
``decimal.Decimal`` when the picture has decimal places; COMP-1/COMP-2 -> ``float``;
POINTER/INDEX -> ``int``.  A DISPLAY numeric, numeric-edited or COMP-3 field that is all spaces,
all low-values or all high-values decodes to ``None`` (an uninitialised field is not zero), and
``None`` encodes as zero (as blanks for edited pictures whose zero is blank).

Encoding never loses information silently where a COBOL MOVE would truncate: a value with more
digits or decimal places than the picture, a negative value for an unsigned picture, text longer
than the field -- all are EncodeError.  Decoding is as lenient as IBM's compilers are on input
(sign nibbles A-F, both ASCII overpunch conventions) and otherwise exact: what it accepts, it can
write back byte for byte.

The rules are those of the IBM Enterprise COBOL Language Reference; edited pictures are checked
against GnuCOBOL (tests/test_copybook_gnucobol.py).  docs/codecs.md has the table.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Protocol

from clets.errors import DecodeError, EncodeError, LayoutError

from .pictures import MAX_DIGITS, Picture, PictureError

__all__ = [
    "USAGE_KEYWORDS",
    "FieldOptions",
    "FieldSpec",
    "FieldType",
    "field_type",
    "hfp_decode",
    "hfp_encode",
]


@dataclass(frozen=True, slots=True)
class FieldOptions:
    """How a whole file's fields are read: the code page and the policies Cobrix offers.

    ``low_values`` / ``high_values`` say what a text field's 0x00 / 0xFF bytes become: ``keep``
    (the code page's character for them, so the field encodes back byte for byte), ``space``
    (read as spaces, then trimmed like spaces: the padding mainframe programs leave behind
    vanishes, as in Cobrix) or ``error`` (a DecodeError naming the byte).  ``trim`` strips spaces
    from text on decode.  ``trunc`` is the compiler option TRUNC: ``std`` limits COMP/BINARY to
    the picture's digits, ``bin`` allows the whole binary range (COMP-5 always does).
    ``ascii_sign`` is the overpunch written for signed DISPLAY numbers in ASCII: ``ibm``
    (``{ A-I`` positive, ``} J-R`` negative, what an EBCDIC->ASCII transfer gives) or ``mf``
    (Micro Focus / GnuCOBOL: plain digit positive, ``p-y`` negative); both are read.
    ``lenient`` reads DISPLAY numbers as Cobrix does when they are not in COBOL's form:
    spaces and low-values anywhere are skipped and a ``+``/``-`` or an overpunch is taken at
    either end (``"  123"``, ``"12 3"``, ``"-123 "``), instead of a DecodeError.
    """

    encoding: str = "cp037"
    trunc: str = "std"
    floating: str = "hfp"
    low_values: str = "space"
    trim: str = "right"
    pointer_size: int = 4
    high_values: str = "space"
    ascii_sign: str = "ibm"
    lenient: bool = False


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One elementary item as the parser read it (usage names already normalised)."""

    picture: Picture | None  # None for COMP-1/COMP-2/POINTER/INDEX
    usage: str  # display | binary | comp-1 | comp-2 | packed | comp-5 | comp-6 | national |
    #             pointer | index | display-1 | function-pointer | procedure-pointer | comp-x |
    #             comp-9
    sign_position: str | None = None  # None | leading | trailing
    sign_separate: bool = False
    blank_when_zero: bool = False
    justified: bool = False


class FieldType(Protocol):
    """The codec of one elementary item."""

    length: int
    alignment: int

    def decode(self, raw: bytes, name: str, offset: int) -> Any: ...

    def encode(self, value: Any, name: str, offset: int) -> bytes: ...


# ====================================================================== code pages


@dataclass(frozen=True, slots=True)
class _Page:
    """A single-byte code page and the bytes COBOL cares about in it."""

    codec: str
    ebcdic: bool
    space: int
    plus: int
    minus: int
    digits: bytes  # the bytes of '0'..'9'
    to_ascii_digits: bytes  # translate table: digit bytes -> b'0'..b'9', others -> b'x'


@cache
def _page(encoding: str) -> _Page:
    if encoding.lower() in ("ascii", "us-ascii", "latin-1", "latin1", "iso-8859-1"):
        codec, ebcdic = "latin-1", False
    else:
        from .fields import check_encoding

        try:
            codec, ebcdic = check_encoding(encoding), True
        except LayoutError as exc:
            raise PictureError(exc.reason) from None
    digits = "0123456789".encode(codec)
    table = bytearray(b"x" * 256)
    for d, b in enumerate(digits):
        table[b] = 0x30 + d
    return _Page(codec, ebcdic, " ".encode(codec)[0], "+".encode(codec)[0],
                 "-".encode(codec)[0], digits, bytes(table))


# ====================================================================== numbers


def _value(n: int, scale: int) -> int | Decimal:
    """``n`` units of 10**-scale as the field's value: int for scale <= 0, else Decimal."""
    if scale <= 0:
        return n * 10**-scale if scale else n
    return Decimal(f"{n}E-{scale}")  # exact: Decimal arithmetic would round to 28 digits


def _show(value: Any, limit: int = 60) -> str:
    """A value for an error message: short, and never failing (a 5 000-digit int cannot be
    converted to text by default; its repr would raise ValueError)."""
    try:
        text = repr(value)
    except ValueError:
        return f"<an integer of {value.bit_length()} bits>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _units(value: Any, scale: int, digits: int) -> int:
    """A value as an integer count of 10**-scale units, exactly; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        value = Decimal(repr(value))  # the shortest decimal that reads back as this float
    if isinstance(value, int):
        if scale >= 0:
            return value * int(10**scale)
        q, r = divmod(value, int(10**-scale))
        if r:
            raise ValueError(f"not a multiple of {10**-scale} (the picture's P scaling)")
        return q
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("not a finite number")
        sign, tup, exp = value.as_tuple()
        assert isinstance(exp, int)
        nonzero = [i for i, d in enumerate(tup) if d]
        if nonzero:  # drop leading zeros, and trailing ones into the exponent
            exp += len(tup) - 1 - nonzero[-1]
            tup = tup[nonzero[0]:nonzero[-1] + 1]
        else:
            tup = ()
        if len(tup) + exp + scale > digits + 1:
            raise ValueError(f"does not fit the {digits} digits of its picture")
        if len(tup) > MAX_DIGITS + 80:
            raise ValueError(f"more decimal places than the picture's {max(scale, 0)}")
        n = int("".join(map(str, tup)) or "0")
        shift = exp + scale
        if shift < 0:
            if shift < -(len(tup) + 1):
                if n:
                    raise ValueError(f"more decimal places than the picture's {max(scale, 0)}")
                n = 0
            elif n % 10**-shift:
                raise ValueError(f"more decimal places than the picture's {max(scale, 0)}")
            else:
                n //= 10**-shift
        else:
            n *= 10**shift
        return -n if sign else n
    raise ValueError(f"expected a number, got {type(value).__name__}")


def _number(value: Any, digits: int, signed: bool, scale: int, name: str, offset: int,
            limit: int | None = None, low: int | None = None) -> int:
    """The units of ``value`` for a field, or EncodeError; ``None`` is zero."""
    if value is None:
        return 0
    if value.__class__ is int and not scale and limit is None and (
            0 <= value < 10**digits or (signed and -(10**digits) < value < 0)):
        n: int = value
        return n
    try:
        n = _units(value, scale, digits if limit is None else len(str(limit)))
    except (ValueError, InvalidOperation, OverflowError) as exc:
        raise EncodeError(f"{_show(value)}: {exc}", field=name, offset=offset) from None
    if n < 0 and not signed:
        raise EncodeError(f"negative value {_show(value)} in an unsigned field", field=name,
                          offset=offset)
    if limit is None:
        if abs(n) >= 10**digits:
            raise EncodeError(f"{_show(value)} does not fit the {digits} digits of its picture",
                              field=name, offset=offset)
    elif not (low if low is not None else -limit) <= n <= limit:
        raise EncodeError(f"{_show(value)} is outside the field's binary range", field=name,
                          offset=offset)
    return n


def _blank(raw: bytes, space: int) -> bool:
    first = raw[0] if raw else 0
    return first in (space, 0x00, 0xFF) and raw.count(first) == len(raw)


def _check_length(raw: bytes, length: int, name: str, offset: int) -> None:
    if len(raw) != length:
        raise DecodeError(f"expected {length} bytes, got {len(raw)}", field=name,
                          offset=offset, data=bytes(raw))


# ====================================================================== DISPLAY numbers


class ZonedType:
    """DISPLAY numeric: one digit a byte, the sign overpunched or SEPARATE, leading/trailing."""

    alignment = 1

    def __init__(self, pic: Picture, spec: FieldSpec, options: FieldOptions) -> None:
        self.page = page = _page(options.encoding)
        self.digits, self.scale, self.signed = pic.digits, pic.scale, pic.signed
        self.separate = spec.sign_separate
        self.leading = spec.sign_position == "leading"
        self.lenient = options.lenient
        if (self.separate or spec.sign_position) and not self.signed:
            raise PictureError(f"PIC {pic.text}: a SIGN clause needs S in the picture")
        self.length = self.digits + (1 if self.separate else 0)
        # overpunch: sign-position byte -> (digit, negative)
        self.punch_in: dict[int, tuple[int, bool]] = {}
        if page.ebcdic:
            for zone in range(0xA, 0x10):
                for d in range(10):
                    self.punch_in[zone << 4 | d] = (d, zone in (0xB, 0xD))
            pos = [0xC0 | d for d in range(10)] if self.signed else list(page.digits)
            neg = [0xD0 | d for d in range(10)]
        else:
            for d in range(10):
                self.punch_in[0x30 + d] = (d, False)
                self.punch_in[0x70 + d] = (d, True)  # Micro Focus / GnuCOBOL: p-y
            for d, c in enumerate("{ABCDEFGHI"):
                self.punch_in[ord(c)] = (d, False)
            for d, c in enumerate("}JKLMNOPQR"):
                self.punch_in[ord(c)] = (d, True)
            if options.ascii_sign == "ibm" and self.signed:
                pos, neg = [ord(c) for c in "{ABCDEFGHI"], [ord(c) for c in "}JKLMNOPQR"]
            elif options.ascii_sign in ("ibm", "mf"):
                pos, neg = list(page.digits), [0x70 + d for d in range(10)]
            else:
                raise PictureError(f"ascii_sign {options.ascii_sign!r}: expected ibm or mf")
        self.punch_out = (bytes(pos), bytes(neg))

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        try:
            return self._decode(raw, name, offset)
        except DecodeError:
            if not self.lenient or len(raw) != self.length:
                raise
            value = self._lenient(raw)
            if value is False:
                raise
            return value

    def _lenient(self, raw: bytes) -> Any:
        """Cobrix's reading: spaces and low-values anywhere skipped, a + or - at either end,
        an overpunch at either end; False when even that does not make a number."""
        page = self.page
        r = bytes(b for b in raw if b not in (page.space, 0))
        if not r:
            return None
        neg = False
        if r[0] in (page.plus, page.minus) or r[-1] in (page.plus, page.minus):
            if not self.signed:
                return False
            at = 0 if r[0] in (page.plus, page.minus) else len(r) - 1
            neg = r[at] == page.minus
            r = r[1:] if at == 0 else r[:-1]
        if not r or len(r) > self.digits:
            return False
        digits = bytearray(r.translate(page.to_ascii_digits))
        for at in (0, len(r) - 1):
            if digits[at] == 0x78 and r[at] in self.punch_in:  # b"x": not a plain digit
                d, punched_neg = self.punch_in[r[at]]
                digits[at] = 0x30 + d
                neg = neg or punched_neg
        if not digits.isdigit() or (neg and not self.signed):
            return False
        n = int(digits)
        return _value(-n if neg else n, self.scale)

    def _decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        page = self.page
        if _blank(raw, page.space):
            return None
        neg = False
        body = raw
        if self.separate:
            at = 0 if self.leading else self.length - 1
            s = raw[at]
            if s == page.minus:
                neg = True
            elif s != page.plus:
                raise DecodeError(f"separate sign byte 0x{s:02X} is neither + nor -", field=name,
                                  offset=offset + at, data=bytes(raw))
            body = raw[1:] if self.leading else raw[:-1]
            base = 1 if self.leading else 0
        else:
            base = 0
        digits = body.translate(page.to_ascii_digits)
        if not self.separate:
            at = 0 if self.leading else len(body) - 1
            punched = self.punch_in.get(body[at])
            if punched is None:
                raise DecodeError(f"invalid sign/digit byte 0x{body[at]:02X}", field=name,
                                  offset=offset + at, data=bytes(raw))
            d, neg = punched
            digits = digits[:at] + bytes([0x30 + d]) + digits[at + 1:]
            if neg and not self.signed:
                raise DecodeError("negative sign in an unsigned field", field=name,
                                  offset=offset + at, data=bytes(raw))
        if not digits.isdigit():
            at = next(i for i, c in enumerate(digits) if not 0x30 <= c <= 0x39)
            raise DecodeError(f"invalid zoned decimal digit byte 0x{body[at]:02X}", field=name,
                              offset=offset + base + at, data=bytes(raw))
        n = int(digits)
        return _value(-n if neg else n, self.scale)

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        n = _number(value, self.digits, self.signed, self.scale, name, offset)
        page = self.page
        body = bytearray(f"{abs(n):0{self.digits}d}".encode("ascii").translate(_ASCII_TO[page]))
        if self.separate:
            sign = page.minus if n < 0 else page.plus
            return bytes([sign]) + bytes(body) if self.leading else bytes(body) + bytes([sign])
        at = 0 if self.leading else self.digits - 1
        if self.signed or not page.ebcdic:
            body[at] = self.punch_out[1 if n < 0 else 0][body[at] & 0x0F]
        return bytes(body)


class _AsciiTo(dict[_Page, bytes]):
    """Translate tables b'0'..b'9' -> the code page's digits, made on first use."""

    def __missing__(self, page: _Page) -> bytes:
        table = bytearray(range(256))
        for d, b in enumerate(page.digits):
            table[0x30 + d] = b
        self[page] = bytes(table)
        return self[page]


_ASCII_TO = _AsciiTo()


# ====================================================================== packed decimal


class PackedType:
    """COMP-3 / PACKED-DECIMAL (sign in the last nibble) and COMP-6 (no sign nibble)."""

    alignment = 1
    _POSITIVE = frozenset("acef")
    _NEGATIVE = frozenset("bd")

    def __init__(self, pic: Picture, unsigned_packed: bool, options: FieldOptions) -> None:
        self.digits, self.scale, self.signed = pic.digits, pic.scale, pic.signed
        self.comp6 = unsigned_packed
        if self.comp6 and self.signed:
            raise PictureError(f"PIC {pic.text}: COMP-6 is unsigned (no S)")
        self.length = (self.digits + 1) // 2 if self.comp6 else self.digits // 2 + 1
        self.space = _page(options.encoding).space

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        h = raw.hex()
        if self.comp6:
            body, neg = h, False
        else:
            if _blank(raw, self.space):
                return None
            body, sign = h[:-1], h[-1]
            if sign in self._NEGATIVE:
                if not self.signed:
                    raise DecodeError(f"negative sign nibble {sign.upper()} in an unsigned "
                                      "field", field=name, offset=offset + self.length - 1,
                                      data=bytes(raw))
                neg = True
            elif sign in self._POSITIVE:
                neg = False
            else:
                raise DecodeError(f"invalid packed decimal sign nibble {sign.upper()}",
                                  field=name, offset=offset + self.length - 1, data=bytes(raw))
        if not body.isdecimal():
            at = next(i for i, c in enumerate(body) if c not in "0123456789")
            raise DecodeError(f"invalid packed decimal digit nibble {body[at].upper()}",
                              field=name, offset=offset + at // 2, data=bytes(raw))
        n = int(body)
        if n >= 10**self.digits:
            raise DecodeError(f"packed value has more than the {self.digits} digits of its "
                              "picture", field=name, offset=offset, data=bytes(raw))
        return _value(-n if neg else n, self.scale)

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        n = _number(value, self.digits, self.signed, self.scale, name, offset)
        if self.comp6:
            return bytes.fromhex(f"{n:0{self.length * 2}d}")
        sign = "d" if n < 0 else ("c" if self.signed else "f")
        return bytes.fromhex(f"{abs(n):0{self.length * 2 - 1}d}{sign}")


# ====================================================================== binary


def binary_length(digits: int) -> int:
    """Bytes of COMP/BINARY/COMP-5 by digits, as IBM: 1-4 -> 2, 5-9 -> 4, 10-18 -> 8."""
    if digits <= 4:
        return 2
    if digits <= 9:
        return 4
    if digits <= 18:
        return 8
    raise PictureError(f"binary with {digits} digits (at most 18)")


class BinaryType:
    """COMP/COMP-4/BINARY (TRUNC(STD): limited to the picture) and COMP-5 (native range)."""

    def __init__(self, pic: Picture, native: bool, options: FieldOptions) -> None:
        self.digits, self.scale, self.signed = pic.digits, pic.scale, pic.signed
        self.length = binary_length(self.digits)
        self.alignment = 2 if self.length == 2 else 4  # IBM: halfword, else fullword
        if options.trunc not in ("std", "bin"):
            raise PictureError(f"trunc {options.trunc!r}: expected std or bin")
        self.full = native or options.trunc == "bin"
        bits = self.length * 8
        if self.signed:
            self.low, self.high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            self.low, self.high = 0, (1 << bits) - 1

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        n = int.from_bytes(raw, "big", signed=self.signed)
        if not self.full and abs(n) >= 10**self.digits:
            raise DecodeError(f"binary value {n} has more than the {self.digits} digits of its "
                              "picture (TRUNC(STD); use trunc='bin' for the full range)",
                              field=name, offset=offset, data=bytes(raw))
        return _value(n, self.scale)

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        if self.full:
            n = _number(value, self.digits, self.signed, self.scale, name, offset,
                        limit=self.high, low=self.low)
        else:
            n = _number(value, self.digits, self.signed, self.scale, name, offset)
        return n.to_bytes(self.length, "big", signed=self.signed)


class LittleBinaryType(BinaryType):
    """Cobrix's COMP-9: COMP sized and limited as IBM's, stored little-endian (files from
    x86 programs).  A subclass, so code that inlines big-endian ``BinaryType`` skips it."""

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        return super().decode(bytes(reversed(raw)), name, offset)

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        return bytes(reversed(super().encode(value, name, offset)))


class CompXType:
    """Micro Focus COMP-X: unsigned big-endian binary of ``n`` bytes for ``PIC X(n)``, or of
    the fewest bytes that hold the digits for ``PIC 9(n)``; the whole byte range is valid."""

    alignment = 1

    def __init__(self, pic: Picture) -> None:
        if pic.category in ("alphanumeric",):
            self.length, self.scale = pic.size, 0
        elif pic.category == "numeric" and not pic.signed:
            self.length = max(1, ((10**pic.digits - 1).bit_length() + 7) // 8)
            self.scale = pic.scale
        else:
            raise PictureError(f"PIC {pic.text}: COMP-X needs PIC X(n) or an unsigned 9(n)")
        self.high = (1 << (8 * self.length)) - 1

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        return _value(int.from_bytes(raw, "big"), self.scale)

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        n = _number(value, 0, False, self.scale, name, offset, limit=self.high, low=0)
        return n.to_bytes(self.length, "big")


class PointerType:
    """POINTER / FUNCTION-POINTER (4 or 8 bytes, unsigned), PROCEDURE-POINTER (two of them)
    and INDEX (4 bytes, signed): an address or an offset, as an integer."""

    def __init__(self, length: int, signed: bool, alignment: int | None = None) -> None:
        self.length = length
        self.alignment = alignment or length
        self.signed = signed
        bits = length * 8
        self.low = -(1 << (bits - 1)) if signed else 0
        self.high = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        return int.from_bytes(raw, "big", signed=self.signed)

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        if value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodeError(f"{_show(value)}: expected an integer", field=name, offset=offset)
        if not self.low <= value <= self.high:
            raise EncodeError(f"{_show(value)} does not fit {self.length} bytes", field=name,
                              offset=offset)
        return value.to_bytes(self.length, "big", signed=self.signed)


# ====================================================================== floating point


def hfp_decode(raw: bytes) -> float:
    """IBM hexadecimal floating point (4 or 8 bytes) as the nearest double.

    Short (COMP-1) values are all exact doubles; long (COMP-2) values have a 56-bit fraction
    and are rounded to 53 bits, half to even (CPython's int/int division is correctly rounded).
    Unnormalised fractions are read as they stand.
    """
    bits = len(raw) * 8 - 8
    word = int.from_bytes(raw, "big")
    negative = word >> (len(raw) * 8 - 1)
    exponent = (word >> bits) & 0x7F
    fraction = word & ((1 << bits) - 1)
    e2 = 4 * (exponent - 64) - bits  # value = fraction * 2**e2
    value = float(fraction << e2) if e2 >= 0 else fraction / (1 << -e2)
    return -value if negative else value


def hfp_encode(value: float, size: int) -> bytes:
    """A double as IBM HFP of ``size`` bytes, rounded half to even; ValueError when too big.

    Long (8-byte) HFP holds every double from 16**-65 up to 16**63 exactly (56 fraction bits
    >= 53 + 3 bits lost to hexadecimal normalisation); short (4-byte) HFP keeps 21 to 24 bits.
    Magnitudes below 16**-64 are written unnormalised at the smallest exponent, and round to
    zero below half its last fraction bit.  -0.0 keeps its sign bit.
    """
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    bits = size * 8 - 8
    negative = math.copysign(1.0, value) < 0
    a = abs(value)
    word = 0
    if a:
        num, den = a.as_integer_ratio()
        e = math.frexp(a)[1]
        exp = max(-(-e // 4), -64)  # ceil(e / 4): 16**(exp-1) <= a < 16**exp
        # fraction = round(a * 2**bits / 16**exp), half to even, in integers
        shift = bits - 4 * exp
        top, bottom = (num << shift, den) if shift >= 0 else (num, den << -shift)
        q, r = divmod(top, bottom)
        if 2 * r > bottom or (2 * r == bottom and q & 1):
            q += 1
        if q == 1 << bits:
            q >>= 4
            exp += 1
        if exp > 63:
            raise ValueError(f"{_show(value)} is beyond IBM hexadecimal floating point's 16**63")
        word = ((exp + 64) << bits | q) if q else 0
    if negative:
        word |= 1 << (size * 8 - 1)
    return word.to_bytes(size, "big")


class FloatType:
    """COMP-1 (4 bytes) / COMP-2 (8 bytes): IBM HFP by default, IEEE 754 big-endian by option."""

    def __init__(self, size: int, options: FieldOptions) -> None:
        self.length = self.alignment = size
        if options.floating not in ("hfp", "ieee"):
            raise PictureError(f"floating {options.floating!r}: expected hfp or ieee")
        self.ieee = options.floating == "ieee"
        self.fmt = ">f" if size == 4 else ">d"

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        if not self.ieee:
            return hfp_decode(raw)
        value: float = struct.unpack(self.fmt, raw)[0]
        if not math.isfinite(value):
            raise DecodeError(f"IEEE {'infinity' if value == value else 'NaN'} is not a COBOL "
                              "number", field=name, offset=offset, data=bytes(raw))
        return value

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        if value is None:
            value = 0.0
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise EncodeError(f"{_show(value)}: expected a number", field=name, offset=offset)
        try:
            x = float(value)
            if not math.isfinite(x):
                raise ValueError("not a finite number")
            if self.ieee:
                return struct.pack(self.fmt, x)
            return hfp_encode(x, self.length)
        except (ValueError, OverflowError, struct.error) as exc:
            raise EncodeError(f"{_show(value)}: {exc}", field=name, offset=offset) from None


# ====================================================================== text


_TRIMS = {"none": None, "right": "rstrip", "left": "lstrip", "both": "strip"}
_POLICIES = ("keep", "space", "error")
_ALPHABETIC = re.compile(r"[A-Za-z ]*")


class TextType:
    """PIC X / A (code page) and PIC N (UTF-16BE): padded text with the Cobrix policies."""

    alignment = 1

    def __init__(self, pic: Picture, spec: FieldSpec, options: FieldOptions,
                 national: bool = False) -> None:
        self.size = pic.size
        self.national = national
        if national:
            self.codec, self.unit = "utf-16-be", 2
            self.low, self.high, self.pad = b"\x00\x00", b"\xff\xff", b"\x00\x20"
        else:
            self.codec, self.unit = _page(options.encoding).codec, 1
            self.low, self.high, self.pad = b"\0", b"\xff", " ".encode(self.codec)
        self.length = self.size * self.unit
        for what, policy in (("low_values", options.low_values),
                             ("high_values", options.high_values)):
            if policy not in _POLICIES:
                raise PictureError(f"{what} {policy!r}: expected keep, space or error")
        if options.trim not in _TRIMS:
            raise PictureError(f"trim {options.trim!r}: expected none, right, left or both")
        self.low_policy, self.high_policy = options.low_values, options.high_values
        self.trim = _TRIMS[options.trim]  # the str method's name (tree.py inlines it), or None
        self.strip: Callable[[str, str], str] | None = (
            getattr(str, self.trim) if self.trim is not None else None)
        self.check = self.low_policy != "keep" or self.high_policy != "keep"
        self.errors = "error" in (self.low_policy, self.high_policy)
        self.to_space: bytes | None = None
        if not national and "space" in (self.low_policy, self.high_policy):
            table = bytearray(range(256))
            if self.low_policy == "space":
                table[0x00] = self.pad[0]
            if self.high_policy == "space":
                table[0xFF] = self.pad[0]
            self.to_space = bytes(table)
        self.justified = spec.justified
        self.alphabetic = pic.category == "alphabetic"

    def _policy(self, raw: bytes, name: str, offset: int) -> bytes:
        for marker, policy, what in ((self.low, self.low_policy, "low-values"),
                                     (self.high, self.high_policy, "high-values")):
            if policy == "keep" or marker not in raw:
                continue
            units = [raw[i:i + self.unit] for i in range(0, len(raw), self.unit)]
            if marker not in units:  # UTF-16: the bytes straddle two characters
                continue
            if policy == "error":
                at = units.index(marker) * self.unit
                raise DecodeError(f"{what} in a text field", field=name, offset=offset + at,
                                  data=bytes(raw))
            raw = b"".join(self.pad if u == marker else u for u in units)
        return raw

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        if len(raw) != self.length:
            _check_length(raw, self.length, name, offset)
        if not self.national:  # single-byte: C-level passes only
            if self.errors and (b"\x00" in raw or b"\xff" in raw):
                self._policy(raw, name, offset)  # raises for an "error" policy
            if self.to_space is not None:
                raw = raw.translate(self.to_space)
            text: str = raw.decode(self.codec)
        else:
            if self.check:
                raw = self._policy(raw, name, offset)
            try:
                text = raw.decode(self.codec)
            except UnicodeDecodeError as exc:
                raise DecodeError(f"not UTF-16: {exc.reason}", field=name,
                                  offset=offset + exc.start, data=bytes(raw)) from None
        if self.strip is not None:
            text = self.strip(text, " ")
        return text

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise EncodeError(f"{_show(value)}: expected text, got {type(value).__name__}",
                              field=name, offset=offset)
        if self.alphabetic and not _ALPHABETIC.fullmatch(value):
            raise EncodeError(f"{_show(value)}: PIC A holds only letters and spaces", field=name,
                              offset=offset)
        try:
            data = value.encode(self.codec)
        except UnicodeEncodeError as exc:
            raise EncodeError(f"character {value[exc.start]!r} has no byte in {self.codec}",
                              field=name, offset=offset + exc.start * self.unit) from None
        if len(data) > self.length:
            raise EncodeError(f"{_show(value)} is longer than the {self.size} characters of its "
                              "picture", field=name, offset=offset)
        fill = self.pad * ((self.length - len(data)) // self.unit)
        return fill + data if self.justified else data + fill


class DbcsType:
    """PIC G / DISPLAY-1: two bytes a character in an EBCDIC DBCS code page.

    Python has no EBCDIC DBCS codec (cp930, cp939 ...), so the value is the bytes as
    upper-case hex, and encodes back exactly.
    """

    alignment = 1

    def __init__(self, pic: Picture) -> None:
        self.length = pic.size * 2

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        return raw.hex().upper()

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        if value is None:
            return b"\x40\x40" * (self.length // 2)  # DBCS space
        try:
            data = bytes.fromhex(value)
        except (TypeError, ValueError):
            raise EncodeError(f"{_show(value)}: a DBCS field takes its bytes as hex", field=name,
                              offset=offset) from None
        if len(data) != self.length:
            raise EncodeError(f"{_show(value)}: expected {self.length} bytes of hex", field=name,
                              offset=offset)
        return data


# ====================================================================== factory


_USAGES = ("display", "binary", "comp-1", "comp-2", "packed", "comp-5", "comp-6", "national",
           "pointer", "index", "display-1", "function-pointer", "procedure-pointer", "comp-x",
           "comp-9")

#: every spelling of a USAGE clause's word -> the ``FieldSpec.usage`` name (for the parser)
USAGE_KEYWORDS: dict[str, str] = {
    "DISPLAY": "display", "DISPLAY-1": "display-1", "NATIONAL": "national",
    "COMP": "binary", "COMPUTATIONAL": "binary", "COMP-4": "binary", "COMPUTATIONAL-4": "binary",
    "BINARY": "binary", "COMP-5": "comp-5", "COMPUTATIONAL-5": "comp-5",
    "COMP-1": "comp-1", "COMPUTATIONAL-1": "comp-1", "COMP-2": "comp-2",
    "COMPUTATIONAL-2": "comp-2", "COMP-3": "packed", "COMPUTATIONAL-3": "packed",
    "PACKED-DECIMAL": "packed", "COMP-6": "comp-6", "COMPUTATIONAL-6": "comp-6",
    "POINTER": "pointer", "POINTER-32": "pointer", "INDEX": "index",
    "FUNCTION-POINTER": "function-pointer", "PROCEDURE-POINTER": "procedure-pointer",
    "COMP-X": "comp-x", "COMPUTATIONAL-X": "comp-x",  # Micro Focus
    "COMP-3U": "comp-6", "COMP-9": "comp-9",  # Cobrix's names: unsigned packed, little-endian
}


def field_type(spec: FieldSpec, options: FieldOptions) -> FieldType:
    """The codec of one elementary item; PictureError for a combination COBOL does not allow."""
    from .edited import AlnumEditedType, EditedType, ExternalFloatType, NationalNumeric

    usage = spec.usage
    pic = spec.picture
    if usage not in _USAGES:
        raise PictureError(f"unknown usage {usage!r}")
    if usage in ("comp-1", "comp-2"):
        if pic is not None:
            raise PictureError(f"{usage.upper()} takes no PICTURE")
        return FloatType(4 if usage == "comp-1" else 8, options)
    if usage in ("pointer", "index", "function-pointer", "procedure-pointer"):
        if pic is not None:
            raise PictureError(f"{usage.upper()} takes no PICTURE")
        if usage == "index":
            return PointerType(4, True)
        if options.pointer_size not in (4, 8):
            raise PictureError(f"pointer_size {options.pointer_size}: expected 4 or 8")
        if usage == "procedure-pointer":  # an entry address and a second word: two pointers
            return PointerType(2 * options.pointer_size, False, options.pointer_size)
        return PointerType(options.pointer_size, False)
    if pic is None:
        raise PictureError(f"USAGE {usage.upper()} needs a PICTURE")
    cat = pic.category
    if usage == "comp-x":
        return CompXType(pic)
    if (spec.sign_position or spec.sign_separate) and cat != "numeric":
        raise PictureError(f"PIC {pic.text}: SIGN applies to numeric pictures only")
    if spec.blank_when_zero and cat not in ("numeric", "numeric-edited"):
        raise PictureError(f"PIC {pic.text}: BLANK WHEN ZERO applies to numeric pictures only")
    if spec.justified and cat not in ("alphabetic", "alphanumeric", "national", "dbcs"):
        raise PictureError(f"PIC {pic.text}: JUSTIFIED applies to text pictures only")
    if usage in ("binary", "comp-5", "packed", "comp-6", "comp-9"):
        if cat != "numeric":
            raise PictureError(f"PIC {pic.text}: USAGE {usage.upper()} needs a numeric picture")
        if spec.sign_position or spec.sign_separate:
            raise PictureError(f"PIC {pic.text}: SIGN clause with USAGE {usage.upper()}")
        if spec.blank_when_zero:
            raise PictureError(f"PIC {pic.text}: BLANK WHEN ZERO with USAGE {usage.upper()}")
        if usage == "comp-9":
            return LittleBinaryType(pic, False, options)
        if usage in ("binary", "comp-5"):
            return BinaryType(pic, usage == "comp-5", options)
        return PackedType(pic, usage == "comp-6", options)
    if cat == "dbcs" or (usage == "display-1" and cat in ("national", "national-edited")):
        return DbcsType(pic)  # PIC N under USAGE DISPLAY-1 is DBCS (NSYMBOL(DBCS))
    if cat == "external-floating":
        if usage == "national":
            return NationalNumeric(pic, spec, options)
        if usage != "display":
            raise PictureError(f"PIC {pic.text}: external floating point is USAGE DISPLAY")
        return ExternalFloatType(pic, options)
    if cat == "national":
        return TextType(pic, spec, options, national=True)
    if cat == "national-edited":
        return AlnumEditedType(pic, options, national=True)
    if usage == "national":
        if cat in ("numeric", "numeric-edited"):
            return NationalNumeric(pic, spec, options)
        raise PictureError(f"PIC {pic.text}: USAGE NATIONAL needs N, 9 or an edited picture")
    if usage == "display-1":
        raise PictureError(f"PIC {pic.text}: USAGE DISPLAY-1 needs a G or N picture")
    if cat in ("alphabetic", "alphanumeric"):
        return TextType(pic, spec, options)
    if cat == "alphanumeric-edited":
        return AlnumEditedType(pic, options)
    if cat == "numeric":
        if pic.digits > MAX_DIGITS:
            raise PictureError(f"PIC {pic.text}: more than {MAX_DIGITS} digits")
        if spec.blank_when_zero:
            if pic.signed:
                raise PictureError(f"PIC {pic.text}: BLANK WHEN ZERO with S")
            return EditedType(pic, options, blank_when_zero=True)
        return ZonedType(pic, spec, options)
    return EditedType(pic, options, blank_when_zero=spec.blank_when_zero)
