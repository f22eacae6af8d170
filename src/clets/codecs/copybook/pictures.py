"""COBOL PICTURE strings: what a picture means, without knowing where the field sits.

``parse_picture("S9(5)V99")`` gives a :class:`Picture`: its category (alphanumeric, numeric,
numeric-edited ...), the character positions it occupies in DISPLAY, its digit count and
decimal scale (``P`` scaling included), and whether it carries a sign.  The layout (offsets,
usage, SYNC) is someone else's business: this module is pure and small so the parser can call it
for every elementary item and the field types (usages.py) can build their codecs from it.

Rules follow the IBM Enterprise COBOL Language Reference, "PICTURE clause":

* repetition ``X(10)``, ``9(05)``; ``CR``/``DB`` are one symbol of two positions;
* numeric: optional leading ``S``, ``9``, at most one ``V``, and a run of ``P`` at the left or
  the right end of the digits.  ``P`` positions hold no storage; they move the decimal point:
  ``999PPP`` holds thousands (scale -3), ``VPPP999`` / ``PPP999`` holds millionths (scale 6);
* numeric-edited: ``9 Z * + - CR DB $ , . B 0 / V P``; two or more ``$``, ``+`` or ``-`` make a
  floating insertion string; one makes a fixed insertion symbol;
* alphanumeric(-edited): ``X``, ``A``, ``9`` with ``B 0 /``; national(-edited): ``N`` with
  ``B 0 /``; DBCS: ``G`` (and ``B``);
* external floating point: ``+9.9(8)E+99`` (sign, mantissa of up to 16 digits with ``.`` or
  ``V``, ``E``, exponent sign, two exponent digits).

A numeric picture may have at most 38 digits (what GnuCOBOL and the ARITH(EXTEND) limit of
newer compilers allow); a run count is never expanded for text pictures, so ``X(99999999)`` costs
nothing here (the layout decides whether such a record is too big).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = ["MAX_DIGITS", "MAX_EDITED", "Picture", "PictureError", "parse_picture"]

#: most digits a numeric picture may hold
MAX_DIGITS = 38
#: most character positions of an edited (or numeric) picture once repetitions are expanded
MAX_EDITED = 65536


class PictureError(ValueError):
    """A PICTURE string that is not valid COBOL (or that we do not read); the reason says why.

    The copybook parser wraps it into a LayoutError with the copybook's line.
    """


@dataclass(frozen=True, slots=True)
class Picture:
    """What a PICTURE string describes.

    ``scale`` is the number of decimal places of the value, ``P`` included: the value is the
    stored digits times ``10**-scale`` (so ``999PPP`` has scale -3 and ``VPP99`` scale 4).
    ``symbols`` is the expanded picture, one entry a position (``CR``/``DB`` one entry), for
    numeric and edited pictures only (empty for X/A/N/G pictures, which can be huge).
    """

    text: str
    category: str  # alphabetic | alphanumeric | alphanumeric-edited | numeric |
    #                numeric-edited | national | national-edited | dbcs | external-floating
    size: int
    digits: int
    scale: int
    signed: bool
    symbols: tuple[str, ...] = ()
    decimal_comma: bool = False  # DECIMAL-POINT IS COMMA: "," prints the point, "." groups

    @property
    def numeric(self) -> bool:
        return self.category in ("numeric", "numeric-edited")


_RUN = re.compile(r"(CR|DB|[XA9SVPZ*+\-$,.B0/NGE])(?:\((\d+)\))?")
_TEXT_SYMBOLS = frozenset("XA9B0/")
_EDIT_SYMBOLS = frozenset("9Z*+-$,.B0/VP") | {"CR", "DB"}


def _runs(text: str) -> list[tuple[str, int]]:
    """(symbol, count) runs of a picture, repetitions not expanded."""
    runs: list[tuple[str, int]] = []
    pos = 0
    while pos < len(text):
        m = _RUN.match(text, pos)
        if m is None:
            raise PictureError(f"PIC {text}: unexpected {text[pos:pos + 3]!r} at position "
                               f"{pos + 1}")
        sym, count = m.group(1), m.group(2)
        n = int(count) if count is not None else 1
        if n < 1:
            raise PictureError(f"PIC {text}: repetition count {count} must be at least 1")
        if runs and runs[-1][0] == sym:
            runs[-1] = (sym, runs[-1][1] + n)
        else:
            runs.append((sym, n))
        pos = m.end()
    if not runs:
        raise PictureError("empty PICTURE string")
    return runs


def parse_picture(text: str, *, decimal_comma: bool = False) -> Picture:
    """The meaning of a PICTURE character-string, or PictureError naming what is wrong.

    ``decimal_comma`` is the program's ``DECIMAL-POINT IS COMMA``: ``,`` is then the decimal
    point and ``.`` the grouping insertion (``ZZZ.ZZ9,99``); the Picture's symbols are stored
    with their usual meaning and ``decimal_comma`` set, so the field types swap them back when
    they edit.  Without it, a picture with both ``.`` and ``,`` that is invalid as written but
    valid with them swapped (``Z.ZZZ.ZZ9,99``) is read with them swapped (and
    ``decimal_comma`` set), since no other reading exists.
    """
    raw = text
    text = text.strip().upper()
    if text.endswith(".") and not decimal_comma:  # a separator period glued on by a caller
        text = text[:-1]
    if decimal_comma:
        return replace(_parse(raw, text.translate(_SWAP)), decimal_comma=True)
    try:
        return _parse(raw, text)
    except PictureError:
        # "Z.ZZZ.ZZ9,99" is no picture unless the program says DECIMAL-POINT IS COMMA: a
        # copybook written for such a program is read that way rather than refused
        if "." in text and "," in text:
            try:
                return replace(_parse(raw, text.translate(_SWAP)), decimal_comma=True)
            except PictureError:
                pass
        raise


_SWAP = str.maketrans(".,", ",.")


def _parse(raw: str, text: str) -> Picture:
    if not text:
        raise PictureError("empty PICTURE string")
    if len(text) > 50:
        # IBM's limit is 50 characters; longer strings are not COBOL and only cost time
        raise PictureError(f"PIC {text[:20]}...: a PICTURE string has at most 50 characters")
    runs = _runs(text)
    symbols = {s for s, _ in runs}
    size = sum(n * (2 if s in ("CR", "DB") else 1) for s, n in runs if s not in "SVP")
    if "E" in symbols:
        return _external_float(raw, runs)
    if "N" in symbols:
        return _national(raw, text, runs, symbols, size)
    if "G" in symbols:
        if not symbols <= {"G", "B"}:
            raise PictureError(f"PIC {raw}: G (DBCS) mixes only with B")
        return Picture(raw, "dbcs", size, 0, 0, False)
    if symbols & {"X", "A"}:
        return _text(raw, runs, symbols, size)
    if symbols <= {"9", "S", "V", "P"}:
        return _numeric(raw, runs)
    return _edited(raw, runs, symbols, size)


_EXTERNAL_FLOAT = re.compile(r"([+-])(9*)([.V]?)(9*)E([+-])99")


def _external_float(raw: str, runs: list[tuple[str, int]]) -> Picture:
    """``+9.9(8)E+99``: a sign, a mantissa with . or V, E, a sign and two exponent digits."""
    symbols = _expand(raw, runs)
    m = _EXTERNAL_FLOAT.fullmatch("".join(symbols))
    if m is None or not (m.group(2) or m.group(4)):
        raise PictureError(f"PIC {raw}: an external floating-point picture is +/- mantissa "
                           "(9s with . or V) E +/- 99")
    digits = len(m.group(2)) + len(m.group(4))
    if digits > 16:
        raise PictureError(f"PIC {raw}: a floating-point mantissa has at most 16 digits")
    size = len(symbols) - (1 if m.group(3) == "V" else 0)
    return Picture(raw, "external-floating", size, digits, len(m.group(4)), True, symbols)


def _national(raw: str, text: str, runs: list[tuple[str, int]], symbols: set[str],
              size: int) -> Picture:
    if not symbols <= {"N", "B", "0", "/"}:
        raise PictureError(f"PIC {raw}: N (national) mixes only with B, 0 and /")
    if symbols == {"N"}:
        return Picture(raw, "national", size, 0, 0, False)
    return Picture(raw, "national-edited", size, 0, 0, False, _expand(raw, runs))


def _text(raw: str, runs: list[tuple[str, int]], symbols: set[str], size: int) -> Picture:
    bad = symbols - _TEXT_SYMBOLS
    if bad:
        raise PictureError(f"PIC {raw}: {''.join(sorted(bad))} cannot be used with X or A")
    if symbols & {"B", "0", "/"}:
        return Picture(raw, "alphanumeric-edited", size, 0, 0, False, _expand(raw, runs))
    if symbols == {"A"}:
        return Picture(raw, "alphabetic", size, 0, 0, False)
    return Picture(raw, "alphanumeric", size, 0, 0, False)


def _expand(raw: str, runs: list[tuple[str, int]]) -> tuple[str, ...]:
    total = sum(n for _, n in runs)
    if total > MAX_EDITED:
        raise PictureError(f"PIC {raw}: {total} positions; an edited picture may have at most "
                           f"{MAX_EDITED}")
    return tuple(s for s, n in runs for _ in range(n))


_NUMERIC_FORMS = re.compile(r"9V?9?|V9|V?P9|9PV?")  # on runs collapsed to one symbol


def _numeric(raw: str, runs: list[tuple[str, int]]) -> Picture:
    signed = runs[0][0] == "S"
    if signed:
        if runs[0][1] != 1:
            raise PictureError(f"PIC {raw}: S may appear only once")
        runs = runs[1:]
    if any(s == "S" for s, _ in runs):
        raise PictureError(f"PIC {raw}: S must be the leftmost symbol")
    digits = sum(n for s, n in runs if s == "9")
    if digits > MAX_DIGITS:
        raise PictureError(f"PIC {raw}: {digits} digits; at most {MAX_DIGITS}")
    if digits == 0:
        raise PictureError(f"PIC {raw}: a numeric picture needs at least one 9")
    if sum(n for s, n in runs if s == "P") > 2 * MAX_DIGITS:
        raise PictureError(f"PIC {raw}: too many P scaling positions")
    if sum(n for s, n in runs if s == "V") > 1 or not _NUMERIC_FORMS.fullmatch(
            "".join(s for s, _ in runs)):
        raise PictureError(f"PIC {raw}: P must be a single run at the left or right end of the "
                           "digits, and V may appear only once")
    symbols = _expand(raw, runs)
    return Picture(raw, "numeric", digits, digits, _scale(symbols, None), signed, symbols)


def _edited(raw: str, runs: list[tuple[str, int]], symbols: set[str], size: int) -> Picture:
    bad = symbols - _EDIT_SYMBOLS
    if bad:
        raise PictureError(f"PIC {raw}: {''.join(sorted(bad))} cannot be used in a numeric "
                           "picture")
    seq = _expand(raw, runs)
    if seq.count(".") + seq.count("V") > 1:
        raise PictureError(f"PIC {raw}: at most one decimal point (. or V)")
    for sign in ("CR", "DB"):
        if sign in seq and (seq.index(sign) != len(seq) - 1 or seq.count(sign) > 1):
            raise PictureError(f"PIC {raw}: {sign} must be the last symbol")
    if "CR" in seq and "DB" in seq:
        raise PictureError(f"PIC {raw}: CR and DB together")
    if "Z" in seq and "*" in seq:
        raise PictureError(f"PIC {raw}: Z and * together")
    floats = [c for c in ("$", "+", "-") if seq.count(c) > 1]
    if len(floats) > 1:
        raise PictureError(f"PIC {raw}: more than one floating insertion string "
                           f"({' '.join(floats)})")
    floating = floats[0] if floats else None
    fixed_signs = [i for i, s in enumerate(seq) if s in ("+", "-") and s != floating]
    if floating in ("+", "-") and fixed_signs:
        raise PictureError(f"PIC {raw}: a floating sign string and a fixed sign together")
    if len(fixed_signs) > 1:
        raise PictureError(f"PIC {raw}: more than one sign symbol")
    if fixed_signs and (("CR" in seq) or ("DB" in seq)):
        raise PictureError(f"PIC {raw}: + or - together with CR or DB")
    if fixed_signs and fixed_signs[0] not in (0, len(seq) - 1) and not (
            fixed_signs[0] == 1 and seq[0] == "$" and floating != "$"):
        raise PictureError(f"PIC {raw}: a fixed + or - must be the first or last symbol")
    if floating is not None:
        where = [i for i, s in enumerate(seq) if s == floating]
        for i in range(where[0], where[-1] + 1):
            if seq[i] not in (floating, ",", "B", "0", "/", ".", "V"):
                raise PictureError(f"PIC {raw}: the floating {floating} string is broken by "
                                   f"{seq[i]}")
        if any(s in ("Z", "*") for s in seq):
            raise PictureError(f"PIC {raw}: floating insertion together with Z or *")
    point = next((i for i, s in enumerate(seq) if s in (".", "V")), None)
    if point is not None:
        after = seq[point + 1:]
        first = next((i for i, s in enumerate(after) if s in ("Z", "*") or s == floating), None)
        if first is not None and "9" in after[first:]:
            raise PictureError(f"PIC {raw}: 9 after a suppression or floating symbol right of "
                               "the decimal point")
    if floating != "$" and seq.count("$") == 1:
        i = seq.index("$")
        if i not in (0, 1) or (i == 1 and seq[0] not in ("+", "-")):
            raise PictureError(f"PIC {raw}: a fixed $ must be leftmost (after a leading sign)")
    if "P" in seq:
        shape = "".join("9" if s not in ("P", "V", ".") else s for s in seq)
        if not re.fullmatch(r"9+P+[V.]?|[V.]?P+9+", shape):
            raise PictureError(f"PIC {raw}: P must be a single run at the left or right end of "
                               "the digit positions")
    digits = 0
    lead_seen = False
    for s in seq:
        if s in ("9", "Z", "*"):
            digits += 1
        elif s == floating:
            if lead_seen:
                digits += 1
            lead_seen = True
    if digits == 0:
        raise PictureError(f"PIC {raw}: no digit positions")
    if digits > MAX_DIGITS:
        raise PictureError(f"PIC {raw}: {digits} digits; at most {MAX_DIGITS}")
    signed = bool(fixed_signs) or floating in ("+", "-") or "CR" in seq or "DB" in seq
    scale = _scale(seq, floating)
    return Picture(raw, "numeric-edited", size, digits, scale, signed, seq)


def _scale(seq: tuple[str, ...], floating: str | None) -> int:
    """Digit positions right of the point (. or V), P included, minus right-hand Ps."""
    point = next((i for i, s in enumerate(seq) if s in (".", "V")), None)
    lead = seq.index(floating) if floating is not None else -1
    digit_pos = [i for i, s in enumerate(seq)
                 if s in ("9", "Z", "*", "P") or (s == floating and i != lead)]
    if point is None:  # leading Ps put the point at the left end, else it is at the right
        point = -1 if digit_pos and seq[digit_pos[0]] == "P" else len(seq)
    right = sum(1 for i in digit_pos if i > point)
    left_p = sum(1 for i in digit_pos if i < point and seq[i] == "P")
    return right - left_p
