"""Every fixture pair, both ways.

Convention: ``fixtures/messages/<codec>/<name>.json`` is the expected canonical JSON (an object,
or a list for a stream of messages); the wire file is the other file with the same stem
(``<name>.txt``, ``<name>.xml``, ``<name>.cp037.bin``, ``<name>.rdw.cp037.bin``).  Wire files are
canonical, so ``encode(expected) == wire`` too -- except ``.lenient.`` samples, which show what
the decoder tolerates and are only decoded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clets.codecs import get_codec
from clets.model import from_dict, to_dict
from tests.conftest import FIXTURES

MESSAGES = FIXTURES / "messages"


def _pairs() -> list[tuple[str, Path, Path]]:
    out = []
    for expected in sorted(MESSAGES.glob("*/*.json")):
        codec = expected.parent.name
        stem = expected.name[: -len(".json")]
        wires = [p for p in expected.parent.iterdir()
                 if p != expected and p.name.startswith(stem + ".")
                 and p.name[len(stem) + 1:].split(".")[0] in {"txt", "xml", "bin", "cp037",
                                                               "cp500", "rdw", "lenient", "wire"}]
        for wire in wires:
            out.append((codec, wire, expected))
    return out


PAIRS = _pairs()


def _options(wire: Path) -> dict[str, object]:
    for enc in ("cp037", "cp500"):
        if f".{enc}." in wire.name:
            return {"encoding": enc}
    return {}


@pytest.mark.parametrize(("codec_name", "wire", "expected"), PAIRS,
                         ids=[f"{c}/{w.name}" for c, w, _ in PAIRS])
def test_fixture_both_ways(codec_name: str, wire: Path, expected: Path) -> None:
    codec = get_codec(codec_name, **_options(wire))
    data = wire.read_bytes()
    want = json.loads(expected.read_text("utf-8"))
    if isinstance(want, list):
        got = [to_dict(m) for m in codec.decode_stream(data)]
        assert got == want
        if ".lenient." not in wire.name and hasattr(codec, "encode_stream"):
            assert codec.encode_stream([from_dict(w) for w in want]) == data
        return
    assert to_dict(codec.decode(data)) == want
    if ".lenient." not in wire.name:
        assert codec.encode(from_dict(want)) == data


def test_enough_fixtures() -> None:
    """The codec issue asks for at least 40 samples across the codecs."""
    assert len(PAIRS) >= 40
    assert len({c for c, _, _ in PAIRS}) >= 5
