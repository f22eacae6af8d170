"""Capture file format: writer/reader round trip and every kind of bad file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from clets.cli import cli
from clets.errors import DecodeError
from clets.model import Message, Name, Person, to_dict
from clets.testing.capture import (
    CAPTURE_VERSION,
    CaptureFormatError,
    CaptureWriter,
    encode_event,
    parse_capture,
    read_capture,
)
from tests.strategies import inquiries

HEADER = json.dumps({"clets_capture": 1, "created": "2025-01-01T00:00:00.000Z", "links": {}})


def _msg() -> Message:
    return Message(format="json", mke="QW", origin="CA0349999",
                   person=Person(name=Name("SMITH", "JOHN", "J"), dob="1975-10-12"))


def test_round_trip_with_fake_clock(tmp_path: Path) -> None:
    ticks = iter([100.0, 100.5, 101.25, 102.0])
    path = tmp_path / "c.jsonl"
    raw = b'{"format": "json", "mke": "QW", "origin": "CA0349999"}'
    with CaptureWriter(path, links={"client": {"framing": "len2", "codec": "json"}},
                       notes="unit", clock=lambda: next(ticks)) as w:
        w.write_event(link="client", direction="in", kind="connect", conn=1, peer="a:1")
        # codec given, no message: the writer decodes the raw frame itself
        ev = w.write_event(link="client", direction="in", raw=raw, codec="json",
                           framing="len2", conn=1)
        assert ev.message is not None and ev.message["mke"] == "QW"
        # undecodable: message null plus decode_error
        bad = w.write_event(link="client", direction="out", raw=b"\x00\xff", codec="json")
        assert bad.message is None and bad.decode_error
    cap = read_capture(path)
    assert cap.header.version == CAPTURE_VERSION
    assert cap.header.links == {"client": {"framing": "len2", "codec": "json"}}
    assert cap.header.notes == "unit"
    assert [e.t for e in cap.events] == [0.5, 1.25, 2.0]
    assert cap.events[1].raw == raw
    assert cap.events[1].model() == Message(format="json", mke="QW", origin="CA0349999")
    assert cap.events[2].raw == b"\x00\xff" and cap.events[2].decode_error
    assert cap.frames("client", "in") == [cap.events[1]]


@given(inquiries("json"), st.binary(max_size=200), st.floats(0, 1e6))
def test_event_line_round_trip(msg: Message, raw: bytes, t: float) -> None:
    from clets.testing.capture import CaptureEvent

    ev = CaptureEvent(t=round(t, 6), link="l", direction="out", raw=raw, message=to_dict(msg),
                      codec="json", framing="line", conn=3, peer="p")
    back = parse_capture(HEADER + "\n" + encode_event(ev) + "\n").events[0]
    assert back == ev


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("", 1, "empty"),
    ("not json\n", 1, "header is not JSON"),
    ('{"foo": 1}\n', 1, "not a clets capture"),
    ('{"clets_capture": 99, "created": "x"}\n', 1, "version 99"),
    ('{"clets_capture": 1}\n', 1, "created"),
    (HEADER + "\n{bad\n", 2, "not JSON"),
    (HEADER + '\n{"t": 0, "link": "a", "direction": "in", "raw": "QQ=="}\n[1]\n', 3, "object"),
    (HEADER + '\n{"t": 0, "link": "a", "direction": "sideways", "raw": "QQ=="}\n', 2,
     "direction"),
    (HEADER + '\n{"t": -1, "link": "a", "direction": "in", "raw": "QQ=="}\n', 2, "seconds"),
    (HEADER + '\n{"link": "a", "direction": "in", "raw": "QQ=="}\n', 2, "missing 't'"),
    (HEADER + '\n{"t": 0, "link": "a", "direction": "in", "raw": "%%%"}\n', 2, "base64"),
    (HEADER + '\n{"t": 0, "link": "a", "direction": "in", "raw": "QQ==", "color": 1}\n', 2,
     "unknown key"),
    (HEADER + '\n{"t": 0, "link": "a", "direction": "in"}\n', 2, "needs"),
    (HEADER + '\n{"t": 0, "link": "a", "direction": "in", "message": {"mke": "QW", '
     '"format": "ncic", "plate": "X"}}\n', 2, "not canonical"),
    (HEADER + '\n{"t": 0, "link": "a", "direction": "in", "kind": "dance", "raw": "QQ=="}\n',
     2, "kind"),
])
def test_bad_files_name_the_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(CaptureFormatError) as info:
        read_capture(path)
    assert isinstance(info.value, DecodeError)
    assert info.value.line == line
    assert needle in str(info.value)
    assert f"{path}:{line}" in str(info.value)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bin.jsonl"
    path.write_bytes(HEADER.encode() + b"\n\xff\xfe\n")
    with pytest.raises(CaptureFormatError) as info:
        read_capture(path)
    assert info.value.line == 2


def test_missing_file_is_typed(tmp_path: Path) -> None:
    with pytest.raises(CaptureFormatError):
        read_capture(tmp_path / "nope.jsonl")


def test_cli_bad_capture_is_one_line_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "bad.jsonl"
    path.write_text(HEADER + "\n" + '{"t": 0, "link": "a", "direction": "up", "raw": "QQ=="}\n')
    proc = subprocess.run([sys.executable, "-c", "from clets.cli import main; main()", "diff",
                           str(path), str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and f"{path}:2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_writer_to_open_stream_and_closed_writer(tmp_path: Path) -> None:
    import io

    buf = io.StringIO()
    w = CaptureWriter(buf, created="2025-01-01T00:00:00.000Z")
    w.write_event(link="x", direction="out", message=_msg(), t=1.0)
    w.close()
    cap = parse_capture(buf.getvalue())
    assert cap.events[0].model() == _msg()
    assert cap.events[0].raw is None
    with pytest.raises(ValueError):
        w.write_event(link="x", direction="out", message=_msg())
    with pytest.raises(ValueError):
        CaptureWriter(io.StringIO()).write_event(link="x", direction="both", raw=b"a")


def test_raw_is_base64_of_the_payload(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CaptureWriter(path) as w:
        w.write_event(link="l", direction="in", raw=b"QV.CA0349999.LIC/7ABC123", t=0.0)
    line = json.loads(path.read_text().splitlines()[1])
    assert base64.b64decode(line["raw"]) == b"QV.CA0349999.LIC/7ABC123"
    assert line["message"] is None and line["direction"] == "in"


def test_cli_runner_reports_capture_link_error(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CaptureWriter(path) as w:
        w.write_event(link="l", direction="in", raw=b"x", t=0.0)
    res = CliRunner().invoke(cli, ["diff", str(path), str(path), "--link", "nope"])
    assert res.exit_code == 2 and "no link" in res.output
