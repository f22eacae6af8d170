"""Generic copybook records (tree.py): offsets, REDEFINES, OCCURS DEPENDING ON, rules, names."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clets.codecs.copybook.source import copy_resolver
from clets.codecs.copybook.tree import Copybook, FieldOptions, RecordRule, RedefineRule
from clets.errors import DecodeError, EncodeError, LayoutError

E = "cp037"

ODO = """\
000100 01  REC.
000200     05  KIND            PIC X.
000300         88  IS-A            VALUE 'A'.
000400         88  IS-BC           VALUE 'B' 'C'.
000500     05  CNT             PIC 9(2).
000600     05  BODY.
000700         10  AMT         PIC S9(5)V99 COMP-3.
000800     05  BODY-T REDEFINES BODY PIC X(4).
000900     05  ITEMS OCCURS 0 TO 5 TIMES DEPENDING ON CNT
001000                 ASCENDING KEY IS CODE INDEXED BY IX1 IX2.
001100         10  CODE        PIC X(2).
001200         10  QTY         PIC 9(3) COMP.
001300     05  TAIL            PIC X(3).
"""


def _odo_record(n: int) -> bytes:
    data = f"A{n:02d}".encode(E) + bytes.fromhex("0012345C")
    for k in range(n):
        data += f"C{k}".encode(E) + (k + 7).to_bytes(2, "big")
    return data + "XYZ".encode(E)


def test_odo_items_after_the_table_move_with_the_count() -> None:
    cb = Copybook(ODO, conditions=True)
    rec = cb.records[0]
    assert (rec.length, rec.min_length, rec.variable) == (30, 10, True)
    for n in (0, 1, 5):
        data = _odo_record(n)
        v = cb.decode(data)["REC"]
        assert v["CNT"] == n and len(v["ITEMS"]) == n
        assert v["TAIL"] == "XYZ" and v["AMT" if False else "BODY"] == {"AMT": Decimal("123.45")}
        assert v["IS-A"] is True and v["IS-BC"] is False
        assert cb.encode(cb.decode(data)) == data


def test_odo_counter_out_of_range_names_field_and_offset() -> None:
    cb = Copybook(ODO)
    data = "A07".encode(E) + bytes(27)
    with pytest.raises(DecodeError) as info:
        cb.decode(data)
    assert info.value.field == "CNT" and info.value.offset == 1
    with pytest.raises(DecodeError, match=r"needs|TAIL"):
        cb.decode(_odo_record(3)[:-2])


def test_redefines_all_views_and_a_rule() -> None:
    text = """\
       01  R.
           05  T           PIC X.
           05  A           PIC X(4).
           05  B REDEFINES A PIC S9(7) COMP-3.
           05  C REDEFINES A.
               10  C1      PIC 9(2).
               10  C2      PIC X(4).
           05  Z           PIC X.
"""
    cb = Copybook(text)
    assert [(n.name, n.offset, n.length) for n in cb.records[0].nodes[1:]] == [
        ("T", 0, 1), ("A", 1, 4), ("B", 1, 4), ("C", 1, 6), ("C1", 1, 2), ("C2", 3, 4),
        ("Z", 7, 1)]
    data = "PABCDXY!".encode(E)
    v = cb.decode(data)["R"]
    assert v["A"] == "ABCD" and v["B"] is None and v["C"] is None  # not numbers: null views
    data = "P12CDXY!".encode(E)
    v = cb.decode(data)["R"]
    assert v["A"] == "12CD" and v["B"] is None and v["C"] == {"C1": 12, "C2": "CDXY"}
    assert cb.encode(cb.decode(data)) == data
    rule = RedefineRule("A", "T", {"P": "B", "*": "C"})
    cb2 = Copybook(text, redefine_rules=[rule])
    packed = "P".encode(E) + bytes.fromhex("1234567D") + "  !".encode(E)
    v2 = cb2.decode(packed)["R"]
    assert v2 == {"T": "P", "B": -1234567, "Z": "!"}
    assert cb2.encode({"R": v2}) == packed  # bytes past the chosen view: spaces
    other = "X12ABCD!".encode(E)
    assert cb2.decode(other)["R"] == {"T": "X", "C": {"C1": 12, "C2": "ABCD"}, "Z": "!"}


def test_record_types_by_a_discriminator() -> None:
    text = """\
       01  HDR.
           05  HDR-TYPE    PIC X.
           05  HDR-DATE    PIC 9(8).
       01  DTL.
           05  DTL-TYPE    PIC X.
           05  DTL-N       PIC 9(2).
           05  DTL-V       PIC X(3) OCCURS 0 TO 3 DEPENDING ON DTL-N.
