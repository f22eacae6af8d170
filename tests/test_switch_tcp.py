"""The switch on real TCP links opened from config URLs (plain TCP on loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clets.adapters.tcp import StreamOptions, TcpClient, TcpServer
from clets.model import Message, Name, Person, dumps, loads
from clets.switch import ManualClock, Switch, parse_config
from clets.switch.links import ServerLink
from tests._switch_kit import run_async

pytestmark = pytest.mark.timeout(30)

CONFIG = """\
[switch]
name = "TCP"
home_state = "CA"
journal = "{journal}"

[[peer]]
mnemonic = "LAPD"
oris = ["CA0194200"]
access = "full"

[[link]]
name = "lapd"
url = "tcp://127.0.0.1:0?framing=len2&plain=1"
codec = "json"
role = "origin"
peer = "LAPD"
ack = true

[[link]]
name = "ncic"
url = "tcp://127.0.0.1:{port}?framing=len2&plain=1"
codec = "json"
role = "destination"

[[destination]]
name = "NCIC"
link = "ncic"
"""


@run_async
async def test_request_and_answer_over_tcp(tmp_path: Path) -> None:
    ncic_server = await TcpServer("127.0.0.1", 0, plain=True,
                                  options=StreamOptions(framing="len2")).start()
    cfg = parse_config(CONFIG.format(journal=tmp_path / "j.db", port=ncic_server.port),
                       "tcp.toml", tmp_path)
    sw = Switch(cfg, clock=ManualClock(), poll=0.02)
    await sw.start()
    agency = None
    try:
        lapd = sw._links["lapd"]
        assert isinstance(lapd, ServerLink)
        agency = TcpClient("127.0.0.1", lapd.server.port, plain=True,
                           options=StreamOptions(framing="len2"), reconnect=False)
        await agency.connect()
        qw = Message(format="json", mke="QW", origin="CA0194200", control="T1",
                     person=Person(name=Name("SMITH", "JOHN"), dob="1975-10-12"))
        await agency.send(dumps(qw).encode())
        async with asyncio.timeout(5):
            ack = loads(await agency.receive())
            assert ack.mke == "ACK" and ack.control == "T1"
            req = await ncic_server.receive()
            fwd = loads(req.payload)
            assert fwd.mke == "QW" and fwd.control and fwd.control != "T1"
            answer = Message(format="json", mke="QWR", destinations=["CA0194200"],
                             control=fwd.control, status="no_hit")
            await req.reply(dumps(answer).encode())
            got = loads(await agency.receive())
        assert got.status == "no_hit" and got.control == "T1"
    finally:
        if agency is not None:
            await agency.close()
        await sw.stop(drain=False)
        await ncic_server.close()
