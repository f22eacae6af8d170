"""Every refused frame is answered (issue 12, "Silence"): on the connection it came on, in
the link's codec, with the sender's ORI and control when they can be read from the raw bytes
and the link's peer ORI when they cannot; a character outside the codec's set is a ``.22.``
naming its offset.  Real TCP connections through a running switch (plain ``len2``, the
framing of ``examples/adapter-box.toml``'s agency port)."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clets.adapters.memory import memory_pair
from clets.adapters.tcp import StreamOptions, TcpClient
from clets.codecs.base import get_codec
from clets.model import Message
from clets.switch import ManualClock, Switch, parse_config
from clets.switch.audit import records
from clets.switch.links import ServerLink
from tests._switch_kit import run_async

pytestmark = pytest.mark.timeout(60)

#: the agency's ORIs: the frames below are written by CA0349999; the peer's first ORI (what an
#: answer to an unreadable header goes to) is another one, so the test tells the two apart
PEER_ORI, FRAME_ORI = "CA0340000", "CA0349999"
CODECS = ("ncic", "nlets", "niem", "json")
MAX_FRAME, MAX_MESSAGE = 2048, 1024


def _config(journal: Path, *, destination: bool = True) -> str:
    text = f"""
[switch]
name = "REFUSED"
home_state = "CA"
journal = "{journal}"
max_message_bytes = {MAX_MESSAGE}

[[peer]]
mnemonic = "AGENCY"
oris = ["{PEER_ORI}", "{FRAME_ORI}"]
access = "inquiry"
"""
    for name, codec, encoding in [*((c, c, None) for c in CODECS), ("ebcdic", "ncic", "cp037")]:
        text += f"""
[[link]]
name = "{name}"
url = "tcp://127.0.0.1:0?framing=len2&plain=1&max_frame={MAX_FRAME}"
codec = "{codec}"
role = "origin"
peer = "AGENCY"
ack = true
"""
        if encoding:
            text += f'encoding = "{encoding}"\n'
    if destination:
        text += """
[[link]]
name = "ncicd"
url = "memory://ncicd"
codec = "ncic"
role = "destination"

