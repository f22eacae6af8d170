"""Captures written by the switch (``[[link]] capture =``): memory links, a real TCP server link
in front of the simulated back-ends, replay of the switch's own capture, and failures that must
not touch the traffic."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

import pytest

from clets.adapters.memory import memory_pair
from clets.codecs import get_codec
from clets.framing import Frame, make_framer
from clets.switch import Switch, parse_config
from clets.switch.audit import records
from clets.switch.capture import CapturingLink, unwrap
from clets.switch.config import ConfigProblems
from clets.switch.links import ServerLink
from clets.testing.capture import read_capture
from clets.testing.diff import MaskSet
from clets.testing.replay import ReplayOptions, replay, replay_over
from clets.testing.replay import open_link as replay_link
from tests._switch_kit import Harness, config_text, eventually, qw, run_async

pytestmark = pytest.mark.timeout(60)


def _with_capture(text: str, link: str, value: str) -> str:
    """Add ``capture = value`` to the ``[[link]]`` named ``link`` of a config text."""
    marker = f'name = "{link}"\n'
    assert text.count(marker) == 1, link
    return text.replace(marker, f"{marker}capture = {value}\n")


# --------------------------------------------------------------------------- config

def test_capture_config_values(tmp_path: Path) -> None:
    text = config_text(tmp_path / "j.db")
    text = _with_capture(text, "lapd", '"caps/lapd.jsonl"')
    text = _with_capture(text, "ncic", "true")
    cfg = parse_config(text, "t.toml", tmp_path)
    assert cfg.links["lapd"].capture == tmp_path / "caps" / "lapd.jsonl"
    assert cfg.links["ncic"].capture is True
    assert cfg.links["wps"].capture is False
    with pytest.raises(ConfigProblems) as exc:
        parse_config(_with_capture(config_text(tmp_path / "j.db"), "lapd", "3"), "t.toml",
                     tmp_path)
    assert any("capture must be bool or str" in p.reason for p in exc.value.problems)
    with pytest.raises(ConfigProblems):
        parse_config(_with_capture(config_text(tmp_path / "j.db"), "lapd", '""'), "t.toml",
                     tmp_path)


# --------------------------------------------------------------------------- memory links

@run_async
async def test_memory_links_origin_and_destinations_recorded(tmp_path: Path) -> None:
    text = config_text(Path("{journal}"))
    text = _with_capture(text, "lapd", '"caps/lapd.jsonl"')
    text = _with_capture(text, "ncic", '"caps/dest.jsonl"')
    text = _with_capture(text, "wps", '"caps/dest.jsonl"')
    async with Harness(tmp_path, text=text) as h:
        assert isinstance(h.switch._links["lapd"], CapturingLink)
        assert h.switch.links["lapd"] is h.near["lapd"]  # the transport, for the daemon
        await h.send("lapd", qw(control="LAPD0001"))
        ack = await h.recv("lapd")
        assert ack.mke == "ACK"
        fwd_ncic, fwd_wps = await h.recv("ncic"), await h.recv("wps")
        await h.recv("carpos")
        await h.answer("NCIC", fwd_ncic, status="hit", text="WANTED")
        await h.answer("WPS", fwd_wps, status="no_hit")
        got = [await h.recv("lapd"), await h.recv("lapd")]
        assert {m.status for m in got} == {"hit", "no_hit"}
    lapd = read_capture(tmp_path / "caps" / "lapd.jsonl")
    assert lapd.header.links["lapd"]["role"] == "origin"
    assert lapd.header.links["lapd"]["codec"] == "json"
    ins, outs = lapd.frames("lapd", "in"), lapd.frames("lapd", "out")
    assert [e.message["mke"] for e in ins if e.message] == ["QW"]
    assert ins[0].message is not None and ins[0].message["control"] == "LAPD0001"
    assert [e.message["mke"] for e in outs if e.message] == ["ACK", "QWR", "QWR"]
    assert sorted(str(e.message["status"]) for e in outs[1:] if e.message) == ["hit", "no_hit"]
    assert all(e.peer == "LAPD" and e.codec == "json" and e.raw for e in ins + outs)

    dest = read_capture(tmp_path / "caps" / "dest.jsonl")
    assert set(dest.header.links) == {"ncic", "wps"}
    assert dest.header.links["ncic"]["role"] == "destination"
    for link, status in (("ncic", "hit"), ("wps", "no_hit")):
        # destination links: the forwarded request is "in" (toward the captured peer)
        (req,) = dest.frames(link, "in")
        (ans,) = dest.frames(link, "out")
        assert req.message is not None and ans.message is not None
        assert req.message["mke"] == "QW" and req.message["control"] != "LAPD0001"
        assert ans.message["control"] == req.message["control"]
        assert ans.message["status"] == status
        assert req.peer == ans.peer == link.upper()


@run_async
async def test_wrapper_delegates_and_received_only_when_inner_has_it(tmp_path: Path) -> None:
    from clets.switch.capture import CaptureSink
    from clets.testing.capture import CaptureWriter

    near, far = memory_pair(f"{tmp_path.name}-wrap")
    sink = CaptureSink(CaptureWriter(tmp_path / "w.jsonl", links={"x": {}}))
    codecs = (("json", get_codec("json")),)
    link = CapturingLink(near, sink, link="x", role="origin", framing=None, requests=codecs,
                         answers=codecs, peer="P")
    assert not hasattr(link, "received")  # a memory link is read with receive()
    assert link.sent is near.sent and link.name == near.name and unwrap(link) is near
    link.set_down(True)
    assert link.state.value == "down"
    link.set_down(False)
    await far.send(b"not json")
    assert await link.receive() == b"not json"
    await link.send(b'{"format": "json", "mke": "QW"}')
    await link.close()
    sink.close()
    cap = read_capture(tmp_path / "w.jsonl")
    (bad,) = cap.frames("x", "in")
    assert bad.message is None and bad.decode_error and bad.raw == b"not json"
    (sent,) = cap.frames("x", "out")
    assert sent.message is not None and sent.message["mke"] == "QW"

    class Multi:
        name, state, peer = "m", near.state, near.peer

        async def received(self) -> Any:
            yield None  # pragma: no cover

    wrapped = CapturingLink(Multi(), sink, link="m", role="origin",  # type: ignore[arg-type]
                            framing=None, requests=codecs, answers=codecs, peer=None)
    assert callable(wrapped.received)


@run_async
async def test_write_failure_stops_capture_once_and_traffic_goes_on(tmp_path: Path) -> None:
    text = _with_capture(config_text(Path("{journal}")), "lapd", '"lapd.jsonl"')
    async with Harness(tmp_path, text=text) as h:
        wrapper = h.switch._links["lapd"]
        assert isinstance(wrapper, CapturingLink)
        wrapper.sink.writer.close()  # every later write raises: "disk full"
        for n in (1, 2):
            await h.send("lapd", qw(control=f"F{n}"))
            assert (await h.recv("lapd")).mke == "ACK"
            fwd = await h.recv("ncic")
            await h.recv("wps")
            await h.recv("carpos")
            await h.answer("NCIC", fwd, status="hit")
            assert (await h.recv("lapd")).status == "hit"

        def failures() -> list[dict[str, Any]]:
            return [r for r in records(h.switch.journal.conn)
                    if r["outcome"] == "capture_failed"]

        await eventually(failures)
        (fail,) = failures()
        assert fail["event"] == "error" and fail["link"] == "lapd"
        assert "capture stopped" in fail["reason"]
    assert read_capture(tmp_path / "lapd.jsonl").events == []


@run_async
async def test_unwritable_capture_file_leaves_the_link_uncaptured(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory")
    text = _with_capture(config_text(Path("{journal}")), "lapd", '"blocker/lapd.jsonl"')
    async with Harness(tmp_path, text=text) as h:
        assert not isinstance(h.switch._links["lapd"], CapturingLink)
        await h.send("lapd", qw(control="U1"))
        assert (await h.recv("lapd")).mke == "ACK"
        reasons = [r["reason"] for r in records(h.switch.journal.conn)
                   if r["outcome"] == "capture_failed"]
        assert len(reasons) == 1 and "capture not started" in reasons[0]


@run_async
async def test_capture_true_new_file_per_start_and_path_keeps_previous(tmp_path: Path) -> None:
    text = _with_capture(config_text(Path("{journal}")), "lapd", "true")
    text = _with_capture(text, "sheriff", '"sheriff.jsonl"')
    for _ in range(2):
        async with Harness(tmp_path, text=text):
            pass
        await asyncio.sleep(1.1)  # file names carry the start time to the second
    assert len(list((tmp_path / "captures").glob("lapd-*.jsonl"))) == 2
    kept = sorted(p.name for p in tmp_path.glob("sheriff*.jsonl"))
    assert len(kept) == 2 and "sheriff.jsonl" in kept
    for p in tmp_path.glob("sheriff*.jsonl"):
        read_capture(p)


# --------------------------------------------------------------------------- TCP + simulator

def _load_maker() -> Any:
    import importlib.util
    import sys

    from tests.conftest import FIXTURES

    if "make_captures" in sys.modules:  # test_replay_fixtures loads it the same way
        return sys.modules["make_captures"]
    spec = importlib.util.spec_from_file_location("make_captures",
                                                  FIXTURES / "captures" / "make_captures.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["make_captures"] = mod
    spec.loader.exec_module(mod)
    return mod


MAKER = _load_maker()
REQUESTS = [  # (request, answers expected)
    (b"RQ.CA0349999.LIC/7ABC123.LIS/CA", 1),            # DMV registration hit (stolen)
    (b"DQ.CA0349999.OLN/A1234567.OLS/CA", 1),           # DMV licence (dl codec both ways)
    (b"QV.CA0349999.LIC/7ABC123.LIS/CA", 3),            # SVS + NCIC + DMV fan-out
    (b"QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751302", 1),  # rejected at once (.21. DOB)
]


async def _agency(port: int) -> list[list[bytes]]:
    """One agency connection: each request, then all its answers (count known)."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    framer = make_framer("len2")
    answers: list[list[bytes]] = []
    try:
        for req, n in REQUESTS:
            w.write(framer.encode(req))
            await w.drain()
            got: list[bytes] = []
            async with asyncio.timeout(10):
                while len(got) < n:
                    data = await r.read(65536)
                    assert data, "switch closed the connection"
                    got += [ev.payload for ev in framer.feed(data) if isinstance(ev, Frame)]
            answers.append(got)
    finally:
        w.close()
        with contextlib.suppress(Exception):
            await w.wait_closed()
    return answers