"""
    cb = Copybook(text, record_rule=RecordRule("HDR-TYPE", {"H": "HDR", "D": "DTL"}))
    h = "H20261203".encode(E)
    d = "D02AAABBB".encode(E)
    assert cb.decode(h) == {"HDR": {"HDR-TYPE": "H", "HDR-DATE": 20261203}}
    assert cb.decode(d) == {"DTL": {"DTL-TYPE": "D", "DTL-N": 2, "DTL-V": ["AAA", "BBB"]}}
    assert cb.encode(cb.decode(d)) == d and cb.encode(cb.decode(h)) == h
    with pytest.raises(DecodeError, match="names no record"):
        cb.decode("Q".encode(E) + bytes(8))


def test_fragment_duplicate_names_and_qualification() -> None:
    text = """\
           05  G1.
               10  A       PIC X(2).
               10  N       PIC 9.
           05  G2.
               10  A       PIC 9(3).
               10  T       PIC X OCCURS 1 TO 4 DEPENDING ON N OF G1.
"""
    cb = Copybook(text, source="FRAG.cpy")
    rec = cb.records[0]
    assert rec.name == "FRAG"
    with pytest.raises(LayoutError, match=r"ambiguous.*A OF G1 OF FRAG, A OF G2 OF FRAG"):
        rec.find("A")
    assert rec.find("A OF G2").offset == 3
    data = "XY2123PQ".encode(E)
    assert cb.decode(data) == {"G1": {"A": "XY", "N": 2}, "G2": {"A": 123, "T": ["P", "Q"]}}


def test_sync_slack_bytes() -> None:
    text = """\
       01  R.
           05  A   PIC X.
           05  B   PIC S9(9) COMP SYNC.
           05  G   OCCURS 2.
               10  C   PIC X.
               10  D   PIC S9(4) COMP SYNC.
"""
    rec = Copybook(text).records[0]
    got = {n.name: (n.offset, n.length, n.slack_before) for n in rec.nodes}
    assert got["B"] == (4, 4, 3)
    assert got["G"] == (8, 4, 0)
    assert got["D"] == (10, 2, 1)
    assert rec.length == 16


def test_renames_range() -> None:
    text = """\
       01  R.
           05  A   PIC X(2).
           05  B   PIC X(3).
           05  C   PIC 9(2).
       66  AB RENAMES A THRU B.
       66  CC RENAMES C.
