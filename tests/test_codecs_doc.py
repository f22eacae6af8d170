"""docs/codecs.md's NCIC coverage, file by file, is the data's (issue 17: "kept exact").

The figures of "NCIC and Nlets coverage, file by file" are counted here from fields.toml,
transactions.toml and fixtures/corpus, and compared with what the page says: a row added to
the dictionary, a key to a file or a message to the corpus fails this test until the page
says so too.  The failure message prints the line the page should have.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from clets.model.transactions import default_transactions

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "codecs.md").read_text("utf-8")
FIELDS = tomllib.loads((ROOT / "src" / "clets" / "model" / "fields.toml").read_text("utf-8"))
CORPUS = ROOT / "fixtures" / "corpus"
EDIT_KEYS = ("max", "min", "chars", "table")


def _general_rows() -> list[dict[str, object]]:
    return [r for r in FIELDS["field"] if "keys" not in r]


def _table() -> list[list[str]]:
    start = DOC.index("| file | NIC | keys | rows of fields.toml | corpus |")
    block = DOC[start:DOC.index("\n\n", start)]
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in block.splitlines()[2:]]


def _keys(cell: str) -> set[str]:
    """The keys a table cell names: groups by kind split by ``;``, ``(+C)`` adds each
    key of its group with a final C, ``(inquiry only)`` is a note."""
    out: set[str] = set()
    for group in cell.replace("(inquiry only)", "").split(";"):
        seen: list[str] = []
        for word in group.split():
            if word == "(+C)":
                out |= {k + "C" for k in seen}
            else:
                seen.append(word)
                out.add(word)
    return out


def test_the_file_table_is_the_datas() -> None:
    table = default_transactions()
    rows = _general_rows()
    lines = _table()
    assert sorted(cells[0] for cells in lines) == sorted(table.files), "one line per file"
    for fid, nic, keys, counted, corpus in lines:
        f = table.files[fid]
        mine = [r for r in rows if fid in r.get("files", [])]  # type: ignore[operator]
        edits = sum(any(k in r for k in EDIT_KEYS) for r in mine)
        messages = len(list((CORPUS / "ncic" / fid).glob("*.txt")))
        want = f"{len(mine)} ({edits} with an edit)" if fid == lines[0][0] else \
            f"{len(mine)} ({edits})"
        assert (counted, int(corpus)) == (want, messages), (
            f"| {fid} | {nic} | {keys} | {want} | {messages} |")
        assert nic == (f.nic or ""), fid
        assert _keys(keys) == {k for ks in f.keys.values() for k in ks}, fid


def test_the_dictionary_and_corpus_figures_are_the_datas() -> None:
    rows = _general_rows()
    keyed = [r for r in FIELDS["field"] if "keys" in r]
    pathless = [r for r in rows if not r.get("path")]
    unsourced = [r for r in pathless if r.get("source") == "none"]
    said = re.search(r"`src/clets/model/fields.toml`\): (\d+) tags\. (\d+) rows bind a tag to "
                     r"a slot\s+of the canonical model", DOC)
    assert said is not None
    assert (int(said[1]), int(said[2])) == (len({r["tag"] for r in rows}),
                                            len(rows) - len(pathless))
    assert f"{len(pathless)} rows have no `path`" in DOC
    edited = len(pathless) - len(unsourced)
    assert re.search(rf"\b{edited} of them have an edit from a public source", DOC), edited
    assert re.search(rf"for the other\s+{len(unsourced)}, `source = \"none\"`", DOC), \
        len(unsourced)
    pairs = sum(len(r["keys"]) for r in keyed)  # type: ignore[arg-type]
    assert f"{len(keyed)} keyed rows (for {pairs} message keys" in DOC, (len(keyed), pairs)
    corpus = len(list(CORPUS.rglob("*.txt")))
    assert f"`fixtures/corpus/` ({corpus} messages" in DOC, corpus