[[destination]]
name = "NCIC"
link = "ncicd"
"""
    return text


def _port(sw: Switch, link: str) -> int:
    lk = sw.links[link]
    assert isinstance(lk, ServerLink)
    return int(lk.server.port)


async def _ask(port: int, frame: bytes, timeout: float = 5.0) -> bytes:
    """Send one frame on a new connection; the one answer that comes back on it."""
    client = TcpClient("127.0.0.1", port, plain=True, options=StreamOptions(framing="len2"),
                       reconnect=False)
    await client.connect()
    try:
        await client.send(frame)
        async with asyncio.timeout(timeout):
            return await client.receive()
    finally:
        await client.close()


# the five frames of issue 12 that got nothing back, and where each goes wrong
NULS = b"\x00" * 40
UTF16 = "QW.CA0349999.NAM/SMITH, JOHN".encode("utf-16")
FFFEFD = b"\xff\xfe\xfd" * 20
CONTROLS = b"QW.CA0349999.NAM/SMITH, JOHN J\x00\x01\x02.DOB/19751012"
UTF8 = "QW.CA0349999.NAM/MÜLLER, JOHN".encode()
FRAMES = {"nuls": NULS, "utf16": UTF16, "fffefd": FFFEFD, "controls": CONTROLS, "utf8": UTF8}
#: (offset of the first character outside the set, or None: a plain .22.; ORI read from the
#: frame, else None: the answer goes to the peer's ORI)
TEXT_EXPECT = {"nuls": (0, None), "utf16": (0, None), "fffefd": (0, None),
               "controls": (30, FRAME_ORI), "utf8": (18, FRAME_ORI)}
#: json and niem read UTF-8: "MÜLLER" is in their set (the frame is simply not JSON / XML)
UTF8_EXPECT = {**TEXT_EXPECT, "utf8": (None, FRAME_ORI)}
EXPECT = {"ncic": TEXT_EXPECT, "nlets": TEXT_EXPECT, "niem": UTF8_EXPECT, "json": UTF8_EXPECT}


def _reason(offset: int | None) -> str:
    base = "INVALID MESSAGE FORMAT"
    return base if offset is None else f"{base} - INVALID CHARACTER AT OFFSET {offset}"


def _addressee(er: Message) -> str | None:
    """Whom an ER is addressed to (every built-in format carries it in destinations)."""
    assert er.destinations, er
    return er.destinations[0]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("kind", list(FRAMES))
@run_async
async def test_each_silent_frame_of_issue_12_is_answered(tmp_path: Path, codec: str,
                                                         kind: str) -> None:
    cfg = parse_config(_config(tmp_path / "j.db"), "refused.toml", tmp_path)
    near, _far = memory_pair(f"{tmp_path.name}-ncicd")
    sw = Switch(cfg, {"ncicd": near}, clock=ManualClock(), poll=0.02)
    await sw.start()
    try:
        raw = await _ask(_port(sw, codec), FRAMES[kind])
        er = get_codec(codec).decode(raw)
        offset, ori = EXPECT[codec][kind]
        assert er.mke == "ER" and er.status == "error" and er.error is not None, raw
        assert (er.error.code, er.error.reason) == (22, _reason(offset)), raw
        assert _addressee(er) == (ori or PEER_ORI), raw
        assert er.control is None
        echo = er.error.echo or ""
        if kind == "controls":
            # the bytes the codec cannot carry are named, the rest echoed as sent
            want = "QW.CA0349999.NAM/SMITH, JOHN J\\x00\\x01\\x02.DOB/19751012"
            assert echo == (want if codec != "json"
                            else CONTROLS.decode()), raw  # JSON carries a NUL escaped
        elif kind == "nuls":
            assert echo == ("\\x00" * 40 if codec != "json" else "\x00" * 40), raw
        elif kind == "utf8":
            assert echo == ("QW.CA0349999.NAM/M\\xc3\\x9cLLER, JOHN" if codec in ("ncic", "nlets")
                            else UTF8.decode()), raw
        else:
            assert echo.startswith("\\xff\\xfe"), raw
        (rec,) = [r for r in records(sw.journal.conn) if r["event"] == "rejected"]
        assert rec["error_code"] == 22 and rec["bytes"] == len(FRAMES[kind])
    finally:
        await sw.stop(drain=False)


@pytest.mark.parametrize(("codec", "frame"), [
    ("ncic", b"QW.CA0349999.*C42.NAM/SMITH, JOHN J\x00\x01\x02.DOB/19751012"),
    ("nlets", b"QW.CA0349999.CA.*C42.TXTNAM/SMITH, JOHN J\x00\x01\x02.DOB/19751012"),
    ("ncic", "QW.CA0349999.*C42.NAM/MÜLLER, JOHN".encode()),
])
@run_async
async def test_the_control_before_a_bad_character_is_echoed(tmp_path: Path, codec: str,
                                                            frame: bytes) -> None:
    """The sender correlates its answer on the control: it is read from the raw bytes."""
    cfg = parse_config(_config(tmp_path / "j.db"), "refused.toml", tmp_path)
    sw = Switch(cfg, {"ncicd": memory_pair(f"{tmp_path.name}-d")[0]}, clock=ManualClock(),
                poll=0.02)
    await sw.start()
    try:
        er = get_codec(codec).decode(await _ask(_port(sw, codec), frame))
        assert er.error is not None and er.error.code == 22
        assert (er.destinations, er.control) == ([FRAME_ORI], "C42")
    finally:
        await sw.stop(drain=False)


@run_async
async def test_an_ebcdic_link_reads_the_header_and_offset_in_cp037(tmp_path: Path) -> None:
    cfg = parse_config(_config(tmp_path / "j.db"), "refused.toml", tmp_path)
    sw = Switch(cfg, {"ncicd": memory_pair(f"{tmp_path.name}-d")[0]}, clock=ManualClock(),
                poll=0.02)
    await sw.start()
    try:
        frame = "QW.CA0349999.*E1.NAM/SMITH, JOHN J".encode("cp037") + b"\x00\x01" + \
            ".DOB/19751012".encode("cp037")
        raw = await _ask(_port(sw, "ebcdic"), frame)
        er = get_codec("ncic", encoding="cp037").decode(raw)
        assert er.error is not None
        assert er.error.reason == _reason(34) and er.destinations == [FRAME_ORI]
        assert er.control == "E1"
        # the echo names the bytes as they were on the wire
        assert er.error.echo == "QW.CA0349999.*E1.NAM/SMITH, JOHN J\\x00\\x01.DOB/19751012"
    finally:
        await sw.stop(drain=False)


@pytest.mark.parametrize("codec", ["ncic", "niem"])
@run_async
async def test_a_field_reject_of_a_teletype_wrapped_frame_is_answered(tmp_path: Path,
                                                                      codec: str) -> None:
    """CR LF between fields is legal ncic input; its ``.21.`` echo held the CR, which neither
    ncic text nor XML can write, so the reject was silent too."""
    cfg = parse_config(_config(tmp_path / "j.db"), "refused.toml", tmp_path)
    sw = Switch(cfg, {"ncicd": memory_pair(f"{tmp_path.name}-d")[0]}, clock=ManualClock(),
                poll=0.02)
    await sw.start()
    try:
        frame = b"QW.CA0349999.*W1.NAM/SMITH, JOHN\r\n.DOB/29990101"
        er = get_codec("ncic").decode(await _ask(_port(sw, "ncic"), frame))
        assert er.error is not None
        assert (er.error.code, er.error.reason) == (21, "INVALID FIELD DOB")
        assert er.error.echo == "QW.CA0349999.*W1.NAM/SMITH, JOHN\n.DOB/29990101"
        assert (er.destinations, er.control) == ([FRAME_ORI], "W1")
    finally:
        await sw.stop(drain=False)


# --------------------------------------------------------------------------- property

class _SwitchThread:
    """A switch running in its own thread and event loop, so a hypothesis test (synchronous)
    can talk to it over blocking sockets, one switch for every example."""

    def __init__(self, tmp: Path) -> None:
        # no destination: every well-framed frame is refused (.12. when it is a valid
        # inquiry), so each one must get exactly one ER
        self.config = parse_config(_config(tmp / "j.db", destination=False), "p.toml", tmp)
        self.loop = asyncio.new_event_loop()
        self.switch = Switch(self.config, poll=0.05)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ports: dict[str, int] = {}

    def __enter__(self) -> _SwitchThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.switch.start(), self.loop).result(30)
        self.ports = {c: _port(self.switch, c) for c in CODECS}
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.switch.stop(drain=False), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_SwitchThread]:
    with _SwitchThread(tmp_path_factory.mktemp("refused")) as st_:
        yield st_


def _read_frame(sock: socket.socket) -> bytes | None:
    """One len2 frame, or None when the switch closed the connection."""
    head = _read_exactly(sock, 2)
    if head is None:
        return None
    (size,) = struct.unpack(">H", head)
    body = _read_exactly(sock, size)
    assert body is not None, "connection closed inside an answer"
    return body


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


#: frames near the formats: a header a codec can read, then anything
_HEADS = st.sampled_from([b"", b"QW.CA0349999.", b"QW.CA0349999.*C1.", b"QV.CA0349999.CA.TXT",
                          b"<?xml version='1.0'?>", b'{"format": "json", "mke": "QW", '])
def _valid_frames() -> list[bytes]:
    """One valid inquiry per codec (each refused ``.12.``: the property's switch has no
    destination), for the mutations below to start from."""
    from clets.model import Name, Person

    qw = Message(format="json", mke="QW", origin=FRAME_ORI, control="C1",
                 person=Person(name=Name("SMITH", "JOHN", "J"), dob="1975-10-12", sex="M"))
    out = [b"QW.CA0349999.*C1.NAM/SMITH, JOHN J.DOB/19751012.SEX/M.RAC/W",
           b"QW.CA0349999.CA.*C1.TXTNAM/SMITH, JOHN.DOB/19751012"]
    for codec in ("niem", "json"):
        out.append(get_codec(codec).encode(qw))
    return out


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A valid frame with a few bytes replaced, inserted or removed: past the decoder's first
    checks into the header, the fields and the edits."""
    frame = bytearray(draw(st.sampled_from(_valid_frames())))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(frame)))
        op = draw(st.sampled_from(["set", "insert", "delete"]))
        byte = draw(st.integers(0, 255))
        if op == "insert" or at == len(frame):
            frame.insert(at, byte)
        elif op == "set":
            frame[at] = byte
        else:
            del frame[at]
    return bytes(frame)


