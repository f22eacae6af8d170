"""Copybook source reading: reference format to the column, literals, directives, text
encodings, and the parser's promise: any text gives a layout or a LayoutError, in linear time."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clets.codecs.copybook.parser import Figurative, parse_items
from clets.codecs.copybook.source import split_entries
from clets.codecs.copybook.tree import Copybook
from clets.errors import DecodeError, EncodeError, LayoutError


def _words(text: str) -> list[list[str]]:
    return [[t.text for t in e] for e in split_entries(text)]


def test_sequence_area_with_letters_and_columns_73_to_80() -> None:
    text = ("ABCDEF 01  R.                                                           POSITION\n"
            "XYZ123     05  A PIC X(2).                                              60000\n")
    assert _words(text) == [["01", "R"], ["05", "A", "PIC", "X(2)"]]


def test_indicator_area() -> None:
    text = ("000100* comment\n000200/ page\n000300D    05 DEBUG PIC X.\n"
            "000400 01  R.\n000500     05  LONG-NA\n000600-        ME PIC X.\n")
    assert _words(text) == [["01", "R"], ["05", "LONG-NAME", "PIC", "X"]]
    with pytest.raises(LayoutError, match="column 7") as info:
        _words("       01 R.\n000100X    05 A PIC X.\n")
    assert info.value.line == 2
    # code that starts one column early (blank sequence area, a digit or letter in column 7:
    # never an indicator) is read from column 7
    assert _words("      01 R.\n        05 A PIC X.\n") == [["01", "R"], ["05", "A", "PIC", "X"]]
    assert _words("      D    05 DEBUG PIC X.\n") == []


def test_literals_in_every_form() -> None:
    text = ("       01  R.\n"
            "           05  A PIC X(8) VALUE 'DON''T'.\n"
            "           05  B PIC X(8) VALUE \"SAY \"\"HI\"\"\".\n"
            "           05  C PIC X(5) VALUE ALL '*'.\n"
            "           05  D PIC X(2) VALUE X'C1C2'.\n"
            "           05  E PIC 9(2) VALUE ZEROES.\n"
            "           05  F PIC X(70) VALUE '" + "A" * 38 + "\n"
            "      -    'BBB'.\n"
            "           05  H PIC X(70) VALUE 'AAA\n"
            "      -    'BBB'.\n"
            "           05  G PIC X(9) VALUE 'A.B, C;D'.\n"
            "           05  I PIC 9V9 VALUE 1,5.\n"
            "           05  J PIC 9V9 VALUE .5.\n")
    rec = parse_items(text)[0]
    values = {c.name: c.value for c in rec.children}
    assert values["A"] == "DON'T"
    assert values["B"] == 'SAY "HI"'
    assert values["C"] == Figurative("ALL", "*")
    assert values["D"] == b"\xc1\xc2"
    assert values["E"] == Figurative("ZERO")
    # a continued literal runs to column 72, then goes on after the quote of the next line
    assert values["F"] == "A" * 38 + "BBB"
    assert values["H"] == "AAA" + " " * 35 + "BBB"
    assert values["G"] == "A.B, C;D"
    assert values["I"] == Decimal("1.5")  # DECIMAL-POINT IS COMMA: no other reading
    assert values["J"] == Decimal("0.5")


def test_directives_and_clauses_that_do_not_shape_bytes() -> None:
    text = ("       TITLE 'X'.\n       01  R IS GLOBAL.\n           EJECT\n"
            "           05  A PIC X(4) JUSTIFIED RIGHT.\n           SKIP2\n"
            "           05  B PIC ZZ9 BLANK WHEN ZERO.\n       01  S IS EXTERNAL.\n"
            "           05  C PIC X.\n")
    recs = parse_items(text)
    assert [r.name for r in recs] == ["R", "S"]
    a, b = recs[0].children
    assert a.justified and b.blank_when_zero and recs[0].global_ and recs[1].external


def test_free_format_only_when_asked() -> None:
    free = "01 R.\n  05 A PIC X(3). *> note\n"
    with pytest.raises(LayoutError):
        parse_items(free)
    assert parse_items(free, fmt="free")[0].children[0].name == "A"
    assert parse_items("       >>SOURCE FORMAT IS FREE\n" + free)[0].name == "R"


def test_text_encodings() -> None:
    body = "      * caf\u00e9 \u00a7\n       01  R.\n           05  A PIC X.\n"
    for enc in ("utf-8", "latin-1", "cp1252"):
        assert parse_items(body.encode(enc))[0].name == "R"
    with pytest.raises(LayoutError, match="control character"):
        parse_items(b"\x00\x01\x02 01 R.")
    with pytest.raises(LayoutError, match="not text"):
        parse_items(b"       01  R.\n      * \x81\x8d\xff\n")


def test_refusals_name_the_line() -> None:
    cases = [
        ("       01  R.\n           05  A PIC X FOO.\n", "unknown clause"),
        ("       01  R.\n           05  A PIC X(2).\n               10  B PIC X.\n", "has a PIC"),
        ("       01  R.\n           05  A PIC X VALUE 'OPEN\n", "not closed"),
        ("       01  R.\n           05  T PIC X OCCURS 1 TO 3.\n", "without DEPENDING"),
        ("       01  R.\n           05  B REDEFINES Q PIC X.\n", "REDEFINES Q"),
    ]
    for text, words in cases:
        with pytest.raises(LayoutError, match=words) as info:
            Copybook(text, source="T.cpy")
        assert info.value.line is not None and info.value.line >= 2


_PIECES = ["01", "05", "10", "66", "77", "88", "A", "B", "R", "PIC", "X(3)", "9(2)", "S9(4)",
           "COMP", "COMP-3", "OCCURS", "2", "1", "TO", "5", "DEPENDING", "ON", "REDEFINES",
           "VALUE", "'X'", "'", '"', "ALL", "SPACES", "THRU", "RENAMES", "SYNC", "SIGN",
           "LEADING", "SEPARATE", ".", ".", "\n       ", "\n      -", "\n      *", "OF",
           "INDEXED", "BY", "KEY", "COPY", "X'C1'", "==", "REPLACING", "EJECT", "9(99999999)"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.binary(max_size=30))
def test_any_text_is_a_layout_or_a_layout_error(pieces: list[str], data: bytes) -> None:
    text = "       " + " ".join(pieces)
    try:
        cb = Copybook(text)
    except LayoutError:
        return
    for rec in cb.records:
        try:
            value = rec.decode(data)
        except DecodeError:
            continue
        try:
            rec.encode(value)
        except EncodeError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_characters_are_a_layout_or_a_layout_error(text: str) -> None:
    try:
        Copybook(text)
    except LayoutError:
        pass


def _cost(n: int) -> float:
    entries = "".join(f"           05  F{i} PIC S9(5)V99 COMP-3.\n" for i in range(n))
    text = "       01  R.\n" + entries
    t = time.process_time()
    Copybook(text).records[0].decode(bytes.fromhex("0000000C") * n)
    return time.process_time() - t


def test_layout_time_is_linear_in_copybook_size() -> None:
    """Not a timing assertion on absolute speed: the ratio of two sizes in the same run."""
    _cost(200)
    small, big = min(_cost(1000) for _ in range(2)), min(_cost(8000) for _ in range(2))
    assert big < small * 8 * 3, (small, big)


def _continued_literal(n: int) -> str:
    lines = ["       01  R.", "           05  A PIC X(9) VALUE '" + "A" * 38]
    lines += ["      -    '" + "B" * 60 for _ in range(n)]
    return "\n".join(lines) + "\n      -    'Z'.\n"


def _many_odo(n: int) -> str:
    head = "       01  R.\n" + "           05  N PIC 9.\n" * 2
    return head + "".join(f"           05  T{i} PIC X OCCURS 1 TO 2 DEPENDING ON N.\n"
                          for i in range(n))


def _many_pairs(n: int) -> str:
    pairs = "".join(f"               ==W{i}== BY ==V{i}==\n" for i in range(n))
    return ("           REPLACE\n" + pairs + "           .\n       01  R.\n"
            + "".join(f"           05  W{i} PIC X.\n" for i in range(n)))


@pytest.mark.parametrize("make", [_continued_literal, _many_odo, _many_pairs])
def test_hostile_copybooks_take_linear_time(make: object) -> None:
    """Shapes that were (or could be) quadratic: a literal continued over thousands of lines,
    thousands of tables depending on an ambiguous counter, thousands of REPLACE pairs."""
    assert callable(make)

    def cost(n: int) -> float:
        text = make(n)
        t = time.process_time()
        try:
            Copybook(text, limit=1 << 30)
        except LayoutError:
            pass
        return time.process_time() - t

    cost(100)
    small = min(cost(500) for _ in range(2))
    big = min(cost(4000) for _ in range(2))
    assert big < max(small, 0.01) * 8 * 3, (small, big)


def test_huge_picture_is_refused_at_once() -> None:
    t = time.process_time()
    with pytest.raises(LayoutError):
        Copybook("       01  R.\n           05  A PIC X(99999999).\n")
    with pytest.raises(LayoutError):
        parse_items("       01  R.\n           05  A PIC X OCCURS 999999999999.\n")
    assert time.process_time() - t < 5  # was 39 s; anything near it means the count expanded


def test_what_describes_no_bytes_is_skipped() -> None:
    text = ("* written from column 1 by hand\n"
            "       DATA DIVISION.\n       FILE SECTION.\n"
            "       FD  IN-FILE RECORDING MODE IS F\n           LABEL RECORDS ARE STANDARD.\n"
            "           EXEC SQL DECLARE T TABLE\n           ( A CHAR(3) NOT NULL ) END-EXEC.\n"
            "       01  R.\n           05  A PIC X(3).\n"
            "           EXEC SQL INCLUDE SQLCA END-EXEC.\n")
    assert _words(text) == [["01", "R"], ["05", "A", "PIC", "X(3)"]]


def test_replacing_leading_and_trailing_parts_of_words() -> None:
    text = ("           REPLACE LEADING ==WS-== BY ==LS-==\n"
            "                   TRAILING ==-IN== BY ==-OUT==.\n"
            "       01  WS-REC.\n           05  WS-NAME-IN PIC X.\n           05  WS- PIC X.\n"
            "           05  A-IN PIC X.\n")
    rec = parse_items(text)[0]
    assert rec.name == "LS-REC"
    # one replacement a word (as IBM: a replaced word is not matched again); a whole word
    # is not a leading part
    assert [c.name for c in rec.children] == ["LS-NAME-IN", "WS-", "A-OUT"]


def test_a_member_sent_in_binary_is_read_as_ebcdic_card_images() -> None:
    cards = ["       01  R.", "           05  A PIC X(3).", "      * comment"]
    data = b"".join(c.ljust(80).encode("cp037") for c in cards)
    assert parse_items(data)[0].children[0].name == "A"
    assert parse_items(b"       01  R.\n           05  A PIC X.\n\x1a\x1a")[0].name == "R"
