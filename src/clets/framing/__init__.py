"""Framers: pure, incremental byte-stream parsers shared by every stream transport.

``make_framer(spec, max_frame=...)`` builds one from its name (the ``framing=`` URL parameter):

========================  ==========================================================
``len2`` / ``len4``       big-endian payload length, then the payload
``ascii-len:N[:cp037]``   N decimal digits (ASCII or EBCDIC), then the payload
``rdw``                   IBM RDW (length incl. the 4 RDW bytes, 0x0000), payload
``stx-etx``               0x02 payload 0x03
``stx-etx+lrc``           0x02 payload 0x03 LRC; ACK/NAK bytes reported as events
``mllp``                  0x0B payload 0x1C 0x0D
``line``                  payload CR LF (bare LF accepted on input)
========================  ==========================================================
"""

from __future__ import annotations

from clets.errors import ConfigError
from clets.framing.base import (
    DEFAULT_MAX_FRAME,
    BadFrame,
    Control,
    Event,
    Frame,
    Framer,
    payloads,
)
from clets.framing.delimited import ACK, ETX, NAK, STX, DelimitedFramer, LineFramer, lrc
from clets.framing.delimited import mllp as _mllp
from clets.framing.delimited import stx_etx as _stx_etx
from clets.framing.length import AsciiLengthFramer, BinaryLengthFramer, RdwFramer

__all__ = [
    "ACK",
    "DEFAULT_MAX_FRAME",
    "ETX",
    "FRAMINGS",
    "NAK",
    "STX",
    "AsciiLengthFramer",
    "BadFrame",
    "BinaryLengthFramer",
    "Control",
    "DelimitedFramer",
    "Event",
    "Frame",
    "Framer",
    "LineFramer",
    "RdwFramer",
    "lrc",
    "make_framer",
    "payloads",
]

#: Names accepted by :func:`make_framer` (``ascii-len`` takes ``:N`` and optionally ``:cp037``).
FRAMINGS = ("len2", "len4", "ascii-len:N", "ascii-len:N:cp037", "rdw", "stx-etx", "stx-etx+lrc",
            "mllp", "line")


def make_framer(spec: str, max_frame: int = DEFAULT_MAX_FRAME) -> Framer:
    """A new framer for ``spec``; unknown names raise :class:`ConfigError` (a config problem)."""
    name = spec.strip().lower()
    if name in ("len2", "len4"):
        return BinaryLengthFramer(int(name[3]), max_frame)
    if name == "rdw":
        return RdwFramer(max_frame)
    if name in ("stx-etx", "stx-etx+lrc"):
        return _stx_etx(name.endswith("+lrc"), max_frame)
    if name == "mllp":
        return _mllp(max_frame)
    if name == "line":
        return LineFramer(max_frame)
    if name.startswith("ascii-len:"):
        parts = name.split(":")
        if len(parts) in (2, 3) and parts[1].isdigit() and 1 <= int(parts[1]) <= 9:
            enc = parts[2] if len(parts) == 3 else "ascii"
            if enc in ("ascii", "cp037"):
                return AsciiLengthFramer(int(parts[1]), enc, max_frame)
        raise ConfigError(
            f"bad framing {spec!r}: expected ascii-len:N or ascii-len:N:cp037 (N 1-9)"
        )
    raise ConfigError(f"unknown framing {spec!r}; known: {', '.join(FRAMINGS)}")
