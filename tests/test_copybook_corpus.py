"""Every corpus copybook laid out by clets exactly as GnuCOBOL lays it out.

tests/copybook_corpus/oracle.json holds GnuCOBOL's offsets and lengths (see its README and
gen_oracle.py); here each item of each record is compared with clets's layout.  When cobc is
installed, one test also re-runs GnuCOBOL, so the committed figures cannot drift from it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from clets.codecs.copybook.source import copy_resolver
from clets.codecs.copybook.tree import Copybook, FieldOptions, RedefineRule

CORPUS = Path(__file__).parent / "copybook_corpus"
ORACLE = json.loads((CORPUS / "oracle.json").read_text())

# Where GnuCOBOL and IBM differ, clets follows IBM (the data comes from z/OS), and the
# difference is listed here with the reason:
KNOWN = {
    # Inter-occurrence slack bytes of a table holding SYNC items: IBM puts them at the end of
    # each occurrence (S-T3 right after S-T2, at 40); GnuCOBOL 3.1 puts them before the last
    # item (42).  Occurrence length (12) and every other offset agree.
    ("C07SYNC.cpy", "SYNC-REC.S-TAB.S-T3"): [40, 2],
}


def _layout(name: str) -> dict[str, list[int]]:
    cb = Copybook((CORPUS / name).read_bytes(), source=name,
                  resolve=copy_resolver([CORPUS]))
    got: dict[str, list[int]] = {}
    for rec in cb.records:
        for n in rec.nodes:
            if not n.item.filler:
                got[".".join(n.path())] = [n.offset, n.length]
        for rn in rec.renames:
            assert rn.renames is not None
            got[f"{rec.name}.{rn.name}"] = list(rn.renames)
    return got


@pytest.mark.parametrize("name", sorted(ORACLE))
def test_offsets_and_lengths_match_gnucobol(name: str) -> None:
    want = dict(ORACLE[name])
    want.update({k: v for (f, k), v in KNOWN.items() if f == name})
    got = _layout(name)
    assert want, name
    diff = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    assert diff == {}, f"clets vs GnuCOBOL: {diff}"


def test_every_corpus_copybook_has_oracle_figures() -> None:
    names = {p.name for p in CORPUS.glob("*.cpy")} - {"C12ADDR.cpy"}
    assert names == set(ORACLE)


@pytest.mark.skipif(shutil.which("cobc") is None, reason="cobc (gnucobol3) not installed")
def test_committed_oracle_is_what_gnucobol_says() -> None:
    res = subprocess.run([sys.executable, str(CORPUS / "gen_oracle.py"), "--check"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


# ---------------------------------------------------------------------------- values
# Records written by GnuCOBOL (gen_values.py: MOVE statements, then every byte of the record
# for its current length); the values below are worked out by hand from those MOVEs.

VALUES = json.loads((CORPUS / "values.json").read_text())
D = Decimal
EXPECTED: dict[str, dict[str, object]] = {
    "odo-3-2": {"ODO-REC": {
        "D-KIND": "K", "D-N1": 3, "D-N2": 2, "D-HEAD": "HEAD",
        "D-ITEMS": [{"D-ITEM-CODE": "AAA", "D-ITEM-AMT": D("1.25")},
                    {"D-ITEM-CODE": "BBB", "D-ITEM-AMT": D("-99999.99")},
                    {"D-ITEM-CODE": "CCC", "D-ITEM-AMT": D("0.00")}],
        "D-MID": "MI", "D-NOTES": ["NOTE1", "NOTE2"], "D-TAIL": 123}},
    "odo-1-0": {"ODO-REC": {
        "D-KIND": "Q", "D-N1": 1, "D-N2": 0, "D-HEAD": "H",
        "D-ITEMS": [{"D-ITEM-CODE": "ZZZ", "D-ITEM-AMT": D("-0.01")}],
        "D-MID": "", "D-NOTES": [], "D-TAIL": 7}},
    "redef": {"REDEF-REC": {
        "R-TYPE": "P", "R-AMOUNT": D("-123456789.01"),
        "R-BODY": {"R-NAME": "ALICE", "R-AGE": 42},
        "R-BODY-ALT": None,  # R-ALT-NUM would be 'E   ' = 1159733280: over S9(9) (TRUNC STD)
        "R-FIRST-BYTE": "A",  # a FILLER group's items belong to the group around it
        "R-TAIL": "12", "R-TAIL-N": 12}},
    "multi-detail": {"M-DETAIL": {
        "M-D-TYPE": "D", "M-D-COUNT": 2,
        "M-D-LINE": [{"M-D-SKU": "SKU001", "M-D-QTY": 5}, {"M-D-SKU": "SKU002", "M-D-QTY": -12}]}},
    "occurs": {"OCC-REC": {
        "O-COUNT": 3, "O-CODES": ["AB1", "", "", "AB4"],
        "O-TABLE": [
            {"O-KEY": "K1", "O-AMT": D("-1.50"),
             "O-SUB": [{"O-SUB-A": "", "O-SUB-B": 0}, {"O-SUB-A": "X", "O-SUB-B": 999}]},
            {"O-KEY": "", "O-AMT": D("0"),
             "O-SUB": [{"O-SUB-A": "", "O-SUB-B": 0}, {"O-SUB-A": "", "O-SUB-B": 0}]},
            {"O-KEY": "K3", "O-AMT": D("12345.67"),
             "O-SUB": [{"O-SUB-A": "", "O-SUB-B": 0}, {"O-SUB-A": "", "O-SUB-B": 0}]}],
        "O-GRID": {"O-ROW": [{"O-CELL": [0, 0, 0]}, {"O-CELL": [0, 0, 7]}]},
        "O-LAST": "LAST"}},
}
EXPECTED["nested-2-3"] = {"NEST-REC": {
    "NS-GROUPS": 2, "NS-LINES": 3,
    "NS-GROUP": [
        {"NS-G-ID": "G01", "NS-LINE": [{"NS-L-AMT": D("1.01"), "NS-L-FLAG": "A"},
                                       {"NS-L-AMT": D("-2.02"), "NS-L-FLAG": "B"},
                                       {"NS-L-AMT": D("3.00"), "NS-L-FLAG": "C"}],
         "NS-G-END": "X"},
        # (2, 1) was never MOVEd to, and GnuCOBOL's INITIALIZE (run while the counts were 0)
        # left spaces there: a blank packed field reads as None
        {"NS-G-ID": "G02", "NS-LINE": [{"NS-L-AMT": None, "NS-L-FLAG": ""},
                                       {"NS-L-AMT": D("0"), "NS-L-FLAG": ""},
                                       {"NS-L-AMT": D("99999.99"), "NS-L-FLAG": "Z"}],
         "NS-G-END": "Y"}],
    "NS-TRAILER": {"NS-T-COUNT": 6, "NS-T-NOTE": "DONE"}}}
RULES = {"redef": [RedefineRule("R-AMOUNT-X", "R-TYPE", {"P": "R-AMOUNT"})]}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_values_of_records_gnucobol_wrote(case: str) -> None:
    info = VALUES[case]
    cb = Copybook((CORPUS / info["copybook"]).read_bytes(), source=info["copybook"],
                  resolve=copy_resolver([CORPUS]), options=FieldOptions(encoding="ascii"),
                  redefine_rules=RULES.get(case, []))
    cb.select(info["record"])
    raw = bytes.fromhex(info["hex"])
    assert cb.decode(raw) == EXPECTED[case]
    # byte for byte back, except where the values do not hold the bytes: the redef record's
    # unread view, and the nested record's blank packed field (None is written as zero)
    if case not in ("redef", "nested-2-3"):
        assert cb.encode(cb.decode(raw)) == raw


def test_every_value_case_has_expectations() -> None:
    assert set(VALUES) == set(EXPECTED)


@pytest.mark.skipif(shutil.which("cobc") is None, reason="cobc (gnucobol3) not installed")
def test_committed_values_are_what_gnucobol_writes() -> None:
    res = subprocess.run([sys.executable, str(CORPUS / "gen_values.py"), "--check"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
