"""Decoding with edits checks each value as it parses it (``edits.decode_guard``) and runs
``apply_edits`` only when a guard fires.  That must never change the outcome: for any text,
``NcicCodec().decode`` (and ``NletsCodec().decode``) gives exactly what decoding without edits
and then the edits give -- the same message and warnings, or the same reject (reason, field,
value).

Inputs: every ncic and nlets fixture, and fixtures with one field value replaced by awkward
values (bad codes, warning codes, future dates, long or odd names, VINs with a wrong check
digit...) or by drawn text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clets.codecs.ncic import NcicCodec
from clets.codecs.nlets import NletsCodec
from clets.codecs.tagged import TextCodec
from clets.errors import DecodeError
from clets.model import Message, apply_edits, to_dict
from tests.conftest import FIXTURES

#: a record with an owner: the owner's name is edited as OWN and as a person's NAM
OWNER = (b"QVR.CA0349999.*Q0000124.\n\nMKE/STOLEN VEHICLE\nLIC/7ABC123 LIS/CA "
         b"OWN/GARCIA, MARIA L OAD/123 MAIN ST OCY/SACRAMENTO OST/CA OZP/95814")


def _nlets_edits(msg: Message) -> Message:
    NletsCodec()._edits(msg, {})  # the destination rule, then apply_edits (no guards)
    return msg


#: format -> (codec with edits, codec without, the edits as they ran before guards)
CODECS: dict[str, tuple[TextCodec, TextCodec, Callable[[Message], Message]]] = {
    "ncic": (NcicCodec(), NcicCodec(edits=False), apply_edits),
    "nlets": (NletsCodec(), NletsCodec(edits=False), _nlets_edits),
}
_FILES = [(fmt, p) for fmt in CODECS
          for p in sorted((FIXTURES / "messages" / fmt).glob("*.txt"))]
SAMPLES = [(fmt, p.read_bytes()) for fmt, p in _FILES] + [("ncic", OWNER)]
IDS = [f"{fmt}/{p.name}" for fmt, p in _FILES] + ["ncic/owner"]
FIELD = re.compile(rb"(?<=[A-Z0-9]{3}/)[^ .\n]+")
TRICKY = [b"M", b"X", b"U", b"W", b"Z", b"ZZ", b"19751012", b"20991231", b"19750230",
          b"751012", b"1975-10-12", b"510", b"511", b"999", b"180", b"1800", b"CA", b"XX",
          b"1HGCM82633A004352", b"1HGCM82633A004353", b"SMITH, JOHN J", b"SMITH,JOHN", b"SMITH",
          b"A" * 40, b"BLK/WHI", b"BLK/ZZZ", b"Y", b"N", b"CA0349999", b"CA034999",
          b"W123456789", b"24-001234", b"GARCIA, M4RIA", b"GARCIA MARIA"]
RANDOM = st.text(alphabet="ABCMXYZ0123456789-/, '", min_size=1, max_size=20).map(str.encode)


def _error(exc: DecodeError) -> tuple[str, object]:
    return type(exc).__name__, (exc.reason, exc.field, getattr(exc, "value", None))


def decoded(fmt: str, data: bytes) -> tuple[str, object]:
    """What the codec with edits gives, as a comparable value."""
    codec = CODECS[fmt][0]
    try:
        return "ok", to_dict(codec.decode(data))
    except DecodeError as exc:  # ValidationError included
        return _error(exc)


def reference(fmt: str, data: bytes) -> tuple[str, object]:
    """Decode without edits, then the edits on the message."""
    _, plain, edits = CODECS[fmt]
    try:
        return "ok", to_dict(edits(plain.decode(data)))
    except DecodeError as exc:
        return _error(exc)


@pytest.mark.parametrize(("fmt", "data"), SAMPLES, ids=IDS)
def test_fixtures_decode_the_same_with_guards(fmt: str, data: bytes) -> None:
    assert decoded(fmt, data) == reference(fmt, data)


@pytest.mark.parametrize(("fmt", "text"), SAMPLES, ids=IDS)
def test_every_field_with_every_tricky_value_decodes_the_same_with_guards(fmt: str, text: bytes
                                                                          ) -> None:
    for m in FIELD.finditer(text):
        for value in TRICKY:
            changed = text[:m.start()] + value + text[m.end():]
            assert decoded(fmt, changed) == reference(fmt, changed), changed


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SAMPLES), st.data(), RANDOM)
def test_one_changed_value_decodes_the_same_with_guards(sample: tuple[str, bytes],
                                                        data: st.DataObject,
                                                        value: bytes) -> None:
    fmt, text = sample
    spots = list(FIELD.finditer(text))
    if not spots:
        return
    m = data.draw(st.sampled_from(spots))
    changed = text[:m.start()] + value + text[m.end():]
    got, want = decoded(fmt, changed), reference(fmt, changed)
    assert got == want
