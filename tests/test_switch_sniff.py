"""Reading a refused JSON / NIEM frame's header from its raw bytes (clets.switch.sniff)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from clets.codecs.base import get_codec
from clets.model import Message
from clets.switch.sniff import json_header, niem_header
from tests.strategies import inquiries

CONTROLS = st.none() | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                             exclude_characters='.<>]&"\\'),
                               min_size=1, max_size=10)
SNIFF = {"json": json_header, "niem": niem_header}


@given(st.sampled_from(["json", "niem"]), inquiries("json"), CONTROLS,
       st.integers(0, 400), st.binary(min_size=1, max_size=3))
def test_the_header_of_a_document_broken_anywhere_after_it_is_read(
        codec: str, msg: Message, control: str | None, at: int, junk: bytes) -> None:
    """Whatever is broken after the header, its key, ORI and control are what was written."""
    msg.control = control
    frame = get_codec(codec).encode(msg)
    end = frame.index(b'"sequence"' if codec == "json" else b"</n2:NLETSMessageHeader>")
    cut = min(len(frame), end + at)
    broken = frame[:cut] + junk + frame[cut:]
    assert SNIFF[codec](broken) == (msg.mke, msg.origin, control)


@given(st.sampled_from(["json", "niem"]), st.binary(max_size=400))
def test_any_bytes_give_only_plain_values(codec: str, data: bytes) -> None:
    key, ori, control = SNIFF[codec](data)
    assert key is None or re.fullmatch(r"[A-Z0-9$\-]{1,4}|\$\.[A-Z0-9]{1,2}", key)
    assert ori is None or re.fullmatch(r"[A-Z0-9]{1,9}", ori)
    assert control is None or (control.isascii() and control.isprintable()
                               and 1 <= len(control) <= 40)
