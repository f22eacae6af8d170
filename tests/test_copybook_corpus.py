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
from pathlib import Path

import pytest

from clets.codecs.copybook.source import copy_resolver
from clets.codecs.copybook.tree import Copybook

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
