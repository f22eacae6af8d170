"""The field types against a COBOL compiler: GnuCOBOL MOVEs known numbers and writes the bytes.

A generated program (one 01 group a picture) MOVEs each value into its field and WRITEs the
group's bytes to a fixed-length file; the test compares them with ``encode`` of the same value
and checks that ``decode`` reads them back.  ``-std=ibm`` gives IBM's binary sizes (2/4/8) and
big-endian order; DISPLAY signs are GnuCOBOL's ASCII overpunch, our ``ascii_sign="mf"``, and
once more with ``-fsign=EBCDIC``, our ``ascii_sign="ibm"``.

Covered: numeric-edited pictures (every insertion and suppression kind, BLANK WHEN ZERO),
DISPLAY numbers (overpunch and SEPARATE, leading and trailing, P scaling), COMP-3, COMP-6,
COMP/BINARY.  Not covered here (GnuCOBOL stores them natively or differently from IBM):
COMP-5 and COMP-1/COMP-2 (little-endian IEEE on x86), NATIONAL.

Where GnuCOBOL 3.1 departs from the IBM Language Reference, we follow IBM and the case is
worked by hand in test_copybook_usages.py instead (test_where_gnucobol_departs_from_ibm):
``0`` and ``/`` inside a Z string are replaced like ``B`` and ``,`` ("any simple insertion
symbols (B 0 / ,) within or to the immediate right of the string ... are part of the string";
GnuCOBOL prints them); a fixed ``+``/``-`` before a floating ``$`` shows the value's sign
(GnuCOBOL prints the symbol as written); ``P`` scaling in COMP-3 (GnuCOBOL stores 100 in
``S999PP`` as 0).

Skipped when ``cobc`` (Debian ``gnucobol3``, installed by ``make deps``) is missing.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from clets.codecs.copybook.pictures import PictureError, parse_picture
from clets.codecs.copybook.usages import FieldOptions, FieldSpec, field_type

pytestmark = pytest.mark.skipif(shutil.which("cobc") is None, reason="GnuCOBOL (cobc) missing")

RECORD = 64
OPTIONS = FieldOptions(encoding="ascii", ascii_sign="mf")

# (picture, COBOL clauses after PIC, FieldSpec keywords, usage)
CASES: list[tuple[str, str, dict[str, Any], str]] = [
    *[(pic, "", {}, "display") for pic in [
        "ZZZ9", "ZZZZ", "ZZ,ZZ9.99", "ZZ.ZZ", "**,**9.99", "**.**", "$$$,$$9.99", "$$$.$$",
        "+++9", "---9", "--,---,--9.99", "ZZZ9.99CR", "ZZZ9.99DB", "+ZZ9", "-ZZ9", "ZZ9-",
        "ZZ9+", "$ZZ9", "$**9.99", "9(8).9(2)", "99/99/99", "999B999", "9(3)0(3)", "ZZPP",
        "ZZ9V99", "$$$,$$9.99CR", "Z(20)9.99-", "-(12)9.9(6)", "$$B$$9",
        "+9(30)", "***9", "*(5)", "ZZ,ZZZ,ZZ9.99DB", "ZZZ,999", "$$$,999",
        "ZZZ.ZZ", "+++,+++.99", "Z,ZZZ.ZZ+", "**,***.**", "$$,$$$.99CR",
        "99.99-", "ZZBZZ9", "ZZ9.99BCR", "$$$,$$$,$$9.99DB",
    ]],
    ("ZZ9.99", "BLANK WHEN ZERO", {"blank_when_zero": True}, "display"),
    ("9(3)V99", "BLANK WHEN ZERO", {"blank_when_zero": True}, "display"),
    ("$$$9.99", "BLANK WHEN ZERO", {"blank_when_zero": True}, "display"),
    ("S9(5)V99", "", {}, "display"),
    ("S9(5)V99", "SIGN LEADING", {"sign_position": "leading"}, "display"),
    ("S9(5)V99", "SIGN TRAILING SEPARATE", {"sign_position": "trailing",
                                            "sign_separate": True}, "display"),
    ("S9(5)V99", "SIGN LEADING SEPARATE CHARACTER", {"sign_position": "leading",
                                                     "sign_separate": True}, "display"),
    ("9(6)", "", {}, "display"),
    ("S9(30)", "", {}, "display"),
    ("999PPP", "", {}, "display"),
    ("S99PPP", "", {}, "display"),
    ("VPPP999", "", {}, "display"),
    ("SVPP9(3)", "", {}, "display"),
    ("S9(7)V99", "COMP-3", {}, "packed"),
    ("9(4)", "COMP-3", {}, "packed"),
    ("S9(18)", "PACKED-DECIMAL", {}, "packed"),
    ("S9(29)V99", "COMP-3", {}, "packed"),
    ("9(5)", "COMP-6", {}, "comp-6"),
    ("9(4)V99", "COMP-6", {}, "comp-6"),
    ("S9(4)", "COMP", {}, "binary"),
    ("9(4)", "BINARY", {}, "binary"),
    ("S9(9)", "COMP-4", {}, "binary"),
    ("S9(7)V99", "COMP", {}, "binary"),
    ("S9(18)", "COMP", {}, "binary"),
    ("9(18)", "COMP", {}, "binary"),
]


def _values(pic: str) -> list[Any]:
    """Edge values and random ones, deterministic, all inside the picture's domain."""
    p = parse_picture(pic)
    rng = random.Random(pic)
    top = 10**p.digits - 1
    units = {0, 1, top, top // 7, 10 ** (p.digits // 2), 10**p.digits // 10}
    units |= {rng.randrange(top + 1) for _ in range(6)}
    units |= {rng.randrange(10 ** rng.randrange(1, p.digits + 1)) for _ in range(4)}
    out: list[int] = sorted(units)
    if p.signed:
        out += [-u for u in out if u]
    return [u * 10**-p.scale if p.scale <= 0 else Decimal(f"{u}E-{p.scale}") for u in out]


def _literal(value: Any) -> str:
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    return text


def _program(cases: list[tuple[str, str, dict[str, Any], str]],
             values: list[list[Any]]) -> str:
    ws, proc = [], []
    for i, ((pic, clauses, _spec, _usage), vals) in enumerate(zip(cases, values, strict=True)):
        ws += [f"01 G{i}.", f"   05 F{i} PIC {pic} {clauses}."]
        for v in vals:
            proc += [f"    MOVE {_literal(v)} TO F{i}", f"    MOVE G{i} TO OUT-REC",
                     "    WRITE OUT-REC"]
    return "\n".join([
        "IDENTIFICATION DIVISION.", "PROGRAM-ID. ORACLE.", "ENVIRONMENT DIVISION.",
        "INPUT-OUTPUT SECTION.", "FILE-CONTROL.",
        '    SELECT OUT-FILE ASSIGN TO "out.bin" ORGANIZATION IS SEQUENTIAL.',
        "DATA DIVISION.", "FILE SECTION.", "FD OUT-FILE.", f"01 OUT-REC PIC X({RECORD}).",
        "WORKING-STORAGE SECTION.", *ws, "PROCEDURE DIVISION.", "    OPEN OUTPUT OUT-FILE.",
        *proc, "    CLOSE OUT-FILE.", "    STOP RUN.", ""])


def _run(tmp: Path, cases: list[tuple[str, str, dict[str, Any], str]], flags: list[str]
         ) -> list[list[tuple[Any, bytes]]]:
    """Per case, (value, the bytes GnuCOBOL's MOVE wrote) for every value."""
    values = [_values(pic) for pic, *_ in cases]
    (tmp / "oracle.cob").write_text(_program(cases, values))
    subprocess.run(["cobc", "-x", "-free", "-std=ibm", *flags, "-o", "oracle", "oracle.cob"],
                   cwd=tmp, check=True, capture_output=True, timeout=300)
    subprocess.run(["./oracle"], cwd=tmp, check=True, capture_output=True, timeout=60)
    data = (tmp / "out.bin").read_bytes()
    out: list[list[tuple[Any, bytes]]] = []
    pos = 0
    for vals in values:
        out.append([])
        for v in vals:
            out[-1].append((v, data[pos:pos + RECORD]))
            pos += RECORD
    assert pos == len(data)
    return out


@pytest.fixture(scope="module")
def cobol_bytes(tmp_path_factory: pytest.TempPathFactory) -> list[list[tuple[Any, bytes]]]:
    return _run(tmp_path_factory.mktemp("gnucobol"), CASES, [])


SIGNED_DISPLAY = [c for c in CASES if c[3] == "display" and c[0].startswith("S")]


@pytest.fixture(scope="module")
def cobol_ebcdic_signs(tmp_path_factory: pytest.TempPathFactory
                       ) -> list[list[tuple[Any, bytes]]]:
    """The same signed DISPLAY fields compiled with -fsign=EBCDIC: the overpunch an EBCDIC
    file has once transcoded to ASCII ({A-I positive, }J-R negative), our ascii_sign="ibm"."""
    return _run(tmp_path_factory.mktemp("gnucobol-ebcdic-sign"), SIGNED_DISPLAY,
                ["-fsign=EBCDIC"])


@pytest.mark.parametrize("index", range(len(SIGNED_DISPLAY)),
                         ids=[f"{c[0]} {c[1]}".strip() for c in SIGNED_DISPLAY])
def test_ebcdic_style_overpunch_in_ascii(index: int,
                                         cobol_ebcdic_signs: list[list[tuple[Any, bytes]]]
                                         ) -> None:
    pic, _clauses, spec, usage = SIGNED_DISPLAY[index]
    t = field_type(FieldSpec(parse_picture(pic), usage, **spec),
                   FieldOptions(encoding="ascii", ascii_sign="ibm"))
    for value, record in cobol_ebcdic_signs[index]:
        expected = record[:t.length]
        assert t.encode(value, "F", 0) == expected, (pic, value, expected)
        assert t.decode(expected, "F", 0) == value


@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=[f"{c[0]} {c[1]}".strip() for c in CASES])
def test_move_matches_gnucobol(index: int, cobol_bytes: list[list[tuple[Any, bytes]]]) -> None:
    pic, _clauses, spec, usage = CASES[index]
    t = field_type(FieldSpec(parse_picture(pic), usage, **spec), OPTIONS)
    for value, record in cobol_bytes[index]:
        expected = record[:t.length]
        assert t.encode(value, "F", 0) == expected, (pic, value, expected)
        back = t.decode(expected, "F", 0)
        assert back == value and type(back) is type(value), (pic, value, back)


