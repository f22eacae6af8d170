"""The NCIC/Nlets corpus (fixtures/corpus, written by fixtures/make_ncic_corpus.py from the
field dictionary and the transaction table): every file's entry with all its fields,
modification, cancel, locate, clear, inquiry and supplemental record, responses with banners,
several records, wrapped values and text lines, and the Nlets messages of the common types.

Each decodes with its edits, passes its transaction's mandatory fields, and comes back the
same through ncic (or nlets), NIEM and JSON; every tag it carries is in the dictionary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clets.codecs import get_codec
from clets.codecs.tagged import TAG_AT
from clets.model import Message, default_dictionary, replace, to_dict
from clets.model.transactions import check_transaction, default_transactions
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "corpus"
FILES = sorted(CORPUS.rglob("*.txt"))
NIEM = get_codec("niem")
JSON = get_codec("json")


def _codec(path: Path) -> str:
    return path.relative_to(CORPUS).parts[0]


def _model(msg: Message) -> dict[str, object]:
    """The model without what a format adds or needs of its own (name, header routing)."""
    d = to_dict(msg)
    for key in ("format", "warnings"):
        d.pop(key)
    return d


def _tags(text: str) -> list[str]:
    """Every ``TAG/`` that starts a field of a message's text."""
    out = []
    for line in text.split("\n"):
        for i in range(len(line) - 3):
            if (i == 0 or line[i - 1] in " .") and TAG_AT.match(line, i):
                out.append(line[i:i + 3])
    return out


def test_the_corpus_covers_every_file_and_kind() -> None:
    table = default_transactions()
    assert len(FILES) >= 150
    for fid, f in table.files.items():
        for kind in f.keys:
            found = list((CORPUS / "ncic" / fid).glob(f"{kind}_*.txt"))
            assert found, (fid, kind)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_corpus_message(path: Path) -> None:
    codec = get_codec(_codec(path))
    data = path.read_bytes()
    msg = codec.decode(data)
    # the ncic request layout has no header fields but the origin: every tag is a field
    if not codec.profile.is_response_key(msg.mke):  # type: ignore[attr-defined]
        check_transaction(msg)
    # the same model through the text codec, NIEM and JSON
    back = codec.decode(codec.encode(msg))
    assert _model(back) == _model(msg)
    assert _model(JSON.decode(JSON.encode(msg))) == _model(msg)
    assert _model(NIEM.decode(NIEM.encode(msg))) == _model(msg)
    if _codec(path) == "ncic" and not msg.records and msg.error is None and msg.text is None:
        # an NCIC request carried over Nlets to a state
        nl = get_codec("nlets")
        moved = replace(msg, destinations=["NV"])
        assert _model(nl.decode(nl.encode(moved))) == _model(moved)


def test_every_tag_of_the_corpus_is_known() -> None:
    dictionary = default_dictionary()
    unknown = set()
    for path in FILES:
        text = path.read_text("ascii")
        mke = text.split(".", 1)[0]
        for tag in _tags(text):
            if tag != "MKE" and dictionary.row_for(tag, mke) is None:
                unknown.add((path.name, tag))
    assert not unknown