def _switch(tmp: Path, sim: Any, journal: Path, port: int) -> Switch:
    text = MAKER.switch_config(journal, port, sim, 5.0)
    text = _with_capture(text, "lapd", "true")
    text = _with_capture(text, "dmv", '"dmv.jsonl"')
    text = text.replace("ttl = 600", "ttl = 600\ndedup_window = 0")
    return Switch(parse_config(text, "sw.toml", tmp), poll=0.05, send_timeout=2.0,
                  rng=random.Random(7))


@run_async
async def test_tcp_server_link_capture_reads_back_and_replays_clean(tmp_path: Path) -> None:
    from clets.sim import SimNetwork

    async with SimNetwork(base_port=0) as sim:
        port = MAKER.free_port()
        sw = _switch(tmp_path, sim, tmp_path / "j1" / "journal.db", port)
        await sw.start()
        try:
            assert isinstance(sw.links["lapd"], ServerLink)  # the daemon's view is unchanged
            answers = await _agency(port)
        finally:
            await sw.stop()
        assert [len(a) for a in answers] == [n for _r, n in REQUESTS]

        (path,) = (tmp_path / "j1" / "captures").glob("lapd-*.jsonl")
        cap = read_capture(path)
        assert cap.header.links["lapd"] == {
            "role": "origin", "framing": "len2", "codec": "ncic", "codec_out": "ncic",
            "peer": "LAPD", "url": f"tcp://127.0.0.1:{port}"}
        ins, outs = cap.frames("lapd", "in"), cap.frames("lapd", "out")
        assert [e.raw for e in ins] == [r for r, _n in REQUESTS]
        assert sorted(e.raw for e in outs if e.raw) == sorted(a for g in answers for a in g)
        assert [e.message["mke"] for e in ins[:3] if e.message] == ["RQ", "DQ", "QV"]
        assert ins[3].message is None and ins[3].decode_error  # the bad DOB: raw kept
        assert all(e.message is not None for e in outs)  # every answer decoded
        regs = [e.message for e in outs if e.message and e.message["records"]
                and e.message["records"][0]["file"] == "registration"]
        assert regs and regs[0]["records"][0]["registration"]["expires"] == "2026-02-14"
        conns = {e.conn for e in ins + outs}
        assert len(conns) == 1 and None not in conns  # one agency connection, numbered
        assert {e.peer for e in ins + outs} == {"LAPD"}

        dmv = read_capture(tmp_path / "dmv.jsonl")
        (dreq_reg, dreq_dl, dreq_qv) = dmv.frames("dmv", "in")
        assert [e.codec for e in (dreq_reg, dreq_dl, dreq_qv)] == [
            "dmv-reg-request?encoding=cp037", "dmv-dl-request?encoding=cp037",
            "dmv-reg-request?encoding=cp037"]
        assert [e.codec for e in dmv.frames("dmv", "out")] == [
            "dmv-reg-response?encoding=cp037", "dmv-dl-response?encoding=cp037",
            "dmv-reg-response?encoding=cp037"]

        # replay the switch's capture against the same switch + simulator: no differences
        sw2 = _switch(tmp_path, sim, tmp_path / "j2" / "journal.db", port)
        await sw2.start()
        try:
            result = await replay(cap, f"tcp://127.0.0.1:{port}",
                                  ReplayOptions(timeout=5.0, settle=0.3))
        finally:
            await sw2.stop()
        report = result.report(MaskSet.of([]))
        assert report.ok and not result.errors, report.details()
        assert report.summary().count("\n") >= 1

        # the DMV link's capture replays straight against the simulated DMV
        link = await replay_link(sim.url("DMV"), framing="rdw")
        try:
            dres = await replay_over(dmv, link, ReplayOptions(timeout=5.0, settle=0.2,
                                                              codec=None))
        finally:
            await link.close()
        dreport = dres.report(MaskSet.of([]))
        # one answer codec per replay: the licence answer is compared raw, the others decoded
        assert len(dres.replayed) == 3 and all(len(e.answers) == 1 for e in dres.replayed)
        assert dreport.ok, dreport.details()
        assert [e.answers[0].raw for e in dres.replayed] == \
            [a.raw for a in dmv.frames("dmv", "out")], dreport.details()


def test_capture_file_is_valid_while_the_switch_runs(tmp_path: Path) -> None:
    """Lines are flushed as they are written: a crash keeps a readable capture."""

    async def main() -> None:
        text = _with_capture(config_text(Path("{journal}")), "lapd", '"live.jsonl"')
        async with Harness(tmp_path, text=text) as h:
            await h.send("lapd", qw(control="L1"))
            await h.recv("lapd")
            cap = read_capture(tmp_path / "live.jsonl")
            assert [e.direction for e in cap.events] == ["in", "out"]

    asyncio.run(main())
