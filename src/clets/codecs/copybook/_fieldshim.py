"""Temporary stand-in for pictures.py / usages.py (owned by the h-cpytypes branch).

Same signatures as the agreed interface (parse_picture, FieldSpec, FieldOptions, field_type),
enough for layouts: exact lengths and alignments for every usage, values for the usages the
older fields.py already decodes.  layout code imports the real modules when they exist and
falls back to this one, so the merge of h-cpytypes replaces it without any change here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from clets.errors import DecodeError, EncodeError

from . import fields as F

__all__ = ["FieldOptions", "FieldSpec", "FieldType", "Picture", "PictureError", "field_type",
           "parse_picture"]


class PictureError(ValueError):
    """A picture string or usage combination that cannot be laid out (reason text)."""


@dataclass(frozen=True, slots=True)
class Picture:
    text: str
    category: str
    size: int
    digits: int
    scale: int
    signed: bool


_SYM = re.compile(r"(CR|DB|[AXN9GZSVPB0/,.+\-*$ECD1])(?:\((\d+)\))?", re.I)


def parse_picture(text: str) -> Picture:
    """Symbols counted from their repeat factors (never expanded: PIC X(99999999) is cheap)."""
    t = text.upper()
    pos = 0
    counts: list[tuple[str, int]] = []
    while pos < len(t):
        m = _SYM.match(t, pos)
        if m is None:
            raise PictureError(f"PIC {text}: unknown symbol {t[pos]!r}")
        n = int(m.group(2)) if m.group(2) else 1
        if n < 1:
            raise PictureError(f"PIC {text}: repeat count 0")
        counts.append((m.group(1), n))
        pos = m.end()
    syms = {s for s, _ in counts}
    size = digits = scale = 0
    after_v = False
    p_left = p_right = 0
    signed = False
    seen_digit = False
    for s, n in counts:
        if s == "S":
            signed = True
        elif s == "V":
            after_v = True
        elif s == "P":
            if seen_digit and not after_v:
                p_right += n
            else:
                p_left += n
        else:
            size += 2 * n if s in ("CR", "DB") else n
            if s in ("9", "Z", "*"):
                digits += n
                seen_digit = True
                if after_v:
                    scale += n
            if s == "." and syms & {"9", "Z", "*", "+", "-"}:
                after_v = True
            if s in ("+", "-", "CR", "DB"):
                signed = True
    if syms <= {"X"} or (syms <= {"A", "X", "9"} and syms & {"A", "X"}):
        cat = "alphabetic" if syms == {"A"} else "alphanumeric"
        return Picture(text, cat, size, 0, 0, False)
    if syms <= {"N"}:
        return Picture(text, "national", size, 0, 0, False)
    if syms <= {"G", "B"} and "G" in syms:
        return Picture(text, "dbcs", size, 0, 0, False)
    if syms <= {"9", "S", "V", "P"}:
        if digits > 38:
            raise PictureError(f"PIC {text}: more than 38 digits")
        return Picture(text, "numeric", size, digits, scale + p_left - p_right, signed)
    if syms & {"A", "X"}:
        return Picture(text, "alphanumeric-edited", size, 0, 0, False)
    if syms & {"N"}:
        return Picture(text, "national-edited", size, 0, 0, False)
    return Picture(text, "numeric-edited", size, digits, scale, signed)


@dataclass(frozen=True, slots=True)
class FieldOptions:
    encoding: str = "cp037"
    trunc: str = "std"
    floating: str = "hfp"
    low_values: str = "keep"
    trim: str = "right"
    pointer_size: int = 4


@dataclass(frozen=True, slots=True)
class FieldSpec:
    picture: Picture | None
    usage: str
    sign_position: str | None = None
    sign_separate: bool = False
    blank_when_zero: bool = False
    justified: bool = False


class FieldType(Protocol):
    length: int
    alignment: int

    def decode(self, raw: bytes, name: str, offset: int) -> Any: ...

    def encode(self, value: Any, name: str, offset: int) -> bytes: ...


@dataclass(slots=True)
class _Shim:
    spec: FieldSpec
    options: FieldOptions
    length: int
    alignment: int
    kind: str

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        pic = self.spec.picture
        if self.kind == "text":
            return F.decode_text(raw, self.options.encoding)
        assert pic is not None
        if self.kind == "zoned":
            return F.decode_zoned(raw, pic.signed, pic.scale, name, offset)
        if self.kind == "packed":
            return F.decode_packed(raw, pic.digits, pic.signed, pic.scale, name, offset)
        if self.kind == "binary":
            digits = pic.digits if self.spec.usage == "binary" else 40
            return F.decode_binary(raw, digits, pic.signed, pic.scale, name, offset)
        if self.kind == "raw":
            return int.from_bytes(raw, "big")
        raise DecodeError(f"usage {self.spec.usage} not decoded by the shim", field=name,
                          offset=offset, data=raw)

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        pic = self.spec.picture
        if self.kind == "text":
            return F.encode_text(value, self.length, self.options.encoding, name, offset)
        assert pic is not None
        if self.kind == "zoned":
            return F.encode_zoned(value, pic.digits, pic.signed, pic.scale, name, offset)
        if self.kind == "packed":
            return F.encode_packed(value, pic.digits, pic.signed, pic.scale, name, offset)
        if self.kind == "binary":
            digits = pic.digits if self.spec.usage == "binary" else 40
            return F.encode_binary(value, self.length, digits, pic.signed, pic.scale, name,
                                   offset)
        if self.kind == "raw":
            return int(value or 0).to_bytes(self.length, "big")
        raise EncodeError(f"usage {self.spec.usage} not encoded by the shim", field=name)


def field_type(spec: FieldSpec, options: FieldOptions) -> FieldType:
    pic = spec.picture
    u = spec.usage
    if u in ("comp-1", "comp-2"):
        n = 4 if u == "comp-1" else 8
        return _Shim(spec, options, n, n, "float")
    if u in ("pointer", "index", "procedure-pointer", "function-pointer"):
        n = options.pointer_size if u != "index" else 4
        if u == "procedure-pointer":
            n = 8
        return _Shim(spec, options, n, n, "raw")
    if pic is None:
        raise PictureError(f"USAGE {u.upper()} needs a PICTURE")
    if u == "national" or pic.category in ("national", "national-edited"):
        return _Shim(spec, options, pic.size * 2, 1, "national")
    if pic.category == "dbcs":
        return _Shim(spec, options, pic.size * 2, 1, "dbcs")
    if u == "display":
        if pic.category == "numeric":
            extra = 1 if spec.sign_separate else 0
            kind = "zoned" if not extra and spec.sign_position != "leading" else "signsep"
            return _Shim(spec, options, pic.size + extra, 1, kind)
        return _Shim(spec, options, pic.size, 1, "text")
    if pic.category != "numeric":
        raise PictureError(f"PIC {pic.text} cannot be USAGE {u.upper()}")
    if u == "packed":
        return _Shim(spec, options, pic.digits // 2 + 1, 1, "packed")
    if u == "comp-6":
        return _Shim(spec, options, (pic.digits + 1) // 2, 1, "comp6")
    if u in ("binary", "comp-5"):
        d = pic.digits
        n = 2 if d <= 4 else 4 if d <= 9 else 8 if d <= 18 else 16
        if d > 18:
            raise PictureError(f"PIC {pic.text}: binary with more than 18 digits")
        return _Shim(spec, options, n, n, "binary")
    raise PictureError(f"unknown usage {u}")