_FRAMES = st.one_of(
    st.binary(max_size=300),
    _mutated(),
    st.sampled_from(_valid_frames()),
    st.builds(lambda h, t: h + t, _HEADS, st.binary(max_size=120)),
    st.builds(lambda h, t: h + t.encode(), _HEADS, st.text(max_size=80)),
    st.binary(min_size=MAX_MESSAGE + 1, max_size=MAX_MESSAGE + 40),   # .23.
    st.binary(min_size=MAX_FRAME + 1, max_size=MAX_FRAME + 40),       # framing: too-long
)
_probe = iter(range(1, 1 << 30))


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=40)
@given(frame=_FRAMES)
def test_any_frame_gets_exactly_one_answer_or_a_named_framing_cut(
        running: _SwitchThread, codec: str, frame: bytes) -> None:
    """For any byte string sent as one len2 frame: exactly one answer, an ER, comes back on
    its connection -- or, for a frame longer than the link's ``max_frame`` (the framing fault
    docs/switch.md names for length-prefixed framings: ``too-long``), the connection is cut
    with no answer.  "Exactly one" without a timed wait: a probe frame sent next must be
    answered next, so nothing came in between."""
    decoder: Any = get_codec(codec) if codec == "json" else get_codec(codec, edits=False)
    with socket.create_connection(("127.0.0.1", running.ports[codec]), timeout=10) as sock:
        sock.sendall(struct.pack(">H", len(frame)) + frame)
        first = _read_frame(sock)
        if len(frame) > MAX_FRAME:
            assert first is None, first
            return
        assert first is not None, "the frame got no answer (connection closed)"
        er = decoder.decode(first)
        assert er.mke == "ER" and er.error is not None, first
        if len(frame) > MAX_MESSAGE:
            assert er.error.code == 23
        else:
            assert er.error.code in (1, 10, 11, 12, 20, 21, 22), first
        # addressed to the ORI as written when one can be read, else to the peer's
        assert len(er.destinations) == 1, first
        token = f"PROBE{next(_probe)}".encode()
        probe = b"\x00" + token
        sock.sendall(struct.pack(">H", len(probe)) + probe)
        second = _read_frame(sock)
        assert second is not None and token in second, (first, second)


