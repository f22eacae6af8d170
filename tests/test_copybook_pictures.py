"""PICTURE strings: category, size, digits, scale and sign, worked out from the IBM reference."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.codecs.copybook.pictures import Picture, PictureError, parse_picture


@pytest.mark.parametrize(("text", "category", "size", "digits", "scale", "signed"), [
    ("X", "alphanumeric", 1, 0, 0, False),
    ("X(10)", "alphanumeric", 10, 0, 0, False),
    ("x(05)", "alphanumeric", 5, 0, 0, False),
    ("A(3)", "alphabetic", 3, 0, 0, False),
    ("AAX9", "alphanumeric", 4, 0, 0, False),
    ("X(99999999)", "alphanumeric", 99999999, 0, 0, False),
    ("XXBXX", "alphanumeric-edited", 5, 0, 0, False),
    ("X(2)/X(2)/X(4)", "alphanumeric-edited", 10, 0, 0, False),
    ("9", "numeric", 1, 1, 0, False),
    ("9(4)", "numeric", 4, 4, 0, False),
    ("S9(5)V99", "numeric", 7, 7, 2, True),
    ("S9(5)V9(2)", "numeric", 7, 7, 2, True),
    ("V99", "numeric", 2, 2, 2, False),
    ("99V", "numeric", 2, 2, 0, False),
    ("9(37)", "numeric", 37, 37, 0, False),
    ("S9(38)", "numeric", 38, 38, 0, True),
    ("S9V9(37)", "numeric", 38, 38, 37, True),
    # P scaling: right P multiplies (scale < 0), left P divides (scale > number of 9s)
    ("999PPP", "numeric", 3, 3, -3, False),
    ("S99P(3)", "numeric", 2, 2, -3, True),
    ("99PPV", "numeric", 2, 2, -2, False),
    ("PPP999", "numeric", 3, 3, 6, False),
    ("VPPP999", "numeric", 3, 3, 6, False),
    ("SVP(2)9", "numeric", 1, 1, 3, True),
    # numeric-edited
    ("ZZZ9", "numeric-edited", 4, 4, 0, False),
    ("ZZ,ZZ9.99", "numeric-edited", 9, 7, 2, False),
    ("--,---,--9.99", "numeric-edited", 13, 9, 2, True),
    ("$$$,$$9.99", "numeric-edited", 10, 7, 2, False),
    ("+$$$9.99", "numeric-edited", 8, 5, 2, True),
    ("$ZZZ9.99DB", "numeric-edited", 10, 6, 2, True),
    ("ZZZ9.99CR", "numeric-edited", 9, 6, 2, True),
    ("***,**9.99", "numeric-edited", 10, 8, 2, False),
    ("+++9", "numeric-edited", 4, 3, 0, True),
    ("ZZZ9-", "numeric-edited", 5, 4, 0, True),
    ("-ZZZ9", "numeric-edited", 5, 4, 0, True),
    ("ZZ.ZZ", "numeric-edited", 5, 4, 2, False),
    ("$$$.$$", "numeric-edited", 6, 4, 2, False),
    ("9(8).9(2)", "numeric-edited", 11, 10, 2, False),
    ("99/99/99", "numeric-edited", 8, 6, 0, False),
    ("999B999", "numeric-edited", 7, 6, 0, False),
    ("9(3)0(3)", "numeric-edited", 6, 3, 0, False),
    ("ZZPP", "numeric-edited", 2, 2, -2, False),
    ("ZZ9V99", "numeric-edited", 5, 5, 2, False),
    # national and DBCS
    ("N(4)", "national", 4, 0, 0, False),
    ("NNBNN", "national-edited", 5, 0, 0, False),
    ("G(6)", "dbcs", 6, 0, 0, False),
    # external floating point: sign, mantissa, E, sign, 2 exponent digits
    ("+9.9(4)E+99", "external-floating", 11, 5, 4, True),
    ("-99V99E-99", "external-floating", 9, 4, 2, True),
    ("+.9(5)E+99", "external-floating", 11, 5, 5, True),
])
def test_picture_meaning(text: str, category: str, size: int, digits: int, scale: int,
                         signed: bool) -> None:
    p = parse_picture(text)
    assert (p.category, p.size, p.digits, p.scale, p.signed) == (
        category, size, digits, scale, signed)
    assert p.text == text


@pytest.mark.parametrize("text", [
    "", "9V9V9", "S9S", "9S", "PP", "9P9", "9VP9", "P9P", "ZZ*9", "++--9", "X9Z", "+9.9E+999",
    "9(39)", "99CR-", "9.9E+99", "+9.9E+9", "+9(17)E+99", "+E+99", "9CRDB", "X(0)",
    "ZZ9.9.9", "99V.99", "Q", "9(", "$9$9", "+ZZ9+",
    "ZZ9CR+", "$$$ZZ9", "ZZZ.Z9", "$$$.$9", "N9", "GX", "X(5)Z", "9(8)." + "9" * 50,
])
def test_bad_pictures_are_picture_errors(text: str) -> None:
    with pytest.raises(PictureError):
        parse_picture(text)


def test_picture_error_is_a_value_error_with_a_reason() -> None:
    with pytest.raises(ValueError, match="at most 38"):
        parse_picture("9(39)")


def test_huge_text_picture_is_not_expanded() -> None:
    p = parse_picture("X(999999999)")
    assert p.size == 999999999 and p.symbols == ()


@given(st.booleans(), st.integers(0, 38), st.integers(0, 38), st.integers(0, 5),
       st.booleans())
def test_numeric_pictures_from_their_parts(signed: bool, whole: int, frac: int, p: int,
                                           left: bool) -> None:
    if whole + frac == 0 or whole + frac > 38:
        return
    if p and left:
        text = ("S" if signed else "") + "V" + f"P({p})" + f"9({whole + frac})"
        expect_scale = p + whole + frac
    elif p:
        text = ("S" if signed else "") + f"9({whole + frac})" + f"P({p})"
        expect_scale = -p
    else:
        text = ("S" if signed else "") + (f"9({whole})" if whole else "") + (
            f"V9({frac})" if frac else "")
        expect_scale = frac
    pic = parse_picture(text)
    assert isinstance(pic, Picture)
    assert (pic.category, pic.digits, pic.size, pic.scale, pic.signed) == (
        "numeric", whole + frac, whole + frac, expect_scale, signed)


@given(st.text(alphabet="XA9SVPZ*+-$,.B0/NGECRD()12345", max_size=20))
def test_parse_picture_raises_only_picture_error(text: str) -> None:
    try:
        parse_picture(text)
    except PictureError:
        pass
