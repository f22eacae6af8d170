"""Edited pictures: numeric-edited (``Z * + - CR DB $ , . B 0 /``) and alphanumeric-edited.

Encoding is a COBOL MOVE into the edited item: the digits of the value placed in the digit
positions, zero suppression (``Z`` -> spaces, ``*`` -> asterisks), simple insertion (``, B 0 /``),
the special insertion ``.``, fixed insertion (a ``$``, a leading or trailing ``+``/``-``,
``CR``/``DB``), floating insertion (``$$$``, ``+++``, ``---``: the symbol lands just left of the
first significant digit), and BLANK WHEN ZERO.  The rules are the IBM Language Reference's
("Editing rules"); tests/test_copybook_gnucobol.py compares with GnuCOBOL's MOVE.

Decoding reads the digits and the sign back and then *edits the number again*: the field is
accepted only if that gives the very same characters.  Edited fields are printed output, so a
value a MOVE cannot have produced is corrupt data, and decode -> encode is byte for byte.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from clets.errors import DecodeError, EncodeError

from .pictures import Picture, PictureError
from .usages import (
    FieldOptions,
    FieldSpec,
    ZonedType,
    _check_length,
    _number,
    _page,
    _show,
    _value,
)

__all__ = ["AlnumEditedType", "EditedType", "ExternalFloatType", "NationalNumeric"]

_INSERT = {",": ",", "B": " ", "0": "0", "/": "/"}
_SWAP = str.maketrans(".,", ",.")  # DECIMAL-POINT IS COMMA


class _Editor:
    """The editing rules of one numeric-edited picture, on characters."""

    def __init__(self, pic: Picture, blank_when_zero: bool) -> None:
        syms: list[str] = []
        self.after_v: set[int] = set()  # symbols right after an assumed point V
        for s in pic.symbols:
            if s == "V":
                self.after_v.add(len(syms))
            elif s != "P":
                syms.append(s)
        self.digits, self.scale, self.signed = pic.digits, pic.scale, pic.signed
        self.bwz = blank_when_zero
        floating = next((c for c in ("$", "+", "-") if syms.count(c) > 1), None)
        self.floating = floating
        self.fill = "*" if "*" in syms else " "
        kinds: list[str] = []  # per symbol: d z f F i . s c $
        lead = syms.index(floating) if floating is not None else -1
        for i, s in enumerate(syms):
            if s == "9":
                kinds.append("d")
            elif s in ("Z", "*"):
                kinds.append("z")
            elif s == floating:
                kinds.append("F" if i == lead else "f")
            elif s in _INSERT:
                kinds.append("i")
            elif s == ".":
                kinds.append(".")
            elif s in ("+", "-"):
                kinds.append("s")
            elif s in ("CR", "DB"):
                kinds.append("c")
            elif s == "$":
                kinds.append("$")
            else:  # pragma: no cover - pictures.py lets nothing else through
                raise PictureError(f"PIC {pic.text}: unexpected symbol {s}")
        self.syms, self.kinds = syms, kinds
        suppress = [i for i, k in enumerate(kinds) if k in "zfF"]
        self.region = (suppress[0], suppress[-1]) if suppress else None
        self.all_suppressed = "d" not in kinds
        # the character offset of each symbol (CR/DB take two)
        self.starts: list[int] = []
        pos = 0
        for s in syms:
            self.starts.append(pos)
            pos += len(s)
        self.size = pos
        if blank_when_zero and self.fill == "*":
            raise PictureError(f"PIC {pic.text}: BLANK WHEN ZERO with *")
        # precomputed for edit() and parse(): what each position holds
        self.template = [_INSERT[sy] if k == "i" else ("." if k == "." else "$" if k == "$"
                                                         else "")
                         for sy, k in zip(syms, kinds, strict=True)]
        self.digit_at = [i for i, k in enumerate(kinds) if k in "dzf"]
        self.digit_chars = [self.starts[i] for i in self.digit_at]
        self.signs = [(i, k, sy) for i, (sy, k) in enumerate(zip(syms, kinds, strict=True))
                      if k in "scF"]
        self.scan: list[int] = []  # the positions suppression may replace, in order
        if self.region is not None:
            start = self.region[0]
            for i in range(start, len(kinds)):
                if (i in self.after_v and i > start) or kinds[i] not in "Fizf":
                    break
                self.scan.append(i)

    def edit(self, n: int) -> str:
        """The characters a MOVE of ``n`` units (10**-scale) writes."""
        if n == 0 and self.bwz:
            return " " * self.size
        neg = n < 0
        if n == 0 and self.region is not None and self.all_suppressed:
            if self.fill == "*":
                return "".join("." if s == "." else "*" * len(s) for s in self.syms)
            return " " * self.size
        digits = f"{abs(n):0{self.digits}d}"
        out = self.template.copy()
        for i, ch in zip(self.digit_at, digits, strict=True):
            out[i] = ch
        for i, k, sy in self.signs:
            if k == "s":
                out[i] = "-" if neg else ("+" if sy == "+" else " ")
            elif k == "c":
                out[i] = sy if neg else "  "
        if self.region is not None:
            last = -1
            fill = self.fill if self.floating is None else " "
            kinds = self.kinds
            # suppression runs to the first significant digit, a 9, the point (. or V) or a
            # sign; an insertion character just after the Z string goes too ("ZZZ,999" edits
            # 5 as "    005", as GnuCOBOL and IBM do)
            for i in self.scan:
                if kinds[i] in "zf" and out[i] != "0":
                    break
                out[i] = fill
                last = i
            if self.floating is not None:
                f = self.floating
                out[last] = "$" if f == "$" else ("-" if neg else ("+" if f == "+" else " "))
        return "".join(out)

    def parse(self, text: str) -> int | None:
        """The units ``text`` holds, None for a blank field; ValueError if a MOVE cannot
        have written it."""
        if not text.strip(" ") or not text.strip("\0") or not text.strip("\xff"):
            return 0 if self.edit(0) == text else None
        shown = "".join([text[at] for at in self.digit_chars])
        if not (shown.isdecimal() and shown.isascii()):
            shown = "".join([c if "0" <= c <= "9" else "0" for c in shown])
        neg = False
        for i, k, sy in self.signs:
            at = self.starts[i]
            c = text[at:at + len(sy)]
            if (k == "s" and c == "-") or (k == "c" and c == sy) or (k == "F" and c == "-"):
                neg = True
        if self.floating in ("+", "-") and "-" in text:
            # the floating sign lands anywhere up to the first digit shown, even on an
            # insertion position just right of the string; the re-edit below checks where
            neg = True
        n = int(shown)
        if neg:
            n = -n
        expected = self.edit(n)
        if expected != text:
            raise ValueError(f"{text!r} is not how PIC edits a value (the nearest reading, "
                             f"{_value(n, self.scale)}, is edited {expected!r})")
        return n


class EditedType:
    """A numeric-edited DISPLAY item (and an unsigned numeric one with BLANK WHEN ZERO)."""

    alignment = 1

    def __init__(self, pic: Picture, options: FieldOptions, blank_when_zero: bool = False
                 ) -> None:
        self.editor = _Editor(pic, blank_when_zero)
        self.pic = pic
        self.codec = _page(options.encoding).codec
        self.length = self.editor.size
        self.swap = pic.decimal_comma

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        text = raw.decode(self.codec)
        if self.swap:
            text = text.translate(_SWAP)
        try:
            n = self.editor.parse(text)
        except ValueError as exc:
            raise DecodeError(f"PIC {self.pic.text}: {exc}", field=name, offset=offset,
                              data=bytes(raw)) from None
        return None if n is None else _value(n, self.editor.scale)

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        e = self.editor
        n = _number(value, e.digits, e.signed, e.scale, name, offset)
        text = e.edit(n)
        try:
            return (text.translate(_SWAP) if self.swap else text).encode(self.codec)
        except UnicodeEncodeError as exc:  # a code page without $ or *
            raise EncodeError(f"{exc.object[exc.start]!r} has no byte in {self.codec}",
                              field=name, offset=offset + exc.start) from None


class AlnumEditedType:
    """PIC X/A/9 or N with B, 0, / insertion: text with inserted characters.

    Decoding returns the whole edited text (not trimmed, so it encodes back exactly, even an
    uninitialised field whose insertion positions hold spaces or low-values); encoding takes
    either that full-width text, written as it is, or just the data characters, which are
    edited in as a MOVE does (left to right, spaces after).
    """

    alignment = 1

    def __init__(self, pic: Picture, options: FieldOptions, national: bool = False) -> None:
        self.pic = pic
        self.codec = "utf-16-be" if national else _page(options.encoding).codec
        self.unit = 2 if national else 1
        self.size = len(pic.symbols)
        self.length = self.size * self.unit
        self.inserts = {i: _INSERT[s] for i, s in enumerate(pic.symbols) if s in "B0/"}
        self.data_positions = self.size - len(self.inserts)

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        try:
            text: str = raw.decode(self.codec)
        except UnicodeDecodeError as exc:
            raise DecodeError(f"not UTF-16: {exc.reason}", field=name,
                              offset=offset + exc.start, data=bytes(raw)) from None
        return text

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise EncodeError(f"{_show(value)}: expected text", field=name, offset=offset)
        if len(value) == self.size:  # the edited text itself (what decode gives): as it is
            text = value
        elif len(value) <= self.data_positions:
            chars = iter(value.ljust(self.data_positions))
            text = "".join(self.inserts.get(i) or next(chars) for i in range(self.size))
        else:
            raise EncodeError(f"{_show(value)} is longer than the {self.data_positions} data "
                              f"positions of PIC {self.pic.text}", field=name, offset=offset)
        try:
            data = text.encode(self.codec)
        except UnicodeEncodeError as exc:
            raise EncodeError(f"character {text[exc.start]!r} has no byte in {self.codec}",
                              field=name, offset=offset + exc.start * self.unit) from None
        if len(data) != self.length:  # a character outside the BMP takes two UTF-16 units
            raise EncodeError(f"{_show(value)} does not fit PIC {self.pic.text} in UTF-16",
                              field=name, offset=offset)
        return data


class NationalNumeric:
    """USAGE NATIONAL numbers: national decimal (``PIC S9(5) NATIONAL``), national
    numeric-edited and national floating point, i.e. the DISPLAY rules over UTF-16BE
    characters (an overpunch as in ASCII, though IBM requires SIGN SEPARATE for these)."""

    alignment = 1

    def __init__(self, pic: Picture, spec: FieldSpec, options: FieldOptions) -> None:
        ascii_options = FieldOptions(encoding="ascii", ascii_sign=options.ascii_sign,
                                     lenient=options.lenient)
        if spec.blank_when_zero and pic.category == "numeric" and pic.signed:
            raise PictureError(f"PIC {pic.text}: BLANK WHEN ZERO with S")
        self.inner: ZonedType | EditedType | ExternalFloatType
        if pic.category == "external-floating":
            self.inner = ExternalFloatType(pic, ascii_options)
        elif pic.category == "numeric" and not spec.blank_when_zero:
            self.inner = ZonedType(pic, spec, ascii_options)
        else:
            self.inner = EditedType(pic, ascii_options, spec.blank_when_zero)
        self.length = self.inner.length * 2

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        try:
            narrow = raw.decode("utf-16-be").encode("latin-1")
        except UnicodeError as exc:
            where = getattr(exc, "start", 0)
            raise DecodeError("not a national (UTF-16) digit or sign", field=name,
                              offset=offset + where * (1 if isinstance(exc, UnicodeDecodeError)
                                                       else 2), data=bytes(raw)) from None
        try:
            return self.inner.decode(narrow, name, offset)
        except DecodeError as exc:
            if exc.offset is not None:
                exc.offset = offset + (exc.offset - offset) * 2
            exc.data = bytes(raw)
            raise

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        return self.inner.encode(value, name, offset).decode("latin-1").encode("utf-16-be")


class ExternalFloatType:
    """External floating point, ``PIC +9.9(8)E+99``: the number as printed characters.

    The value is an exact ``Decimal`` (mantissa times 10**exponent).  Writing normalises the
    mantissa so that its first digit is not zero (IBM's rule for a MOVE into such an item) and
    refuses a value with more significant digits than the mantissa or an exponent beyond 99.
    A leading ``+`` symbol prints ``+``/``-``, a ``-`` symbol prints space/``-`` (mantissa and
    exponent alike).
    """

    alignment = 1

    def __init__(self, pic: Picture, options: FieldOptions) -> None:
        syms = pic.symbols
        e = syms.index("E")
        mantissa = syms[1:e]
        self.mantissa_sign, self.exponent_sign = syms[0], syms[e + 1]
        point = next((i for i, s in enumerate(mantissa) if s in (".", "V")), len(mantissa))
        self.whole = point  # mantissa digits left of the point
        self.frac = len(mantissa) - point - (1 if point < len(mantissa) else 0)
        self.explicit = "." in mantissa
        self.digits = self.whole + self.frac
        self.codec = _page(options.encoding).codec
        self.length = pic.size
        self.pic = pic
        self.swap = pic.decimal_comma

    @staticmethod
    def _sign(symbol: str, negative: bool) -> str:
        return "-" if negative else ("+" if symbol == "+" else " ")

    def decode(self, raw: bytes, name: str, offset: int) -> Any:
        _check_length(raw, self.length, name, offset)
        text = raw.decode(self.codec)
        if self.swap:
            text = text.translate(_SWAP)
        if not text.strip(" ") or not text.strip("\0"):
            return None
        w, f = self.whole, self.frac
        sign, rest = text[0], text[1:]
        int_part = rest[:w]
        frac_part = rest[w + (1 if self.explicit else 0):w + (1 if self.explicit else 0) + f]
        tail = rest[w + f + (1 if self.explicit else 0):]
        ok = (sign in "+- " and (sign != " " or self.mantissa_sign == "-")
              and (int_part + frac_part).isdigit() and (not self.explicit or rest[w] == ".")
              and len(tail) == 4 and tail[0] == "E" and tail[1] in "+- "
              and (tail[1] != " " or self.exponent_sign == "-") and tail[2:].isdigit()
              and (int_part + frac_part).isascii() and tail[2:].isascii())
        if not ok:
            raise DecodeError(f"{text!r} is not an external floating-point number of PIC "
                              f"{self.pic.text}", field=name, offset=offset, data=bytes(raw))
        exponent = int(tail[2:]) * (-1 if tail[1] == "-" else 1) - f
        return Decimal(f"{'-' if sign == '-' else ''}{int_part}{frac_part}E{exponent}")

    def encode(self, value: Any, name: str, offset: int) -> bytes:
        if value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise EncodeError(f"{_show(value)}: expected a number", field=name, offset=offset)
        try:
            d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except (ValueError, ArithmeticError) as exc:
            raise EncodeError(f"{_show(value)}: {exc}", field=name, offset=offset) from None
        if not d.is_finite():
            raise EncodeError(f"{_show(value)}: not a finite number", field=name, offset=offset)
        sign, tup, _ = d.as_tuple()
        sig = "".join(map(str, tup)).lstrip("0").rstrip("0")
        if not sig:
            mantissa, exponent = "0" * self.digits, 0
        else:
            if len(sig) > self.digits:
                raise EncodeError(f"{_show(value)} has more significant digits than the "
                                  f"{self.digits} of PIC {self.pic.text}", field=name,
                                  offset=offset)
            mantissa = sig.ljust(self.digits, "0")
            exponent = d.adjusted() - (self.whole - 1)
            if not -99 <= exponent <= 99:
                raise EncodeError(f"{_show(value)} needs exponent {exponent}, beyond 99",
                                  field=name, offset=offset)
        point = "." if self.explicit else ""
        text = (self._sign(self.mantissa_sign, bool(sign) and bool(sig))
                + mantissa[:self.whole] + point + mantissa[self.whole:] + "E"
                + self._sign(self.exponent_sign, exponent < 0) + f"{abs(exponent):02d}")
        return (text.translate(_SWAP) if self.swap else text).encode(self.codec)