"""
    cb = Copybook(text, renames=True)
    assert [(n.name, n.renames) for n in cb.records[0].renames] == [("AB", (0, 5)),
                                                                    ("CC", (5, 2))]
    assert cb.decode("XXYYY12".encode(E))["R"]["AB"] == "XXYYY"


def test_copy_replacing(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "ADDR.cpy").write_text("           10  :P:-STREET  PIC X(10).\n"
                                     "           10  :P:-ZIP     PIC 9(5).\n")
    text = ("       01  R.\n           05  HOME.\n           COPY ADDR REPLACING ==:P:== BY "
            "==HOME==.\n           05  WORK.\n           COPY ADDR REPLACING ==:P:== BY ==WRK==.\n")
    rec = Copybook(text, resolve=copy_resolver([folder])).records[0]
    assert [n.name for n in rec.nodes] == ["R", "HOME", "HOME-STREET", "HOME-ZIP", "WORK",
                                            "WRK-STREET", "WRK-ZIP"]
    with pytest.raises(LayoutError, match="COPY NOPE: member not found"):
        Copybook("       01 R.\n           COPY NOPE.\n")


def test_limits_refuse_at_once() -> None:
    with pytest.raises(LayoutError, match="over the record limit") as info:
        Copybook("       01  R.\n           05  A  PIC X(99999999).\n")
    assert info.value.line == 2
    with pytest.raises(LayoutError, match="over the limit"):
        Copybook("       01  R.\n           05  A  PIC X OCCURS 99999999.\n")
    with pytest.raises(LayoutError, match="over the record limit"):
        Copybook("       01  R.\n           05  G OCCURS 1000.\n"
                 "               10  A PIC X(2000).\n")
    assert Copybook("       01  R.\n           05  G OCCURS 1000.\n"
                    "               10  A PIC X(2000).\n", limit=4_000_000).records[0].length \
        == 2_000_000


def test_encode_errors_are_typed() -> None:
    cb = Copybook(ODO)
    with pytest.raises(EncodeError, match="3 entries, CNT says 2"):
        cb.encode({"REC": {"CNT": 2, "ITEMS": [{}, {}, {}]}})
    with pytest.raises(EncodeError, match="expected an object"):
        cb.encode({"REC": {"CNT": 0, "BODY": 5}})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text("ABCXYZ0123", min_size=2, max_size=2),
                          st.integers(0, 999)), max_size=5),
       st.text("ABC XYZ", max_size=3))
def test_generic_encode_decode_identity(items: list[tuple[str, int]], tail: str) -> None:
    cb = Copybook(ODO)
    value = {"REC": {"KIND": "B", "CNT": len(items), "BODY": {"AMT": Decimal("-1.25")},
                     "ITEMS": [{"CODE": c, "QTY": q} for c, q in items],
                     "TAIL": tail.rstrip()}}
    data = cb.encode(value)
    assert len(data) == 10 + 4 * len(items)
    back = cb.decode(data)["REC"]
    assert back["ITEMS"] == value["REC"]["ITEMS"] and back["TAIL"] == tail.rstrip()
    assert cb.encode(cb.decode(data)) == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_generic_decode_raises_only_decode_error(data: bytes) -> None:
    cb = Copybook(ODO)
    try:
        cb.decode(data)
    except DecodeError:
        pass


MIXED = """\
       01  M.
           05  T1      PIC X(3).
           05  T2      PIC A(2).
           05  Z1      PIC 9(3).
           05  Z2      PIC S9(3)V9.
           05  Z3      PIC S9(2) SIGN LEADING SEPARATE.
           05  Z4      PIC 99PP.
           05  P1      PIC S9(3)V99 COMP-3.
           05  P2      PIC 9(4) COMP-3.
           05  P3      PIC S9(2) COMP-3.
           05  B1      PIC S9(4) COMP.
           05  B2      PIC 9(3) BINARY.
           05  B3      PIC S9(4) COMP-5.
           05  B4      PIC 9(5)V9 COMP.
"""


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([0x40, 0x00, 0xFF, 0xF0, 0xF9, 0xC1, 0xD3, 0x4E, 0x60, 0x12,
                                 0x9C, 0x0D, 0x7F, 0x5C]) | st.integers(0, 255),
                min_size=35, max_size=35))
def test_inline_fast_paths_agree_with_the_field_types(data: list[int]) -> None:
    """The generated decoder's inline paths give what the field types give, or the same
    error, on any bytes."""
    from clets.codecs.copybook.tree import generate

    for options in (None, FieldOptions(low_values="keep", high_values="keep", trim="none")):
        cb = Copybook(MIXED, options=options)
        rec = cb.records[0]
        assert rec.length == 35
        fast, _ = generate(rec)
        slow, _ = generate(rec, fast=False)
        raw = bytes(data)
        try:
            want: object = slow(raw)
        except DecodeError as exc:
            want = ("error", exc.field, exc.offset)
        try:
            got: object = fast(raw)
        except DecodeError as exc:
            got = ("error", exc.field, exc.offset)
        assert repr(got) == repr(want)


def test_conditions_on_table_items_and_ranges() -> None:
    cb = Copybook("""\
       01  R.
           05  T       PIC X OCCURS 3.
               88  T-Y     VALUE 'Y'.
           05  N       PIC 9 OCCURS 2.
               88  N-BIG   VALUE 5 THRU 9.
           05  C       PIC X(2).
               88  C-AM    VALUE 'A' THRU 'M'.
               88  C-BLANK VALUE SPACES.
