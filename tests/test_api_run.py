"""The HTTP API served by ``clets run`` (a real subprocess) in front of the simulator: an
inquiry posted over HTTP goes through the switch to three destinations, and its answers are
read back, held by ``?wait=`` and by ``GET /v1/messages/{msn}``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from clets.sim import SimNetwork
from tests._api_kit import DESTS, api_config_text
from tests._crash_kit import SwitchProcess
from tests._prom import prom_lines

pytestmark = pytest.mark.timeout(90)


def qw(control: str) -> dict[str, object]:
    return {"format": "json", "mke": "QW", "origin": "CA0194200", "control": control,
            "person": {"name": {"last": "SMITH", "first": "JOHN", "middle": "J"},
                       "dob": "1975-10-12", "sex": "M", "race": "W"}}


def test_post_message_end_to_end_through_clets_run(tmp_path: Path) -> None:
    async def main() -> None:
        async with SimNetwork(backends=list(DESTS), base_port=0) as net:
            cfg = tmp_path / "switch.toml"
            cfg.write_text(api_config_text(tmp_path / "journal.db",
                                           {d: net.url(d) for d in DESTS}), "utf-8")
            proc = SwitchProcess(cfg, tmp_path / "switch.log")
            ready = await proc.start()
            try:
                base = f"http://{ready['api']}"
                async with httpx.AsyncClient(base_url=base, timeout=20) as http:
                    r = await http.post("/v1/messages", json=qw("H1"))
                    assert r.status_code == 202, r.text
                    body = r.json()
                    msn = body["msn"]
                    assert r.headers["location"] == f"/v1/messages/{msn}"
                    assert sorted(body["destinations"]) == sorted(DESTS)

                    r = await http.post("/v1/messages?wait=15", json=qw("H2"))
                    assert r.status_code == 202, r.text
                    held = r.json()
                    assert held["complete"] is True
                    got = {a["message"]["origin"] for a in held["answers"]}
                    assert got == {"CADOJWPS0", "DCFBIWA00", "CADOJPO00"}
                    assert all(a["message"]["control"] == "H2" for a in held["answers"])

                    for _ in range(200):  # the first one's answers arrive meanwhile
                        view = (await http.get(f"/v1/messages/{msn}")).json()
                        if view["complete"] and len(view["answers"]) == 3:
                            break
                        await asyncio.sleep(0.05)
                    assert view["msn"] == msn and view["control"] == "H1"
                    assert {d["destination"] for d in view["destinations"]} == set(DESTS)
                    assert all(d["answers"] == 1 for d in view["destinations"])
                    assert len(view["answers"]) == 3

                    # /metrics (prometheus_client) and /healthz on the same app
                    health = await http.get("/healthz")
                    assert health.status_code == 200 and health.json()["ok"] is True
                    assert health.json()["links"]["api"] == "up"
                    lines = prom_lines((await http.get("/metrics")).text)
                    assert 'clets_messages_total{outcome="accepted"} 2' in lines
                    assert 'clets_link_up{link="api"} 1' in lines
            finally:
                assert await proc.terminate() == 0
                proc.cleanup()

    asyncio.run(main())


def test_a_response_head_waits_for_its_body_and_no_longer() -> None:
    """uvicorn writes a response's head and its body in two transport writes; on the API's
    connections (``server._OneWrite``, over a real socket) both leave in one ``send``; a
    head with no body after it (an event stream's) leaves at the loop's next turn, and a
    close writes a held head before it closes."""
    import socket

    from clets.api.server import _OneWrite

    class Counting(socket.socket):
        sends: list[bytes] = []

        def send(self, data: bytes, flags: int = 0) -> int:  # type: ignore[override]
            self.sends.append(bytes(data))
            return super().send(data, flags)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        sock = Counting(a.family, a.type, a.proto, fileno=a.detach())
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, sock)
        w = _OneWrite(transport, loop)  # type: ignore[arg-type]
        head = b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n"
        w.write(head)
        assert Counting.sends == []
        w.write(b"{}")
        assert Counting.sends == [head + b"{}"]
        stream = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"
        w.write(stream)
        await asyncio.sleep(0)  # the loop's next turn
        assert Counting.sends[1:] == [stream]
        w.write(b"data: 1\n\n")  # not a head: at once
        assert Counting.sends[2:] == [b"data: 1\n\n"]
        w.write(head)
        w.close()
        assert Counting.sends[3:] == [head] and w.is_closing()
        await asyncio.sleep(0.01)
        b.setblocking(False)
        got = b.recv(65536)
        assert got == head + b"{}" + stream + b"data: 1\n\n" + head
        b.close()

    asyncio.run(main())
