"""Record bytes written by GnuCOBOL for the value tests (tests/test_copybook_corpus.py).

Each case is a corpus copybook and COBOL MOVE statements; the generated program COPYs the
copybook, runs the MOVEs (DEPENDING ON counters below their maximum, so the items after a
table sit where ``-fodoslide`` puts them) and DISPLAYs every byte of the record, for its
current length (``FUNCTION BYTE-LENGTH``), as a decimal number.  ``values.json`` keeps the
bytes as hex; the values the test expects are written by hand in the test, from the MOVEs.

Usage: ``python tests/copybook_corpus/gen_values.py [--check]``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CASES: dict[str, tuple[str, str, list[str]]] = {
    # name: (copybook, record, MOVE statements)
    "odo-3-2": ("C06ODO.cpy", "ODO-REC", [
        "MOVE 'K' TO D-KIND", "MOVE 3 TO D-N1", "MOVE 2 TO D-N2", "MOVE 'HEAD' TO D-HEAD",
        "MOVE 'AAA' TO D-ITEM-CODE (1)", "MOVE 1.25 TO D-ITEM-AMT (1)",
        "MOVE 'BBB' TO D-ITEM-CODE (2)", "MOVE -99999.99 TO D-ITEM-AMT (2)",
        "MOVE 'CCC' TO D-ITEM-CODE (3)", "MOVE 0 TO D-ITEM-AMT (3)",
        "MOVE 'MI' TO D-MID", "MOVE 'NOTE1' TO D-NOTES (1)", "MOVE 'NOTE2' TO D-NOTES (2)",
        "MOVE 123 TO D-TAIL"]),
    "odo-1-0": ("C06ODO.cpy", "ODO-REC", [
        "MOVE 'Q' TO D-KIND", "MOVE 1 TO D-N1", "MOVE 0 TO D-N2", "MOVE 'H' TO D-HEAD",
        "MOVE 'ZZZ' TO D-ITEM-CODE (1)", "MOVE -0.01 TO D-ITEM-AMT (1)",
        "MOVE SPACES TO D-MID", "MOVE 7 TO D-TAIL"]),
    "redef": ("C04REDEF.cpy", "REDEF-REC", [
        "MOVE 'P' TO R-TYPE", "MOVE -123456789.01 TO R-AMOUNT", "MOVE 'ALICE' TO R-NAME",
        "MOVE 42 TO R-AGE", "MOVE 12 TO R-TAIL-N"]),
    "multi-detail": ("C13MULTI.cpy", "M-DETAIL", [
        "MOVE 'D' TO M-D-TYPE", "MOVE 2 TO M-D-COUNT", "MOVE 'SKU001' TO M-D-SKU (1)",
        "MOVE 5 TO M-D-QTY (1)", "MOVE 'SKU002' TO M-D-SKU (2)", "MOVE -12 TO M-D-QTY (2)"]),
    "nested-2-3": ("C16NESTED.cpy", "NEST-REC", [
        "MOVE 2 TO NS-GROUPS", "MOVE 3 TO NS-LINES",
        "MOVE 'G01' TO NS-G-ID (1)", "MOVE 1.01 TO NS-L-AMT (1, 1)",
        "MOVE 'A' TO NS-L-FLAG (1, 1)", "MOVE -2.02 TO NS-L-AMT (1, 2)",
        "MOVE 'B' TO NS-L-FLAG (1, 2)", "MOVE 3 TO NS-L-AMT (1, 3)",
        "MOVE 'C' TO NS-L-FLAG (1, 3)", "MOVE 'X' TO NS-G-END (1)",
        "MOVE 'G02' TO NS-G-ID (2)", "MOVE 99999.99 TO NS-L-AMT (2, 3)",
        "MOVE 'Z' TO NS-L-FLAG (2, 3)", "MOVE 'Y' TO NS-G-END (2)",
        "MOVE 6 TO NS-T-COUNT", "MOVE 'DONE' TO NS-T-NOTE"]),
    "occurs": ("C05OCCURS.cpy", "OCC-REC", [
        "MOVE 3 TO O-COUNT", "MOVE 'AB1' TO O-CODES (1)", "MOVE 'AB4' TO O-CODES (4)",
        "MOVE 'K1' TO O-KEY (1)", "MOVE -1.5 TO O-AMT (1)", "MOVE 'X' TO O-SUB-A (1, 2)",
        "MOVE 999 TO O-SUB-B (1, 2)", "MOVE 'K3' TO O-KEY (3)", "MOVE 12345.67 TO O-AMT (3)",
        "MOVE 7 TO O-CELL (2, 3)", "MOVE 'LAST' TO O-LAST"]),
}


def program(copybook: str, record: str, moves: list[str]) -> str:
    lines = [
        "       IDENTIFICATION DIVISION.", "       PROGRAM-ID. VALS.",
        "       DATA DIVISION.", "       WORKING-STORAGE SECTION.",
        "       01  VAL-I    PIC 9(6) COMP-5.", "       01  VAL-L    PIC 9(6) COMP-5.",
        "       01  VAL-B    PIC 9(3).",
        f"           COPY \"{copybook}\".",
        "       PROCEDURE DIVISION.",
        f"           INITIALIZE {record}",
    ]
    lines += [f"           {m}" for m in moves]
    lines += [
        f"           COMPUTE VAL-L = FUNCTION BYTE-LENGTH ({record})",
        "           PERFORM VARYING VAL-I FROM 1 BY 1 UNTIL VAL-I > VAL-L",
        f"               COMPUTE VAL-B = FUNCTION ORD ({record} (VAL-I:1)) - 1",
        "               DISPLAY VAL-B",
        "           END-PERFORM",
        "           STOP RUN.",
    ]
    return "\n".join(lines) + "\n"


def run(copybook: str, record: str, moves: list[str]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "vals.cbl"
        src.write_text(program(copybook, record, moves))
        exe = Path(tmp) / "vals"
        res = subprocess.run(["cobc", "-x", "-std=ibm", "-fodoslide", "-I", str(HERE), "-o",
                              str(exe), str(src)], capture_output=True, text=True, check=False)
        if res.returncode:
            raise RuntimeError(f"cobc failed:\n{res.stderr}\n{src.read_text()}")
        out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return bytes(int(x) for x in out.split()).hex()


def main() -> int:
    if shutil.which("cobc") is None:
        print("cobc (gnucobol3) is not installed: make deps", file=sys.stderr)
        return 2
    figures = {name: {"copybook": c, "record": r, "hex": run(c, r, m)}
               for name, (c, r, m) in CASES.items()}
    target = HERE / "values.json"
    if "--check" in sys.argv:
        old = json.loads(target.read_text())
        if old != figures:
            print(json.dumps({"committed": old, "cobc": figures}, indent=1))
            return 1
        return 0
    target.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