""", conditions=True)
    assert cb.decode("YNY27N ".encode(E))["R"] == {
        "T": ["Y", "N", "Y"], "T-Y": [True, False, True], "N": [2, 7], "N-BIG": [False, True],
        "C": "N", "C-AM": False, "C-BLANK": False}
    assert cb.decode("YNY27  ".encode(E))["R"]["C-BLANK"] is True
    assert cb.decode("YNY27B ".encode(E))["R"]["C-AM"] is True  # 'B ' between 'A ' and 'M '


def test_usages_of_other_compilers_and_tools() -> None:
    """Micro Focus COMP-X and Cobrix's COMP-9 / COMP-3U, as the field level reads them."""
    rec = Copybook("""\
       01  R.
           05  A   PIC X(2) COMP-X.
           05  B   PIC S9(4) COMP-9.
           05  C   PIC 9(3) COMP-3U.
""").records[0]
    assert [(n.name, n.offset, n.length) for n in rec.nodes[1:]] == [
        ("A", 0, 2), ("B", 2, 2), ("C", 4, 2)]
    assert rec.decode(b"\x01\x02" + (-2).to_bytes(2, "little", signed=True) + b"\x01\x23") \
        == {"R": {"A": 258, "B": -2, "C": 123}}


def test_sync_examples_of_the_language_reference() -> None:
    """The SYNCHRONIZED examples of IBM's Enterprise COBOL Language Reference: slack inside a
    group, slack before a group whose first item is SYNC (joining the group before it when
    there is one), inter-occurrence slack, and SYNC on a group applying to every item."""
    cb = Copybook("""\
       01  FIELD-A.
           05 FIELD-B PIC X(5).
           05 FIELD-C.
              10 FIELD-D PIC XX.
              10 FIELD-E PIC S9(6) COMP SYNC.
       01  FIELD-L.
           05 FIELD-M PIC X(5).
           05 FIELD-N PIC XX.
           05 FIELD-O.
              10 FIELD-P PIC S9(6) COMP SYNC.
       01  WORK-RECORD.
           05 WORK-CODE PIC X.
           05 COMP-TABLE OCCURS 10 TIMES.
              10 COMP-TYPE PIC X.
              10 COMP-PAY PIC S9(4)V99 COMP SYNC.
              10 COMP-HOURS PIC S9(3) COMP SYNC.
              10 COMP-NAME PIC X(5).
       01  COMP-RECORD.
           05 A-1 PIC X(5).
           05 A-2 PIC X(3).
           05 A-3 PIC X(3).
           05 B-1 PIC S9999 USAGE COMP SYNCHRONIZED.
           05 B-2 PIC S99999 USAGE COMP SYNCHRONIZED.
           05 B-3 PIC S9999 USAGE COMP SYNCHRONIZED.
       01  CLOSED.
           05 G1.
              10 G1-A PIC X.
           05 G2.
              10 G2-B PIC S9(9) COMP SYNC.
       01  ALIGNED SYNC.
           05 C1 PIC X.
           05 H1 PIC S9(4) COMP.
           05 C2 PIC X.
           05 F1 COMP-1.
           05 C3 PIC X.
           05 F2 COMP-2.
           05 C4 PIC X.
           05 P1 POINTER.
           05 C5 PIC X.
           05 I1 INDEX.
           05 C6 PIC X.
           05 D1 PIC S9(18) COMP.
           05 K1 PIC S9(5) COMP-3.
           05 Z1 PIC 9(3).
""")
    placed = {}
    for rec in cb.records:
        for n in rec.nodes:
            placed[n.name] = (n.offset, n.length)
    want = {"FIELD-A": (0, 12), "FIELD-C": (5, 7), "FIELD-E": (8, 4),
            "FIELD-L": (0, 12), "FIELD-N": (5, 2), "FIELD-O": (8, 4), "FIELD-P": (8, 4),
            "WORK-RECORD": (0, 161), "COMP-TABLE": (1, 16), "COMP-PAY": (4, 4),
            "COMP-HOURS": (8, 2), "COMP-NAME": (10, 5),
            "COMP-RECORD": (0, 22), "B-1": (12, 2), "B-2": (16, 4), "B-3": (20, 2),
            "CLOSED": (0, 8), "G1": (0, 4), "G2": (4, 4), "G2-B": (4, 4),
            "ALIGNED": (0, 58)}
    assert {k: placed[k] for k in want} == want
    assert [placed[k][0] for k in ("H1", "F1", "F2", "P1", "I1", "D1", "K1", "Z1")] == [
        2, 8, 16, 28, 36, 44, 52, 55]
    # the bytes go where the offsets say, both ways
    for rec in cb.records:
        value = rec.decode(rec.encode({}))
        assert rec.encode(value) == rec.encode({})
