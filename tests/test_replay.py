"""Capture through the proxy, then replay against a real TCP peer on loopback.

The peer is a small DMV/NCIC-like service (len2 framing, canonical JSON): each plate query gets
two answers, a registration record and an NCIC "no want", in RANDOM order, with a volatile send
time and sequence number -- what a real fan-out looks like.  A "changed build" variant answers
one field differently; the replay must name exactly that field.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from clets.cli import cli
from clets.codecs import get_codec
from clets.errors import LinkError
from clets.framing import Frame, make_framer
from clets.model import (
    Message,
    Name,
    Person,
    Record,
    Registration,
    Vehicle,
    to_dict,
)
from clets.testing.capture import Capture, CaptureWriter, read_capture
from clets.testing.diff import MaskSet
from clets.testing.junit import junit_xml
from clets.testing.proxy import CaptureProxy
from clets.testing.replay import ReplayOptions, ReplayResult, replay
from clets.testing.session import SessionReport

CODEC = get_codec("json")
PLATES = ["7ABC123", "8XYZ789", "6DEF456", "5GHJ234"]


def _registration(plate: str, variant: str) -> Registration:
    expires = "2027-03-31" if variant != "changed" or plate != "8XYZ789" else "2026-03-31"
    return Registration(expires=expires, status="AC", fees_due="0.00", stolen=False)


def answers_for(req: Message, variant: str, seq: itertools.count[int]) -> list[Message]:
    now = dt.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    if req.mke == "AM":
        return [Message(format="json", mke="AMR", text="ACK", sent_at=now, sequence=next(seq))]
    plate = req.vehicle.plate if req.vehicle else None
    reg = Message(format="json", mke="RGR1", destinations=[req.origin or ""],
                  control=req.control, sent_at=now, sequence=next(seq), status="hit",
                  records=[Record(file="registration",
                                  vehicle=Vehicle(plate=plate, plate_state="CA", year=2003),
                                  owner=Person(name=Name("DOE", "JANE", "Q")),
                                  registration=_registration(plate or "", variant))])
    ncic = Message(format="json", mke="QVR", destinations=[req.origin or ""],
                   control=req.control, sent_at=now, sequence=next(seq), status="no_hit",
                   text="NO NCIC WANT")
    out = [reg] if variant == "drop_ncic" else [reg, ncic]
    random.shuffle(out)  # arrival order is not part of the contract
    return out


class Peer:
    """The back-end under test, in its own thread and event loop (so sync CLI tests work)."""

    def __init__(self, variant: str = "same") -> None:
        self.variant = variant
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._seq = itertools.count(random.randint(1, 99999))  # volatile per run
        self.received: list[bytes] = []

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            framer = make_framer("len2")
            while data := await r.read(4096):
                for ev in framer.feed(data):
                    if isinstance(ev, Frame):
                        self.received.append(ev.payload)
                        req = CODEC.decode(ev.payload)
                        for ans in answers_for(req, self.variant, self._seq):
                            w.write(framer.encode(CODEC.encode(ans)))
                        await w.drain()
            w.close()

        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            async with server:
                await server.serve_forever()

        self._task = self._loop.create_task(main())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    def __enter__(self) -> Peer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)
        assert not self._thread.is_alive()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}?framing=len2"


def _requests() -> list[Message]:
    reqs = [Message(format="json", mke="QV", origin="CA0349999", control=f"Q{i:04d}",
                    vehicle=Vehicle(plate=p, plate_state="CA")) for i, p in enumerate(PLATES)]
    reqs.insert(2, Message(format="json", mke="AM", origin="CA0349999", destinations=["CA"],
                           text="TEST ADMIN MESSAGE"))
    return reqs


async def _client(port: int, reqs: list[Message]) -> list[bytes]:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    framer = make_framer("len2")
    got: list[bytes] = []
    for req in reqs:
        w.write(framer.encode(CODEC.encode(req)))
        await w.drain()
        want = len(got) + (1 if req.mke == "AM" else 2)
        while len(got) < want:
            data = await asyncio.wait_for(r.read(4096), 10)
            assert data
            got += [e.payload for e in framer.feed(data) if isinstance(e, Frame)]
    w.close()
    await w.wait_closed()
    return got


async def _capture_session(peer: Peer, path: Path) -> list[bytes]:
    links = {"client": {"framing": "len2", "codec": "json"}}
    with CaptureWriter(path, links=links, notes="test session") as writer:
        async with CaptureProxy(("127.0.0.1", 0), peer.url, writer, framing="len2",
                                codec="json") as proxy:
            got = await _client(proxy.port, _requests())
            for _ in range(200):  # the disconnect event is written when the pumps finish
                if writer.count >= 2 + len(_requests()) + len(got):
                    break
                await asyncio.sleep(0.01)
    return got


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cap") / "session.jsonl"
    with Peer() as peer:
        asyncio.run(_capture_session(peer, path))
    return path


def test_proxy_records_whole_frames_unchanged(captured: Path) -> None:
    cap = read_capture(captured)
    kinds = [e.kind for e in cap.events]
    assert kinds[0] == "connect" and kinds[-1] == "disconnect"
    ins = cap.frames("client", "in")
    outs = cap.frames("client", "out")
    assert [e.raw for e in ins] == [CODEC.encode(m) for m in _requests()]
    assert [e.message for e in ins] == [to_dict(m) for m in _requests()]
    assert len(outs) == 2 * len(PLATES) + 1
    assert all(e.message is not None and e.codec == "json" and e.conn == 1 for e in outs)
    assert [e.t for e in cap.events] == sorted(e.t for e in cap.events)


def _run(cap: Capture, url: str, timeout: float = 5.0) -> tuple[ReplayResult, SessionReport]:
    opts = ReplayOptions(timeout=timeout, settle=0.05)
    result = asyncio.run(replay(cap, url, opts))
    return result, result.report(MaskSet.of())


def test_replay_against_unchanged_build_passes(captured: Path) -> None:
    cap = read_capture(captured)
    with Peer() as peer:
        _result, report = _run(cap, peer.url)
        sent = list(peer.received)
    assert report.ok, report.details()
    assert report.counts() == {"sent": 5, "answered": 9, "identical": 9, "different": 0,
                               "missing": 0, "extra": 0}
    assert sent == [e.raw for e in cap.frames("client", "in")]  # byte-identical requests


def test_replay_against_changed_build_names_exactly_that_field(captured: Path) -> None:
    cap = read_capture(captured)
    with Peer("changed") as peer:
        _result, report = _run(cap, peer.url)
    assert not report.ok
    diffs = [(r.name, d.path) for r in report.results
             for a in r.answers for d in a.diffs]
    assert diffs == [("#2 QV *Q0001", "records[0].registration.expires")]
    details = report.details()
    assert 'records[0].registration.expires: "2027-03-31" -> "2026-03-31"' in details
    # without the default masks, the volatile fields show up too
    raw_report = _result.report(MaskSet.of(defaults=False))
    paths = {d.path for r in raw_report.results for a in r.answers for d in a.diffs}
    assert {"sequence", "records[0].registration.expires"} <= paths

    xml = junit_xml(report)
    root = etree.fromstring(xml)
    cases = root.findall(".//testcase")
    assert len(cases) == 5
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 1 and root.find("testsuite").get("failures") == "1"  # type: ignore[union-attr]
    assert "records[0].registration.expires" in (failures[0].text or "")


def test_replay_is_deterministic(captured: Path) -> None:
    cap = read_capture(captured)
    with Peer("changed") as peer:
        reports = [_run(cap, peer.url)[1] for _ in range(2)]
    a, b = (r.details() for r in reports)
    assert a == b and a
    assert reports[0].counts() == reports[1].counts()


def test_missing_answers_are_reported(captured: Path) -> None:
    cap = read_capture(captured)
    with Peer("drop_ncic") as peer:
        _r, report = _run(cap, peer.url, timeout=0.5)
    c = report.counts()
    assert c["missing"] == len(PLATES) and c["different"] == 0 and c["extra"] == 0


def test_cli_replay_junit_record_and_diff(captured: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    with Peer() as peer:
        ok = runner.invoke(cli, ["replay", str(captured), "--to", peer.url, "--junit",
                                 str(tmp_path / "ok.xml"), "--record",
                                 str(tmp_path / "replayed.jsonl"), "--progress",
                                 "--settle", "0.05"])
    assert ok.exit_code == 0, ok.output
    assert "messages sent" in ok.stdout and "all answers match" in ok.stdout
    assert "replaying" in ok.stderr
    assert etree.parse(str(tmp_path / "ok.xml")).getroot().get("failures") == "0"
    with Peer("changed") as peer:
        bad = runner.invoke(cli, ["replay", str(captured), "--to", peer.url, "--junit",
                                  str(tmp_path / "bad.xml"), "--settle", "0.05",
                                  "--mask", "records[*].vehicle.year"])
    assert bad.exit_code == 1, bad.output
    assert "records[0].registration.expires" in bad.stdout
    assert "DIFFERENCES FOUND" in bad.stdout
    # two captures: the original and the replay of it, compared offline
    same = runner.invoke(cli, ["diff", str(captured), str(tmp_path / "replayed.jsonl")])
    assert same.exit_code == 0, same.output
    refused = runner.invoke(cli, ["replay", str(captured), "--to", "tcp://127.0.0.1:1",
                                 "--settle", "0"])
    # a peer that is not there: a typed LinkError (main() prints it as one line, exit 2)
    assert isinstance(refused.exception, LinkError)


def test_cli_capture_runs_for_a_duration(tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    with Peer() as peer:
        res = CliRunner().invoke(cli, ["capture", "--listen", "127.0.0.1:0", "--to", peer.url,
                                       "--framing", "len2", "--codec", "json", "-o", str(out),
                                       "--duration", "0.2", "--notes", "cli"])
    assert res.exit_code == 0, res.output
    cap = read_capture(out)
    assert cap.header.notes == "cli" and cap.header.links["client"]["codec"] == "json"


def test_json_answer_sample_is_canonical() -> None:
    msgs = answers_for(_requests()[0], "same", itertools.count())
    for m in msgs:
        assert json.loads(CODEC.encode(m)) == to_dict(m)


def test_cli_replay_of_a_capture_without_requests_fails(tmp_path: Path) -> None:
    """An empty capture must not pass a CI job with "all answers match"."""
    empty = tmp_path / "empty.jsonl"
    CaptureWriter(str(empty), links={"agency": {"codec": "ncic"}}, notes="nothing").close()
    out = CliRunner().invoke(cli, ["replay", str(empty), "--to", "tcp://127.0.0.1:1"])
    assert out.exit_code == 2, out.output
    assert "no requests to replay" in out.stderr


def test_cli_diff_shows_an_extra_answer_in_full(tmp_path: Path) -> None:
    """testing.md: extra answers are shown in full (they were cut at 200 characters)."""
    src = Path(__file__).resolve().parent.parent / "fixtures" / "captures" / "clean.jsonl"
    lines = src.read_text("utf-8").splitlines()
    last_out = max(i for i, line in enumerate(lines)
                   if json.loads(line).get("direction") == "out"
                   and json.loads(line).get("kind") == "frame"
                   and json.loads(line).get("message"))
    message = json.loads(lines[last_out])["message"]
    shown = json.dumps(message, ensure_ascii=False)
    assert len(shown) > 200
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(lines[:last_out] + lines[last_out + 1:]) + "\n", "utf-8")
    out = CliRunner().invoke(cli, ["diff", str(short), str(src)])
    assert out.exit_code == 1, out.output
    assert "extra (received, not in the capture): " + shown in out.stdout
