"""A byte outside a codec's character set is a CharacterError at its byte offset, in every
codec the switch reads (the switch names that offset in its ``.22.``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.codecs.base import get_codec
from clets.errors import CharacterError, DecodeError
from clets.model import Message
from tests.strategies import inquiries

#: C0 controls no codec accepts anywhere (TAB, LF, CR are line ends or XML/JSON whitespace)
BAD_CONTROLS = [b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D)]
#: bytes no UTF-8 or ASCII text holds
NOT_TEXT = [0x80, 0xC3, 0xFE, 0xFF]


@pytest.mark.parametrize("codec", ["ncic", "nlets", "niem", "json"])
@given(msg=inquiries("json"), where=st.floats(0, 1), byte=st.sampled_from(BAD_CONTROLS +
                                                                          NOT_TEXT))
def test_a_bad_byte_anywhere_is_named_at_its_offset(codec: str, msg: Message, where: float,
                                                   byte: int) -> None:
    if codec == "nlets":
        msg.destinations = ["CA"]
    frame = get_codec(codec).encode(msg)
    at = int(where * len(frame))
    bad = frame[:at] + bytes([byte]) + frame[at:]
    with pytest.raises(CharacterError) as info:
        get_codec(codec).decode(bad)
    assert info.value.offset == at and info.value.code == 22


@pytest.mark.parametrize("codec", ["ncic", "nlets"])
def test_ebcdic_text_names_the_byte_offset(codec: str) -> None:
    frame = "QW.CA0349999.CA.TXTNAM/SMITH" if codec == "nlets" else "QW.CA0349999.NAM/SMITH"
    data = frame.encode("cp037") + b"\x01"
    with pytest.raises(CharacterError) as info:
        get_codec(codec, encoding="cp037").decode(data)
    assert info.value.offset == len(data) - 1


def test_other_json_syntax_errors_are_not_character_errors() -> None:
    with pytest.raises(DecodeError) as info:
        get_codec("json").decode(b'{"mke": "QW"')
    assert not isinstance(info.value, CharacterError)
