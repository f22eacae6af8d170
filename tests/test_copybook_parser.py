"""Copybook parser: offsets, sizes, forms and the errors that name a line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import clets.codecs
from clets.codecs.copybook import parse_copybook
from clets.errors import LayoutError

# Fixed form with sequence numbers in columns 1-6, comments in column 7, an identification
# area in columns 73-80, 88-levels, groups, OCCURS on a field and on a group, COMP sizes.
FIXED = """\
000100*----------------------------------------------------------------*        HDR00001
000200* TEST RECORD                                                     *        HDR00002
000300 01  TEST-REC.                                                             TST00003
000400     05  T-CODE            PIC X(4).                                       TST00004
000500         88  T-IS-TEST         VALUE 'TST1'.                               TST00005
000600     05  T-AMOUNT          PIC S9(5)V99 COMP-3.                            TST00006
000700     05  T-COUNT           PIC 9(4) COMP.                                  TST00007
000800     05  T-BIG             PIC S9(9) BINARY.                               TST00008
000900     05  T-HUGE            PIC S9(18) COMP.                                TST00009
001000     05  T-ZONED           PIC S9(3).                                      TST00010
001100     05  T-RATE            PIC 9(2)V9(3).                                  TST00011
001200     05  T-TAGS            PIC X(2) OCCURS 3 TIMES.                        TST00012
001300     05  T-LINES OCCURS 2.                                                 TST00013
001400         10  T-QTY         PIC 9(3).                                       TST00014
001500         10  T-PRICE       PIC S9(4)V99 COMP-3.                            TST00015
001600         10  FILLER        PIC X.                                          TST00016
001700     05  FILLER            PIC X(5).                                       TST00017
"""


def test_fixed_form_offsets_and_sizes() -> None:
    lay = parse_copybook(FIXED, source="TEST.cpy")
    got = {f.key: (f.offset, f.length, f.kind) for f in lay.fields if not f.filler}
    assert got == {
        "T-CODE": (0, 4, "text"),
        "T-AMOUNT": (4, 4, "packed"),  # 7 digits -> 4 bytes
        "T-COUNT": (8, 2, "binary"),  # 1-4 digits -> 2 bytes
        "T-BIG": (10, 4, "binary"),  # 5-9 -> 4
        "T-HUGE": (14, 8, "binary"),  # 10-18 -> 8
        "T-ZONED": (22, 3, "zoned"),
        "T-RATE": (25, 5, "zoned"),
        "T-TAGS(1)": (30, 2, "text"),
        "T-TAGS(2)": (32, 2, "text"),
        "T-TAGS(3)": (34, 2, "text"),
        "T-QTY(1)": (36, 3, "zoned"),
        "T-PRICE(1)": (39, 4, "packed"),  # 6 digits -> 4 bytes
        "T-QTY(2)": (44, 3, "zoned"),
        "T-PRICE(2)": (47, 4, "packed"),
    }
    assert lay.length == 57
    assert lay.construct.sizeof() == 57
    amount = lay.by_key["T-AMOUNT"]
    assert (amount.digits, amount.scale, amount.signed) == (7, 2, True)
    rate = lay.by_key["T-RATE"]
    assert (rate.digits, rate.scale, rate.signed) == (5, 3, False)
    assert lay.by_key["T-PRICE(2)"].occurs == (2,)
    assert lay.by_key["T-PRICE(2)"].groups == ("T-LINES",)
    assert [f.offset for f in lay.fields if f.filler] == [43, 51, 52]


def test_free_form_with_star_comments_and_group_usage() -> None:
    text = """
    * a free-form copybook: no sequence area
    01 REC.
      05 A PIC X(3).  *> inline comment
      05 NUMS USAGE COMP-3.
         10 N1 PIC S9(3).
         10 N2 PIC 9(4).
      05 B PIC XX
           VALUE 'AB'.
    """
    lay = parse_copybook(text, fmt="free")
    got = {f.key: (f.offset, f.length, f.kind) for f in lay.fields}
    assert got == {"A": (0, 3, "text"), "N1": (3, 2, "packed"), "N2": (5, 3, "packed"),
                   "B": (8, 2, "text")}
    # the same text with the directive instead of the argument
    assert parse_copybook("       >>SOURCE FORMAT FREE\n" + text).length == lay.length


def test_spec_copybook_lengths() -> None:
    folder = Path(clets.codecs.__file__).parent / "copybooks"
    lengths = {p.name: parse_copybook(p.read_text(), source=p.name).length
               for p in sorted(folder.glob("*.cpy"))}
    assert lengths == {"DMVDLQ.cpy": 80, "DMVDLR.cpy": 200, "DMVREGQ.cpy": 80,
                       "DMVREGR.cpy": 256}


def test_nested_occurs_keys() -> None:
    lay = parse_copybook("""
       01 R.
          05 ROW OCCURS 2 TIMES.
             10 CELL PIC 9 OCCURS 3 TIMES.
    """)
    assert [f.key for f in lay.fields] == [
        "CELL(1,1)", "CELL(1,2)", "CELL(1,3)", "CELL(2,1)", "CELL(2,2)", "CELL(2,3)"]
    assert [f.offset for f in lay.fields] == [0, 1, 2, 3, 4, 5]


def test_construct_layout_parses_builds_and_compiles() -> None:
    lay = parse_copybook(FIXED)
    values = {"T-CODE": "TST1", "T-AMOUNT": Decimal("-123.45"), "T-COUNT": 9999,
              "T-BIG": -5, "T-HUGE": 10**17, "T-ZONED": -7, "T-RATE": Decimal("12.345"),
              "T-TAGS(1)": "AB", "T-TAGS(2)": "", "T-TAGS(3)": "Z", "T-QTY(1)": 1,
              "T-PRICE(1)": Decimal("0.99"), "T-QTY(2)": 999, "T-PRICE(2)": Decimal("-1.00")}
    data = lay.build_construct(values)
    assert len(data) == 57
    compiled = lay.construct.compile()
    assert lay.parse_construct(data) == values
    assert lay.parse_construct(data, compiled) == values
    assert lay.build_construct(values, compiled) == data
    assert lay.decode_fields(data) == values
    assert lay.encode_fields(values) == data
    nested = lay.construct.parse(data)
    assert nested["T-LINES"][1]["T-QTY"] == 999


@pytest.mark.parametrize(("text", "line", "words"), [
    ("       01 R.\n          05 A PIC X(2).\n          05 B REDEFINES A PIC 99.\n", 3,
     "REDEFINES not supported in a mapped record"),
    ("       01 R.\n          05 N PIC 9(2).\n          05 T PIC X OCCURS 1 TO 5 TIMES\n"
     "               DEPENDING ON N.\n", 3, "OCCURS DEPENDING ON"),
    ("       01 R.\n          05 N PIC 9(2).\n          05 T PIC X OCCURS 5 DEPENDING N.\n", 3,
     "OCCURS DEPENDING ON"),
    ("       01 R.\n          05 A PIC ZZ9.99.\n", 2, "edited"),
    ("       01 R.\n          05 A PIC S9(4) COMP SYNC.\n", 2, "SYNCHRONIZED"),
    ("       01 R.\n          05 A COMP-2.\n", 2, "floating point"),
    ("       01 R.\n          05 A PIC X(2).\n             10 B PIC X.\n", 3, "has a PIC"),
    ("       01 R.\n          05 G.\n          05 A PIC X.\n", 2, "no PIC"),
    ("       01 R.\n          05 A PIC X(3) COMP-3.\n", 2, "cannot be COMP"),
    ("       01 R.\n          05 A PIC S9(4) SIGN LEADING SEPARATE.\n", 2, "SIGN"),
    ("       01 R.\n          05 A PIC 9(19) COMP.\n", 2, "at most 18"),
    ("       01 R.\n          05 A PIC X.\n          05 A PIC X.\n", 3, "duplicate"),
    ("       01 R.\n          05 A PIC X FOO.\n", 2, "unknown clause"),
])
def test_layout_errors_name_copybook_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(LayoutError) as info:
        parse_copybook(text, source="AGENCY.cpy")
    assert info.value.source == "AGENCY.cpy"
    assert info.value.line == line
    assert words in str(info.value)
    assert str(info.value).startswith(f"AGENCY.cpy:{line}: ")


def test_several_records_need_a_choice() -> None:
    text = "       01 A.\n          05 X PIC X.\n       01 B.\n          05 Y PIC 9(2).\n"
    with pytest.raises(LayoutError, match="several 01"):
        parse_copybook(text)
    assert parse_copybook(text, record="B").length == 2


def test_unknown_code_page() -> None:
    with pytest.raises(LayoutError, match="code page"):
        parse_copybook("       01 R.\n          05 A PIC X.\n", encoding="no-such-page")
    with pytest.raises(LayoutError, match="not EBCDIC"):
        parse_copybook("       01 R.\n          05 A PIC X.\n", encoding="latin-1")


def test_describe_lists_every_field() -> None:
    text = parse_copybook(FIXED).describe()
    assert "T-PRICE(2)" in text and "FILLER" in text