@run_async
async def test_an_answer_the_origin_cannot_carry_is_a_22_even_with_non_ascii(
        tmp_path: Path) -> None:
    """A JSON destination answers an ncic origin with text ncic cannot write (a line break
    in the status, and a name in UTF-8): the origin gets ``.22.`` with the answer escaped,
    not nothing (the echo of the answer was as unwritable as the answer)."""
    from clets.model import dumps, loads
    from tests._switch_kit import Harness
    from tests.test_switch_formats import CONFIG as FORMATS

    async with Harness(tmp_path, text=FORMATS) as h:
        await h.far["lapd"].send(b"QV.CA0194200.*C8.LIC/7ABC123.LIS/CA")
        fwd = loads(await h.recv_raw("svs"))
        bad = Message(format="json", mke="QVR", origin="CA0000SVS", destinations=["CA0194200"],
                      control=fwd.control, status="no_hit", text="MÜLLER\nNOT ONE LINE")
        # the text first (JSON's key order is free), so it is inside the echo's 100
        body = json.loads(dumps(bad))
        text = {"text": body.pop("text")}
        await h.far["svs"].send(json.dumps({**text, **body}, ensure_ascii=False).encode())
        raw = await h.recv_raw("lapd")
        assert raw.startswith(b"ER.CA0194200.*C8.\n.22. INVALID MESSAGE FORMAT\n"), raw
        er = get_codec("ncic").decode(raw)
        assert er.error is not None and "M\\xc3\\x9cLLER" in (er.error.echo or ""), raw


