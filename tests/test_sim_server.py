"""Simulated back-ends over real TCP: each wire format round trip, outages, faults, admin, CLI."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner

from clets.cli import cli
from clets.codecs.base import get_codec
from clets.model import License, Message, Name, Person, Vehicle, replace
from clets.sim.backends import Faults
from clets.sim.dataset import WELL_KNOWN
from clets.sim.server import SimNetwork

WK = WELL_KNOWN
ORI = "CA0349999"
T = TypeVar("T")


def need_codec(name: str) -> None:
    """Skip (with the module named) while a codec module has not landed."""
    from clets.codecs.base import _BUILTIN

    module = _BUILTIN[name].split(":")[0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"codec module {module} not present yet")


def run(coro_fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(main())


# ---- raw framing on the test side, written out by hand so the test does not trust the framers

def frame(framing: str, payload: bytes) -> bytes:
    if framing == "len2":
        return struct.pack(">H", len(payload)) + payload
    if framing == "len4":
        return struct.pack(">I", len(payload)) + payload
    assert framing == "rdw"
    return struct.pack(">HH", len(payload) + 4, 0) + payload


async def read_frame(reader: asyncio.StreamReader, framing: str) -> bytes:
    if framing == "len2":
        (n,) = struct.unpack(">H", await reader.readexactly(2))
    elif framing == "len4":
        (n,) = struct.unpack(">I", await reader.readexactly(4))
    else:
        n, zero = struct.unpack(">HH", await reader.readexactly(4))
        assert zero == 0
        n -= 4
    return await reader.readexactly(n)


async def exchange(net: SimNetwork, name: str, payloads: list[bytes], answers: int,
                   timeout: float = 10.0) -> list[bytes]:
    host, port = net.address(name)
    framing = net.wire(name).framing
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for p in payloads:
            writer.write(frame(framing, p))
        await writer.drain()
        return [await asyncio.wait_for(read_frame(reader, framing), timeout)
                for _ in range(answers)]
    finally:
        writer.close()


def ncic_request(text: str, control: str) -> bytes:
    """The inquiry as Nlets input text (``MKE.ORI.DEST.*CONTROL.TXT...``): the text form that
    carries a control field (the ``ncic`` inquiry layout has none)."""
    msg = get_codec("ncic").decode(text.encode())
    msg.control = control
    msg.destinations = msg.destinations or ["CA"]
    return get_codec("nlets").encode(msg)


def decode_answer(raw: bytes) -> Message:
    return get_codec("nlets").decode(raw)


# ----------------------------------------------------------------------------- ncic text

NCIC_CASES = [
    ("NCIC", "QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012.SEX/M.RAC/W", "hit", 2),
    ("NCIC", "QW.CA0349999.NAM/ZZYZX, NOBODY.DOB/19500101", "no_hit", 0),
    ("WPS", "QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012", "hit", 1),
    ("SVS", "QV.CA0349999.LIC/7ABC123.LIS/CA", "hit", 1),
    ("SVS", "QV.CA0349999.LIC/5GHJ234.LIS/CA", "no_hit", 0),
    ("CARPOS", "QPO.CA0349999.NAM/SMITH, JOHN J.DOB/19751012", "hit", 1),
    ("CCH", "QR.CA0349999.CII/A09876543", "hit", 4),
]


@pytest.mark.parametrize("backend,text,status,records", NCIC_CASES)
def test_ncic_text_round_trip(backend: str, text: str, status: str, records: int) -> None:
    """``ncic`` inquiry in, ``ncic`` response out (no control on this layout)."""
    need_codec("ncic")
    need_codec("nlets")

    async def go() -> Message:
        async with SimNetwork(backends=[backend]) as net:
            (raw,) = await exchange(net, backend, [text.encode()], 1)
            assert net.log(backend)[0].mke == text.split(".")[0]
        return get_codec("ncic").decode(raw)

    ans = run(go)
    assert (ans.status, len(ans.records), ans.control) == (status, records, None)
    assert ans.destinations == [ORI]
    assert ans.format == "ncic"


@pytest.mark.parametrize("backend,text,status,records", NCIC_CASES)
def test_nlets_text_round_trip_echoes_control(backend: str, text: str, status: str,
                                              records: int) -> None:
    need_codec("nlets")

    async def go() -> Message:
        async with SimNetwork(backends=[backend]) as net:
            (raw,) = await exchange(net, backend, [ncic_request(text, "K42")], 1)
        return decode_answer(raw)

    ans = run(go)
    assert (ans.status, len(ans.records), ans.control) == (status, records, "K42")
    assert ans.destinations == [ORI]


def test_pipelined_requests_with_jitter_all_come_back_with_their_control() -> None:
    need_codec("ncic")
    need_codec("nlets")
    controls = [f"P{i:03d}" for i in range(25)]

    async def go() -> list[bytes]:
        async with SimNetwork(backends=["WPS"], faults=Faults(latency_ms=1, jitter_ms=20)) as net:
            reqs = [ncic_request("QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012", c)
                    for c in controls]
            return await exchange(net, "WPS", reqs, len(reqs))

    answers = [decode_answer(raw) for raw in run(go)]
    assert sorted(a.control or "" for a in answers) == controls
    assert {a.status for a in answers} == {"hit"}


def test_undecodable_input_is_answered_with_an_error() -> None:
    need_codec("ncic")
    need_codec("nlets")

    async def go() -> bytes:
        async with SimNetwork(backends=["NCIC"]) as net:
            (raw,) = await exchange(net, "NCIC", [b"THIS IS NOT NCIC TEXT"], 1)
            assert net.servers["NCIC"].counts["undecodable"] == 1
            return raw

    ans = get_codec("ncic").decode(run(go))  # undecodable: answered in the main codec
    assert ans.status == "error" and ans.error is not None and ans.error.code in (21, 22)
    assert (ans.error.echo or "").startswith("THIS IS NOT NCIC TEXT")


# ----------------------------------------------------------------------------- DMV EBCDIC

def test_dmv_registration_record_round_trip() -> None:
    need_codec("dmv-reg-request")
    req = Message(format="dmv-reg-request", mke="RGQ1", origin=ORI, control="CTL0000007",
                  vehicle=Vehicle(plate=WK["stolen_plate"], plate_state="CA"))
    payload = get_codec("dmv-reg-request").encode(req)
    assert len(payload) == 80 and payload[:4] == "RGQ1".encode("cp037")

    async def go() -> bytes:
        async with SimNetwork(backends=["DMV"]) as net:
            (raw,) = await exchange(net, "DMV", [payload], 1)
            return raw

    raw = run(go)
    assert len(raw) == 256 and raw[:4] == "RGR1".encode("cp037")
    ans = get_codec("dmv-reg-response").decode(raw)
    assert (ans.status, ans.control, ans.destinations) == ("hit", "CTL0000007", [ORI])
    reg = ans.records[0].registration
    assert reg is not None and reg.stolen is True and reg.status == "AC"


def test_dmv_licence_records_hit_and_miss_on_one_connection() -> None:
    need_codec("dmv-dl-request")
    codec = get_codec("dmv-dl-request")
    reqs = [codec.encode(Message(format="dmv-dl-request", mke="DLQ1", origin=ORI,
                                 control=f"D{i}", person=Person(license=License(number=oln))))
            for i, oln in enumerate((WK["suspended_oln"], WK["absent_oln"]))]
    reqs.append(codec.encode(Message(format="dmv-dl-request", mke="DLQ1", origin=ORI,
                                     control="D2",
                                     person=Person(name=Name("GARCIA", "MARIA", "L"),
                                                   dob="1988-04-23"))))

    async def go() -> list[bytes]:
        async with SimNetwork(backends=["DMV"]) as net:
            return await exchange(net, "DMV", reqs, 3)

    answers = {m.control: m for m in (get_codec("dmv-dl-response").decode(r) for r in run(go))}
    assert answers["D0"].status == "hit"
    lic = answers["D0"].records[0].person.license  # type: ignore[union-attr]
    assert lic is not None and (lic.number, lic.status) == (WK["suspended_oln"], "SU")
    assert answers["D1"].status == "no_hit"
    lic2 = answers["D2"].records[0].person.license  # type: ignore[union-attr]
    assert lic2 is not None and lic2.number == WK["valid_oln"]


def test_every_registration_and_licence_fits_the_dmv_records() -> None:
    """The whole data set survives the copybook encoders (lengths, zoned and packed fields)."""
    need_codec("dmv-reg-response")
    from clets.sim.backends import make_backend
    from clets.sim.dataset import generate

    ds = generate()
    dmv = make_backend("DMV", ds)
    reg_codec, dl_codec = get_codec("dmv-reg-response"), get_codec("dmv-dl-response")
    for v in ds.vehicles:
        if v.plate_state != "CA":
            continue
        req = Message(format="dmv-reg-request", mke="RGQ1", origin=ORI, control="X",
                      vehicle=Vehicle(plate=v.plate, plate_state="CA"))
        (ans,) = dmv.answer(req)
        back = reg_codec.decode(reg_codec.encode(ans))
        assert back.records[0].registration == ans.records[0].registration, v.plate
    for lic in ds.licenses:
        if lic.state != "CA":
            continue
        req = Message(format="dmv-dl-request", mke="DLQ1", origin=ORI, control="X",
                      person=Person(license=License(number=lic.number)))
        (ans,) = dmv.answer(req)
        back = dl_codec.decode(dl_codec.encode(ans))
        assert back.records[0].fields == ans.records[0].fields, lic.number


# ----------------------------------------------------------------------------- Nlets NIEM

def test_nlets_niem_round_trip() -> None:
    need_codec("niem")
    codec = get_codec("niem")
    req = Message(format="niem", mke="RQ", origin=ORI, destinations=["NV"], control="N1",
                  vehicle=Vehicle(plate=WK["out_of_state_plate"], plate_state="NV"))

    async def go() -> bytes:
        async with SimNetwork(backends=["NLETS"]) as net:
            (raw,) = await exchange(net, "NLETS", [codec.encode(req)], 1)
            return raw

    ans = codec.decode(run(go))
    assert (ans.mke, ans.status, ans.control, ans.origin) == ("RR", "hit", "N1", "NVLIC0000")
    assert ans.records and ans.records[0].vehicle is not None
    assert ans.records[0].vehicle.plate == WK["out_of_state_plate"]


# ----------------------------------------------------------------------------- faults

def test_refuse_outage_refuses_connections_then_recovers_on_the_same_port() -> None:
    need_codec("ncic")
    need_codec("nlets")

    async def go() -> None:
        async with SimNetwork(backends=["SVS"]) as net:
            host, port = net.address("SVS")
            await net.set_outage("SVS", True)
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(host, port)
            await net.set_outage("SVS", False)
            assert net.address("SVS") == (host, port)
            (raw,) = await exchange(net, "SVS", [ncic_request(
                "QV.CA0349999.LIC/7ABC123.LIS/CA", "R1")], 1)
            assert decode_answer(raw).status == "hit"

    run(go)


def test_outage_cuts_existing_connections() -> None:
    async def go() -> None:
        async with SimNetwork(backends=["CCH"]) as net:
            host, port = net.address("CCH")
            reader, writer = await asyncio.open_connection(host, port)
            await asyncio.sleep(0.05)
            await net.set_outage("CCH", True)
            assert await asyncio.wait_for(reader.read(10), 5) == b""  # EOF: cut
            writer.close()

    run(go)


def test_blackhole_outage_accepts_and_never_answers() -> None:
    need_codec("ncic")
    need_codec("nlets")

    async def go() -> None:
        async with SimNetwork(backends=["WPS"]) as net:
            await net.set_outage("WPS", True, mode="blackhole")
            req = ncic_request("QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012", "B1")
            with pytest.raises(TimeoutError):
                await exchange(net, "WPS", [req], 1, timeout=0.5)
            assert net.servers["WPS"].counts["blackholed"] == 1
            await net.set_outage("WPS", False)
            (raw,) = await exchange(net, "WPS", [req], 1)
            assert decode_answer(raw).control == "B1"

    run(go)


def test_initial_outage_and_error_rate_at_run_time() -> None:
    need_codec("ncic")
    need_codec("nlets")

    async def go() -> None:
        async with SimNetwork(backends=["NCIC", "CCH"], outages=["CCH"]) as net:
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(*net.address("CCH"))
            net.set_faults("NCIC", error_rate=1.0)
            (raw,) = await exchange(net, "NCIC", [ncic_request(
                "QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012", "E1")], 1)
            ans = decode_answer(raw)
            assert ans.status == "error" and ans.control == "E1"
            assert ans.error is not None and ans.error.code == 22

    run(go)


def test_admin_protocol() -> None:
    async def go() -> list[str]:
        async with SimNetwork(backends=["DMV", "NCIC"], admin=True) as net:
            assert net.admin_port is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", net.admin_port)
            lines = []
            for cmd in ("outage NCIC on", "faults ALL latency_ms=5 error_rate=0.5",
                        "status", "outage NCIC off", "faults DMV nonsense=1", "bogus"):
                writer.write(cmd.encode() + b"\n")
                await writer.drain()
                lines.append((await reader.readline()).decode().strip())
            writer.close()
            assert net.servers["DMV"].faults.error_rate == 0.5
            assert net.servers["NCIC"].faults.latency_ms == 5
            assert net.servers["NCIC"].outage is None
            return lines

    lines = run(go)
    assert lines[0] == "OK NCIC down (refuse)"
    assert lines[1].startswith("OK DMV NCIC")
    assert "NCIC=down(refuse)" in lines[2] and "DMV=up" in lines[2]
    assert lines[3] == "OK NCIC up"
    assert lines[4].startswith("ERR bad fault setting") and lines[5].startswith("ERR unknown")


# ----------------------------------------------------------------------------- CLI

def test_cli_query_answers_offline() -> None:
    need_codec("ncic")
    need_codec("nlets")
    result = CliRunner().invoke(cli, ["sim", "query", "--backend", "DMV", "--format", "ncic",
                                      "QV.CA0349999.LIC/7ABC123.LIS/CA"])
    assert result.exit_code == 0, result.output
    ans = get_codec("ncic").decode(result.output.encode())
    assert ans.status == "hit" and ans.records[0].registration is not None
    assert ans.records[0].registration.stolen is True
    result = CliRunner().invoke(cli, ["sim", "query", "--backend", "NCIC", "--out", "json",
                                      "QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012"])
    data = json.loads(result.output)
    assert data["status"] == "hit" and data["records"][0]["case"]["nic"] == WK["wanted_nic"]


def test_cli_sim_runs_until_sigterm() -> None:
    need_codec("ncic")
    need_codec("nlets")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from clets.cli import main; main()", "sim", "--port-base", "0",
         "--backend", "SVS", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(proc.stdout.readline())
        port = info["backends"]["SVS"]["port"]
        assert info["backends"]["SVS"]["framing"] == "len2"

        async def ask() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(frame("len2", ncic_request("QV.CA0349999.LIC/7ABC123.LIS/CA", "S1")))
            await writer.drain()
            raw = await read_frame(reader, "len2")
            writer.close()
            return raw

        assert decode_answer(run(ask)).status == "hit"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_outage_at_start_keeps_the_port_when_it_comes_back() -> None:
    import socket

    async def main() -> None:
        async with SimNetwork(seed=1975, base_port=0, backends=["DMV"], outages=["DMV"]) as net:
            host, port = net.address("DMV")
            assert port
            with pytest.raises(OSError):
                socket.create_connection((host, port), timeout=2).close()
            await net.set_outage("DMV", False)
            assert net.address("DMV") == (host, port)
            socket.create_connection((host, port), timeout=2).close()

    asyncio.run(main())


# ----------------------------------------------------------------------------- codec choice

def test_json_request_on_a_text_wire_is_answered_in_json() -> None:
    """A text back-end also takes canonical JSON; the JSON shape is tried first, so a JSON
    request is not first failed by the text decoders (the answer is the same)."""
    from clets.sim.backends import Responder, make_backend
    from clets.sim.dataset import generate
    from clets.sim.server import WIRES, _Codecs, answer_bytes

    codecs = _Codecs(WIRES["WPS"])
    responder = Responder(make_backend("WPS", generate()))
    req = Message(format="json", mke="QW", origin="CA0349999", control="C1",
                  person=Person(name=Name("SMITH", "JOHN"), dob="1975-10-12"))
    payload = get_codec("json").encode(req)
    assert codecs._likely_first(payload)[0] == "json"
    assert codecs._likely_first(b"  {")[0] == "json"
    assert codecs._likely_first(b"QW.CA0349999.NAM/SMITH, JOHN") == ["ncic", "nlets", "json"]
    decoded, _reply, frames = answer_bytes(responder, codecs, payload)
    assert decoded is not None and decoded.format == "json"
    answer = json.loads(frames[0])
    assert answer["control"] == "C1" and answer["status"] == "hit"
    # broken JSON is answered (an error in the wire's main format), not dropped
    decoded, reply, frames = answer_bytes(responder, codecs, b'{"format": "json", "mke": ')
    assert decoded is None and len(frames) == 1
    assert reply.messages[0].status == "error"


@pytest.mark.parametrize("backend", ["NCIC", "WPS"])
def test_unknown_message_key_in_ncic_text_is_answered_er_over_tcp(backend: str) -> None:
    """``XXR`` is no response key in ncic text: the sim answers ``ER .01.``, never silence."""
    need_codec("ncic")

    async def go() -> bytes:
        async with SimNetwork(backends=[backend]) as net:
            (raw,) = await exchange(net, backend,
                                    [b"XX.CA0349999.NAM/SMITH, JOHN.DOB/19751012"], 1)
            return raw

    ans = get_codec("ncic").decode(run(go))
    assert ans.mke == "ER" and ans.destinations == [ORI]
    assert ans.error is not None and (ans.error.code, ans.error.reason) == (
        1, "UNKNOWN MESSAGE KEY")
    assert (ans.error.echo or "").startswith("XX.CA0349999.NAM/SMITH")


_DUP_ENTRY = ("EW.CA0349999{ctl}.NAM/SMITH, JOHN J.SEX/M.RAC/W.DOB/19751012"
              ".OCA/24-001234.MIS/DUP")


@pytest.mark.parametrize("fmt", ["ncic", "nlets", "json"])
def test_duplicate_entry_is_answered_reject_on_file_in_every_format(fmt: str) -> None:
    """A text layout cannot carry the record a ``.30.`` found; the reject still comes back
    (the error alone), and json keeps the record."""
    from clets.sim.backends import Responder, make_backend
    from clets.sim.dataset import generate
    from clets.sim.server import WIRES, _Codecs, answer_bytes

    need_codec("ncic")
    need_codec("nlets")
    codecs = _Codecs(WIRES["WPS"])
    responder = Responder(make_backend("WPS", generate()))
    req = get_codec("ncic").decode(_DUP_ENTRY.format(ctl="").encode())
    payload = (get_codec("nlets").encode(replace(req, format="nlets", control="E1",
                                                 destinations=["CA"]))
               if fmt == "nlets" else get_codec(fmt).encode(replace(req, format=fmt)))
    _decoded, reply, frames = answer_bytes(responder, codecs, payload)
    assert len(frames) == 1
    ans = get_codec(fmt).decode(frames[0])
    assert ans.mke == "ACK" and ans.error is not None and ans.error.code == 30
    assert ans.error.reason == "REJECT ON FILE"
    assert len(ans.records) == (1 if fmt == "json" else 0)
    assert reply.messages[0].records  # the model answer still names the entry on file


@pytest.mark.parametrize("fmt", ["ncic", "nlets"])
def test_entry_and_clear_are_acknowledged_in_text_with_the_numbers_in_case(fmt: str) -> None:
    """An ``ACK`` fits ncic text too: its NIC and OCA travel as fields, not in the text."""
    from clets.sim.backends import Responder, make_backend
    from clets.sim.dataset import generate
    from clets.sim.server import WIRES, _Codecs, answer_bytes

    need_codec("ncic")
    need_codec("nlets")
    codecs = _Codecs(WIRES["WPS"])
    responder = Responder(make_backend("WPS", generate()))
    codec = get_codec(fmt)

    def ask(text: str) -> Message:
        req = get_codec("ncic").decode(text.encode())
        if fmt == "nlets":
            req = replace(req, format="nlets", control="E1", destinations=["CA"])
        (frame,) = answer_bytes(responder, codecs, codec.encode(req))[2]
        return codec.decode(frame)

    ack = ask("EW.CA0349999.NAM/DOE, JANE.SEX/F.RAC/W.DOB/19800101.OCA/26-000001")
    assert ack.mke == "ACK" and ack.error is None, ack
    assert ack.case is not None and ack.case.oca == "26-000001"
    assert (ack.case.nic or "").startswith("W")
    assert ack.text == "WPS ACKNOWLEDGED EW WANTED PERSON"
    cleared = ask(f"CW.CA0349999.NIC/{ack.case.nic}")
    assert cleared.mke == "ACK" and cleared.text == "WPS ACKNOWLEDGED CW CLEARED"
