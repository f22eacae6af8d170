"""The event stream's framing (clets.api.sse): what is written reads back the same, by this
parser and by the rules of the HTML standard's event stream; Last-Event-ID is a journal id or
refused by name."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.api import sse
from clets.api.sse import Event, LastEventIdError

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
_ids = st.integers(0, sse.MAX_ID)


@given(events=st.lists(st.tuples(_ids, _text.filter(lambda t: "\r" not in t)), max_size=8),
       cut=st.integers(0, 10_000))
def test_what_is_written_reads_back_in_any_cut(events: list[tuple[int, str]], cut: int) -> None:
    """Events written one after another, read in two chunks cut anywhere: the same events
    (a line break in the data comes back as LF), none twice, none lost."""
    stream = sse.retry(2000) + sse.comment("hello") + b"".join(
        sse.format_event(d, id=i) for i, d in events)
    cut %= len(stream) + 1
    first, rest = sse.parse(stream[:cut])
    second, left = sse.parse(rest + stream[cut:])
    assert left == b""
    want = [Event(d.replace("\r\n", "\n"), "message", str(i)) for i, d in events]
    assert first + second == want


@given(data=_text)
def test_a_carriage_return_reads_back_as_a_line_break(data: str) -> None:
    events, _ = sse.parse(sse.format_event(data, id=1, event="delivery"))
    assert events == [Event(data.replace("\r\n", "\n").replace("\r", "\n"), "delivery", "1")]


def test_the_standards_examples() -> None:
    """The HTML standard's examples: fields with and without the space, comments, an
    event with no data is not dispatched, CRLF and CR line ends."""
    events, left = sse.parse(b"data\n\ndata\ndata\n\ndata:\n\n: comment\nid: 7\r\n"
                             b"data:YHOO\rdata: +2\r\ndata: 10\n\nevent: x\n\n")
    assert left == b""
    assert events == [Event(""), Event("\n"), Event(""), Event("YHOO\n+2\n10", "message", "7")]


@given(n=_ids)
def test_last_event_id_reads_any_id(n: int) -> None:
    assert sse.parse_last_event_id(str(n)) == n


@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "1e3", "٣", "9" * 20, str(2**63), "",
                                   " 5", "5\t"])
def test_last_event_id_refuses_what_is_not_an_id(value: str) -> None:
    with pytest.raises(LastEventIdError, match="Last-Event-ID"):
        sse.parse_last_event_id(value)


@given(value=st.text(max_size=30))
def test_last_event_id_is_an_id_none_or_refused(value: str) -> None:
    try:
        got = sse.parse_last_event_id(value)
    except LastEventIdError:
        return
    assert got is None or 0 <= got <= sse.MAX_ID


def test_absent_last_event_id_is_none() -> None:
    assert sse.parse_last_event_id(None) is None


@given(frame=st.one_of(st.binary(max_size=200),
                       st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8),
                                       max_size=4).map(lambda d: json.dumps(d).encode())),
       event_id=_ids)
def test_any_frame_makes_an_event_that_reads_back(frame: bytes, event_id: int) -> None:
    """Whatever a delivery holds (JSON, text, bytes that are not UTF-8), its event is one
    ``data`` line of JSON naming its id, with the message as an object or as text."""
    from clets.api.events import encode, envelope

    data = encode(envelope(event_id, frame, msn=3, mke="QWR")).decode()
    (ev,), left = sse.parse(sse.format_event(data, id=event_id))
    assert left == b"" and ev.id == str(event_id)
    back = json.loads(ev.data)
    assert back["id"] == event_id and back["msn"] == 3
    if "message" in back:
        assert back["message"] == json.loads(frame)
    else:
        assert back["text"] == frame.decode("utf-8", "replace")
