"""nlets text <-> niem XML through the canonical model keeps every field.

Runs over every wire file of fixtures/messages/nlets/ (``<name>.txt`` beside ``<name>.json``):
decode nlets -> encode niem -> decode niem must give the same canonical dict (``format`` and
``warnings`` aside: warnings are recomputed by the edits), and encoding that back with nlets
must give the original bytes (for ``.lenient.`` samples: the canonical nlets form).
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import pytest

from clets.codecs import get_codec
from clets.model import Message, to_dict
from tests.conftest import FIXTURES, ROOT, require_peer

NLETS_DIR = FIXTURES / "messages" / "nlets"
HAVE_NLETS = importlib.util.find_spec("clets.codecs.nlets") is not None
WIRES = sorted(p for p in NLETS_DIR.glob("*") if p.suffix != ".json") if NLETS_DIR.is_dir() \
    else []
XSD = ROOT / "src" / "clets" / "codecs" / "xsd" / "nlets-niem-4.00-profile.xsd"

pytestmark = pytest.mark.skipif(
    not HAVE_NLETS, reason="the nlets codec (clets.codecs.nlets) is not there yet")


def _nlets(wire: Path) -> Any:
    return get_codec("nlets", **({"encoding": "cp037"} if ".cp037." in wire.name else {}))


def _canon(msg: Message) -> dict[str, Any]:
    d = to_dict(msg)
    del d["format"], d["warnings"]
    return d


def test_there_are_nlets_fixtures() -> None:
    assert len(WIRES) >= 10


@pytest.mark.parametrize("wire", WIRES, ids=[w.name for w in WIRES])
def test_nlets_to_niem_and_back(wire: Path) -> None:
    nlets, niem = _nlets(wire), get_codec("niem")
    original = wire.read_bytes()
    msg = nlets.decode(original)
    xml = niem.encode(msg)
    again = niem.decode(xml)
    assert _canon(again) == _canon(msg)
    assert again.warnings == msg.warnings  # the same edits found the same things
    back = nlets.encode(again)
    assert back == (original if ".lenient." not in wire.name else nlets.encode(msg))


def test_converted_documents_pass_xmllint(tmp_path: Path) -> None:
    xmllint = require_peer("xmllint")
    niem = get_codec("niem")
    paths = []
    for i, wire in enumerate(WIRES):
        path = tmp_path / f"{i}.xml"
        path.write_bytes(niem.encode(_nlets(wire).decode(wire.read_bytes())))
        paths.append(str(path))
    run = subprocess.run([xmllint, "--noout", "--schema", str(XSD), *paths],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