# ---------------------------------------------------------------------- generated pictures


def _generated_pictures(seed: int, count: int) -> list[str]:
    """Numeric-edited pictures put together at random from the parts COBOL allows (fixed and
    floating signs and $, Z, *, 9, commas, B, an actual or assumed point, CR/DB), the ones
    our parser accepts; cobc then refuses some more, and those are dropped too."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        prefix = rng.choice(["", "+", "-", "$"])
        kind = rng.choice(["Z", "*", "9", "$", "+", "-"])
        whole = rng.randint(1, 8)
        body = ""
        for i in range(whole):
            body += kind if (kind not in "$+-" or i < whole - 1 or rng.random() < .5) else "9"
            if i < whole - 1 and rng.random() < .25:
                body += rng.choice([",", "B"])
        if kind in "$+-":
            body = kind + body
        point = rng.choice(["", ".", "V"])
        frac_kind = rng.choice(["9", kind]) if kind != "9" and "9" not in body else "9"
        pic = (prefix + body + point + frac_kind * (rng.randint(0, 3) if point else 0)
               + rng.choice(["", "CR", "DB", "+", "-"]))
        if pic[0] in "+-" and pic[1:2] == "$":
            continue  # GnuCOBOL prints a fixed sign before a floating $ as written
        if "$$" in pic and pic[-1] in "+-" and "9" not in pic:
            continue  # GnuCOBOL garbles "$$$$-" (it prints "  $$2" for 12)
        try:
            if parse_picture(pic).category != "numeric-edited" or pic in out:
                continue
        except PictureError:
            continue
        out.append(pic)
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[list[str], list[list[tuple[Any, bytes]]]]:
    tmp = tmp_path_factory.mktemp("gnucobol-generated")
    pics = _generated_pictures(13, 150)
    (tmp / "defs.cob").write_text(_program([(p, "", {}, "display") for p in pics],
                                           [[] for _ in pics]))
    check = subprocess.run(["cobc", "-fsyntax-only", "-free", "-std=ibm", "defs.cob"],
                           cwd=tmp, capture_output=True, text=True, timeout=300)
    lines = (tmp / "defs.cob").read_text().splitlines()
    refused = set()
    for err in re.finditer(r"defs\.cob:(\d+): error", check.stderr):
        m = re.search(r"F(\d+) PIC", lines[int(err.group(1)) - 1])
        if m:
            refused.add(int(m.group(1)))
    pics = [p for i, p in enumerate(pics) if i not in refused]
    return pics, _run(tmp, [(p, "", {}, "display") for p in pics], [])


def test_generated_pictures_match_gnucobol(
        generated: tuple[list[str], list[list[tuple[Any, bytes]]]]) -> None:
    pics, results = generated
    assert len(pics) > 80  # most of what we generate is COBOL that cobc compiles
    for pic, values in zip(pics, results, strict=True):
        t = field_type(FieldSpec(parse_picture(pic), "display"), OPTIONS)
        for value, record in values:
            expected = record[:t.length]
            assert t.encode(value, "F", 0) == expected, (pic, value, expected)
            assert t.decode(expected, "F", 0) == value, (pic, value, expected)
