"""Framers: round trips, chunking invariance, limits before buffering, resync, typed errors."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.errors import ConfigError, EncodeError, FrameTooLong, FramingError
from clets.framing import (
    ACK,
    NAK,
    BadFrame,
    Control,
    Event,
    Frame,
    Framer,
    lrc,
    make_framer,
    payloads,
)

ALL = [
    "len2",
    "len4",
    "ascii-len:5",
    "ascii-len:4:cp037",
    "rdw",
    "stx-etx",
    "stx-etx+lrc",
    "mllp",
    "line",
]
#: bytes each framing cannot carry in a payload
FORBIDDEN = {
    "stx-etx": b"\x02\x03",
    "stx-etx+lrc": b"\x02\x03",
    "mllp": b"\x0b\x1c",
    "line": b"\r\n",
}
MAX = 300


def clean(spec: str, payload: bytes) -> bytes:
    bad = FORBIDDEN.get(spec, b"")
    return bytes(b for b in payload if b not in bad)


def feed_chunks(framer: Framer, data: bytes, cuts: list[int]) -> list[Event]:
    """Feed ``data`` split at ``cuts``; stop (like a link would) once the stream is broken."""
    events: list[Event] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        if framer.broken is not None:
            with pytest.raises(FramingError):
                framer.feed(data[a:b])
            break
        events += framer.feed(data[a:b])
    return events


payload_lists = st.lists(st.binary(max_size=MAX), max_size=8)


@pytest.mark.parametrize("spec", ALL)
@given(payload_lists, st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_encode_feed_round_trip_any_split(spec: str, raw: list[bytes], cuts: list[int]) -> None:
    enc = make_framer(spec, max_frame=MAX)
    items = [clean(spec, p) for p in raw]
    stream = b"".join(enc.encode(p) for p in items)
    dec = make_framer(spec, max_frame=MAX)
    events = feed_chunks(dec, stream, cuts)
    assert all(isinstance(e, Frame) for e in events)
    assert payloads(events) == items
    assert dec.pending == 0


@pytest.mark.parametrize("spec", ALL)
@given(payload_lists, st.binary(max_size=50), st.lists(st.integers(0, 10_000), max_size=20))
def test_events_do_not_depend_on_chunking(
    spec: str, raw: list[bytes], noise: bytes, cuts: list[int]
) -> None:
    """Good frames with garbage spliced in: identical events byte-by-byte, whole, or chunked."""
    f = make_framer(spec, max_frame=MAX)
    frames = [f.encode(clean(spec, p)) for p in raw]
    mid = len(frames) // 2
    stream = b"".join(frames[:mid]) + noise + b"".join(frames[mid:])
    whole = feed_chunks(make_framer(spec, max_frame=MAX), stream, [])
    chunked = feed_chunks(make_framer(spec, max_frame=MAX), stream, cuts)
    bytewise = feed_chunks(make_framer(spec, max_frame=MAX), stream, list(range(len(stream))))
    assert whole == chunked == bytewise


@pytest.mark.parametrize("spec", ALL)
@given(st.binary(max_size=2000), st.lists(st.integers(0, 10_000), max_size=30))
def test_random_bytes_give_only_typed_events(spec: str, data: bytes, cuts: list[int]) -> None:
    framer = make_framer(spec, max_frame=64)
    try:
        events = feed_chunks(framer, data, cuts)
    except FramingError:  # pragma: no cover - feed_chunks stops at a broken stream
        raise AssertionError("feed raised on fresh data") from None
    for ev in events:
        assert isinstance(ev, Frame | BadFrame | Control)
        if isinstance(ev, Frame):
            assert len(ev.payload) <= 64
        if isinstance(ev, BadFrame):
            err = ev.error()
            assert isinstance(err, FramingError)
            assert err.offset == ev.offset
    # never holds more than one frame's worth (plus a byte of look-ahead)
    assert framer.pending <= 64 + 2


@pytest.mark.parametrize("spec", ["len2", "len4", "ascii-len:6", "rdw"])
def test_length_prefix_too_long_is_refused_before_payload(spec: str) -> None:
    big = make_framer(spec, max_frame=10_000)
    header = big.encode(b"x" * 5000)[: len(big.encode(b""))]
    small = make_framer(spec, max_frame=100)
    events = small.feed(header)  # only the header: nothing of the payload has arrived
    assert len(events) == 1 and isinstance(events[0], BadFrame)
    ev = events[0]
    assert ev.kind == "too-long" and ev.fatal and ev.offset == 0
    err = ev.error()
    assert isinstance(err, FrameTooLong) and err.code == 23
    assert small.pending == 0
    with pytest.raises(FramingError):
        small.feed(b"more")
    small.reset()
    assert payloads(small.feed(small.encode(b"ok"))) == [b"ok"]


@pytest.mark.parametrize("spec", ["stx-etx", "stx-etx+lrc", "mllp", "line"])
def test_delimited_too_long_refused_while_growing_then_resync(spec: str) -> None:
    f = make_framer(spec, max_frame=20)
    start = f.encode(b"")[:1] if spec != "line" else b""
    events = f.feed(start + b"y" * 21)  # no end byte yet: refused as soon as it passes 20
    assert [e.kind for e in events if isinstance(e, BadFrame)] == ["too-long"]
    assert f.pending == 0
    events = f.feed(b"z" * 100_000)  # the rest of the refused frame is skipped, not buffered
    assert events == [] and f.pending == 0
    tail = b"\n" if spec == "line" else b""
    events = f.feed(tail + f.encode(b"good"))
    assert payloads(events) == [b"good"]


def test_stx_etx_resyncs_after_garbage_and_truncation() -> None:
    f = make_framer("stx-etx")
    events = f.feed(b"noise\x02cut-short\x02whole\x03")
    assert events == [
        BadFrame("garbage", "5 byte(s) outside a frame skipped", 0, False, "stx-etx"),
        BadFrame("truncated", "frame ended by a new start byte before its end byte", 5, False,
                 "stx-etx"),
        Frame(b"whole", 15),
    ]


def test_lrc_verdicts_per_frame_and_control_bytes() -> None:
    f = make_framer("stx-etx+lrc")
    good = f.encode(b"A1")
    assert good == b"\x02A1\x03" + bytes((ord("A") ^ ord("1") ^ 0x03,))
    bad = b"\x02XY\x03\x00"
    events = f.feed(bytes((ACK,)) + bad + good + bytes((NAK,)))
    assert events[0] == Control(ACK, 0)
    assert isinstance(events[1], BadFrame) and events[1].kind == "lrc" and events[1].wants_nak
    assert events[1].offset == 1
    assert events[2] == Frame(b"A1", 1 + len(bad))
    assert events[3] == Control(NAK, 1 + len(bad) + len(good))


@given(st.binary(max_size=3000))
def test_lrc_is_xor_of_payload_and_etx(data: bytes) -> None:
    want = 0x03
    for b in data:
        want ^= b
    assert lrc(data) == want


def test_mllp_bad_trailer_resyncs() -> None:
    f = make_framer("mllp")
    events = f.feed(b"\x0bfirst\x1cX\x0bsecond\x1c\r")
    assert [type(e).__name__ for e in events] == ["BadFrame", "BadFrame", "Frame"]
    assert events[0].kind == "bad-trailer"  # type: ignore[union-attr]
    assert events[1].kind == "garbage"  # type: ignore[union-attr]  # the stray "X"
    assert payloads(events) == [b"second"]


def test_line_accepts_bare_lf_and_strips_one_cr() -> None:
    f = make_framer("line")
    assert payloads(f.feed(b"A\r\nB\nC\r\r\n\n")) == [b"A", b"B", b"C\r", b""]


@pytest.mark.parametrize(("spec", "byte"), [("stx-etx", 2), ("stx-etx+lrc", 3), ("mllp", 0x1C),
                                            ("line", 10), ("line", 13)])
def test_encode_refuses_delimiter_in_payload(spec: str, byte: int) -> None:
    with pytest.raises(EncodeError) as info:
        make_framer(spec).encode(b"ab" + bytes((byte,)) + b"c")
    assert info.value.offset == 2


@pytest.mark.parametrize("spec", ALL)
def test_encode_refuses_payload_over_max(spec: str) -> None:
    with pytest.raises(FrameTooLong) as info:
        make_framer(spec, max_frame=10).encode(b"a" * 11)
    assert info.value.code == 23


def test_ascii_len_digits_follow_the_option() -> None:
    ascii5 = make_framer("ascii-len:5")
    ebcdic5 = make_framer("ascii-len:5:cp037")
    assert ascii5.encode(b"hi") == b"00002hi"
    assert ebcdic5.encode(b"hi") == b"\xf0\xf0\xf0\xf0\xf2hi"
    ev = ascii5.feed(b"\xf0\xf0\xf0\xf0\xf2hi")
    assert isinstance(ev[0], BadFrame) and ev[0].kind == "bad-length" and ev[0].fatal
    ev = ebcdic5.feed(b"00002hi")
    assert isinstance(ev[0], BadFrame) and ev[0].kind == "bad-length"


def test_rdw_checks_reserved_bytes_and_minimum() -> None:
    assert make_framer("rdw").encode(b"abc") == b"\x00\x07\x00\x00abc"
    ev = make_framer("rdw").feed(b"\x00\x07\x00\x01abc")
    assert isinstance(ev[0], BadFrame) and ev[0].kind == "bad-length"
    ev = make_framer("rdw").feed(b"\x00\x03\x00\x00")
    assert isinstance(ev[0], BadFrame) and "smaller" in ev[0].reason


def test_len2_caps_max_frame_at_what_the_prefix_can_say() -> None:
    assert make_framer("len2", max_frame=10**9).max_frame == 65535
    assert make_framer("ascii-len:3").max_frame == 999


def test_pending_and_reset() -> None:
    f = make_framer("len4")
    f.feed(b"\x00\x00\x00\x05ab")
    assert f.pending == 6
    f.reset()
    assert f.pending == 0
    assert payloads(f.feed(f.encode(b"x"))) == [b"x"]


@pytest.mark.parametrize("spec", ["bogus", "ascii-len:", "ascii-len:0", "ascii-len:5:utf8", "len3"])
def test_unknown_framing_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError):
        make_framer(spec)
