"""Offsets and lengths of every corpus copybook's items as GnuCOBOL lays them out.

For each copybook this writes a COBOL program that COPYs it into WORKING-STORAGE, sets every
OCCURS DEPENDING ON counter to its maximum, and DISPLAYs, for every named item, the
difference between its ADDRESS OF and its record's, and FUNCTION BYTE-LENGTH of it; compiled
with ``cobc -x -std=ibm -fodoslide`` (IBM's binary sizes, items after a DEPENDING ON table
placed after its actual count, as Enterprise COBOL does).  The item *names* come from clets's
parser (it only says what to measure); every figure comes from GnuCOBOL.

Usage: ``python tests/copybook_corpus/gen_oracle.py [--check]`` -- writes oracle.json next to
this file, or with --check prints the differences from the committed one (exit 1 if any).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))

from clets.codecs.copybook.parser import Item, parse_items  # noqa: E402
from clets.codecs.copybook.source import copy_resolver  # noqa: E402

MEMBERS = {"C12ADDR.cpy"}  # copied by others, not records of their own
SKIP_USAGES = {"pointer", "procedure-pointer", "function-pointer"}  # 8 bytes in GnuCOBOL/64


def _wrap(words: list[str], indent: str = "           ") -> list[str]:
    """COBOL words on fixed-format lines (columns 12-72)."""
    lines: list[str] = []
    cur = indent
    for w in words:
        if len(cur) + len(w) + 1 > 72 and cur.strip():
            lines.append(cur)
            cur = indent + "    "
        cur += ("" if cur.endswith(" ") else " ") + w
    lines.append(cur)
    return lines


def _named_path(item: Item) -> list[Item]:
    out = []
    it: Item | None = item
    while it is not None:
        out.append(it)
        it = it.parent
    return list(reversed(out))


def _ref(item: Item) -> list[str]:
    """A qualified, subscripted reference to the first occurrence of ``item``."""
    path = _named_path(item)
    names = [p.name for p in reversed(path) if not p.filler]
    words: list[str] = []
    for i, n in enumerate(names):
        if i:
            words.append("OF")
        words.append(n)
    subs = sum(1 for p in path if p.has_occurs)
    if subs:
        words.append("(" + ", ".join(["1"] * subs) + ")")
    return words


def _walk(item: Item) -> list[Item]:
    out = [item]
    for c in item.children:
        out.extend(_walk(c))
    return out


def program(cpy: Path) -> tuple[str, list[str]]:
    records = parse_items(cpy.read_bytes(), cpy.name, resolve=copy_resolver([cpy.parent]))
    keys: list[str] = []
    ws = ["       01  ORA-P    USAGE POINTER.",
          "       01  ORA-PN   REDEFINES ORA-P PIC 9(18) COMP-5.",
          "       01  ORA-B    USAGE POINTER.",
          "       01  ORA-BN   REDEFINES ORA-B PIC 9(18) COMP-5.",
          "       01  ORA-OFF  PIC -(9)9.",
          "       01  ORA-LEN  PIC -(9)9."]
    fragment = any(r.level == 0 for r in records)
    if fragment:
        ws.append(f"       01  {records[0].name}.")
    ws.append(f"           COPY \"{cpy.name}\".")
    proc: list[str] = []
    for rec in records:
        for it in _walk(rec):
            if it.depending is not None:
                counter = next(x for x in _walk(rec) if x.name == it.depending[0] and all(
                    q in [p.name for p in _named_path(x)] for q in it.depending[1:]))
                proc += _wrap(["MOVE", str(it.occurs), "TO", *_ref(counter)])
    for rec in records:
        proc += _wrap(["SET", "ORA-B", "TO", "ADDRESS", "OF", rec.name])
        for it in _walk(rec):
            if it.filler or it.usage in SKIP_USAGES:
                continue
            key = ".".join(p.name for p in _named_path(it))
            ref = _ref(it)
            if it.level == 66:
                ref = [it.name, "OF", rec.name] if False else [it.name]
            keys.append(key)
            proc += _wrap(["SET", "ORA-P", "TO", "ADDRESS", "OF", *ref])
            proc += _wrap(["COMPUTE", "ORA-OFF", "=", "ORA-PN", "-", "ORA-BN"])
            proc += _wrap(["COMPUTE", "ORA-LEN", "=", "FUNCTION", "BYTE-LENGTH", "(", *ref,
                           ")"])
            proc += _wrap(["DISPLAY", f'"{key}|"', "ORA-OFF", '"|"', "ORA-LEN"])
    text = "\n".join([
        "       IDENTIFICATION DIVISION.",
        "       PROGRAM-ID. ORACLE.",
        "       DATA DIVISION.",
        "       WORKING-STORAGE SECTION.",
        *ws,
        "       PROCEDURE DIVISION.",
        *proc,
        "           STOP RUN.",
    ]) + "\n"
    return text, keys


def measure(cpy: Path) -> dict[str, list[int]]:
    text, _ = program(cpy)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "oracle.cbl"
        src.write_text(text)
        exe = Path(tmp) / "oracle"
        res = subprocess.run(["cobc", "-x", "-std=ibm", "-fodoslide", "-I", str(cpy.parent),
                              "-o", str(exe), str(src)], capture_output=True, text=True,
                             cwd=tmp, check=False)
        if res.returncode:
            raise RuntimeError(f"cobc failed on {cpy.name}:\n{res.stderr}\n{text}")
        run = subprocess.run([str(exe)], capture_output=True, text=True, check=True)
    out: dict[str, list[int]] = {}
    for line in run.stdout.splitlines():
        key, off, ln = line.split("|")
        out[key] = [int(off), int(ln)]
    return out


def corpus() -> list[Path]:
    return [p for p in sorted(HERE.glob("*.cpy")) if p.name not in MEMBERS]


def main() -> int:
    if shutil.which("cobc") is None:
        print("cobc (gnucobol3) is not installed: make deps", file=sys.stderr)
        return 2
    figures = {p.name: measure(p) for p in corpus()}
    target = HERE / "oracle.json"
    if "--check" in sys.argv:
        old = json.loads(target.read_text())
        if old != figures:
            print(json.dumps({"committed": old, "cobc": figures}, indent=1))
            return 1
        return 0
    target.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    print(f"wrote {target} ({sum(map(len, figures.values()))} items)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
