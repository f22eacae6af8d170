"""The sender's message key, ORI and control, read from the raw bytes of a JSON or NIEM frame
that did not decode.

Why: a refused frame is answered to its sender's ORI, with its control, so the sender can
correlate the ``ER`` (docs/switch.md, "What a refused frame gets back").  When one byte deep in
a document is bad (a NUL in a name, a name in Latin-1), the header fields are still there to
read.  Pure functions over bytes, like the codecs; a value is taken only when it is plainly
what it says (an ORI of capitals and digits, a control of printable ASCII), never guessed.
"""

from __future__ import annotations

import re

__all__ = ["json_header", "niem_header"]

Header = tuple[str | None, str | None, str | None]

_KEY = rb"[A-Z0-9$\-]{1,4}|\$\.[A-Z0-9]{1,2}"
_ORI = rb"[A-Z0-9]{1,9}"
#: a control: printable ASCII (JSON: no quote or backslash; XML: no markup or CDATA end)
_JSON_CONTROL = rb'[^"\\\x00-\x1f\x7f-\xff]{1,40}'
_XML_CONTROL = rb"[^<>\]&\x00-\x1f\x7f-\xff]{1,40}"


def _json_field(name: bytes, value: bytes) -> re.Pattern[bytes]:
    return re.compile(rb'"' + name + rb'"\s*:\s*"(' + value + rb')"')


_JSON = (_json_field(b"mke", _KEY), _json_field(b"origin", _ORI),
         _json_field(b"control", _JSON_CONTROL))


def json_header(frame: bytes) -> Header:
    """``mke``, ``origin`` and ``control`` of a canonical JSON object (model.md): the first
    occurrence of each key with a plain string value.  Only the message has these keys."""
    return _first(frame, _JSON)


def _niem_element(local: bytes, value: bytes) -> re.Pattern[bytes]:
    # any namespace prefix; the control is CDATA in our profile (formats.md section 3)
    return re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?" + local + rb"\s*>\s*(?:<!\[CDATA\[)?("
                      + value + rb")(?:\]\]>)?\s*</")


_NIEM = (_niem_element(b"MessageKeyCodeText", _KEY), _niem_element(b"OriginatingORIID", _ORI),
         _niem_element(b"DocumentControlFieldText", _XML_CONTROL))


def niem_header(frame: bytes) -> Header:
    """``nh2:MessageKeyCodeText``, ``nh2:OriginatingORIID`` and
    ``nh2:DocumentControlFieldText`` of an ``n2:NLETS`` document (formats.md section 3)."""
    return _first(frame, _NIEM)


def _first(frame: bytes, patterns: tuple[re.Pattern[bytes], ...]) -> Header:
    found: list[str | None] = []
    for pattern in patterns:
        m = pattern.search(frame)
        found.append((m.group(1).decode("ascii").strip() or None) if m else None)
    return found[0], found[1], found[2]