@run_async
async def test_a_reject_the_framing_cannot_carry_is_logged_not_dropped_quietly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An ``ncic`` ER has three lines; ``line`` framing carries one.  That is a configuration
    fault: the operator must see it (an error log and ``internal_error``), not a silence."""
    text = _config(tmp_path / "j.db").replace("framing=len2&plain=1&max_frame",
                                              "framing=line&plain=1&max_frame")
    cfg = parse_config(text, "refused.toml", tmp_path)
    sw = Switch(cfg, {"ncicd": memory_pair(f"{tmp_path.name}-d")[0]}, clock=ManualClock(),
                poll=0.02)
    await sw.start()
    client = TcpClient("127.0.0.1", _port(sw, "ncic"), plain=True,
                       options=StreamOptions(framing="line"), reconnect=False)
    try:
        await client.connect()
        with caplog.at_level("ERROR", logger="clets.switch"):
            await client.send(b"QW.CA0349999.NAM/SMITH\x00")
            async with asyncio.timeout(5):
                while not sw.metrics()["messages"].get("internal_error"):
                    await asyncio.sleep(0.01)
        assert any("not sendable on link ncic" in r.getMessage() for r in caplog.records)
    finally:
        await client.close()
        await sw.stop(drain=False)


def _document(codec: str, bad: bytes) -> bytes:
    """A valid QW in ``codec`` from CA0349999 with control J7, its name holding ``bad``."""
    from clets.model import Name, Person

    qw = Message(format="json", mke="QW", origin=FRAME_ORI, control="J7",
                 person=Person(name=Name("SMITH", "JOHN"), dob="1975-10-12"))
    frame = get_codec(codec).encode(qw)
    assert frame.count(b"SMITH") == 1
    return frame.replace(b"SMITH", b"SM" + bad + b"TH")


@pytest.mark.parametrize(("codec", "bad"), [("json", b"\x00"), ("json", b"\xff"),
                                            ("niem", b"\x00"), ("niem", b"\xff")])
@run_async
async def test_a_json_or_niem_document_is_answered_to_its_own_ori_and_control(
        tmp_path: Path, codec: str, bad: bytes) -> None:
    """One bad byte deep in a document leaves its header readable in the raw bytes: the ER
    goes to the ORI and control the document names, not to the peer's first ORI."""
    cfg = parse_config(_config(tmp_path / "j.db"), "refused.toml", tmp_path)
    sw = Switch(cfg, {"ncicd": memory_pair(f"{tmp_path.name}-d")[0]}, clock=ManualClock(),
                poll=0.02)
    await sw.start()
    try:
        frame = _document(codec, bad)
        er = get_codec(codec).decode(await _ask(_port(sw, codec), frame))
        assert er.error is not None
        assert er.error.reason == _reason(frame.index(b"SM" + bad) + 2)
        assert (er.destinations, er.control) == ([FRAME_ORI], "J7")
    finally:
        await sw.stop(drain=False)
