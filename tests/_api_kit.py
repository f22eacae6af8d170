"""Test kit for the HTTP API: a switch config with ``[api]`` in front of simulated
destinations, and the switch run as ``clets run`` (a subprocess) or in this process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from clets.api.server import ApiServer
from clets.daemon import Daemon
from clets.sim import SimNetwork
from clets.switch import Switch, load_config
from tests._crash_kit import switch_config

DESTS = ("WPS", "NCIC", "CARPOS")


def api_config_text(journal: Path, dest_urls: dict[str, str], *, api: str = "",
                    metrics: str | None = None, extra: str = "") -> str:
    """The crash kit's small box (json origin ``lapd`` over plain TCP, the destinations)
    plus an ``[api]`` table (default: plain HTTP on loopback, peer LAPD)."""
    text = switch_config(journal, 0, dest_urls, metrics=metrics)
    table = api or ('[api]\nlisten = "127.0.0.1:0"\nplain = true\npeer = "LAPD"\n')
    return text + "\n" + table + "\n" + extra


class Harness:
    """A switch with ``[api]`` running in this loop, its app, and an httpx client on it."""

    def __init__(self, switch: Switch, server: ApiServer, app: Any,
                 http: httpx.AsyncClient, net: SimNetwork) -> None:
        self.switch, self.server, self.app, self.http, self.net = switch, server, app, http, net


@contextlib.asynccontextmanager
async def running_api(tmp_path: Path, *, api: str = "", extra: str = "",
                      serve: bool = False, client: dict[str, Any] | None = None
                      ) -> AsyncIterator[Harness]:
    """The switch and its API in this process in front of the simulator.  ``serve``: a real
    uvicorn on 127.0.0.1 (``client`` are httpx options: verify, cert), else in process
    (httpx's ASGI transport)."""
    async with SimNetwork(backends=list(DESTS), base_port=0) as net:
        text = api_config_text(tmp_path / "journal.db", {d: net.url(d) for d in DESTS},
                               api=api, extra=extra)
        path = tmp_path / "switch.toml"
        path.write_text(text, "utf-8")
        daemon = Daemon(load_config(path))
        server = daemon.api
        assert server is not None
        sw = daemon.switch
        try:
            if serve:
                await daemon.start()
                app = None
                scheme = "http" if server.api.plain else "https"
                http = httpx.AsyncClient(base_url=f"{scheme}://{server.address()}",
                                         timeout=20, **(client or {}))
            else:
                await sw.start()
                app = await server.app(sw, daemon._ops_routes)
                daemon.state = "running"  # as Daemon.start leaves it (/healthz reads it)
                http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://api", timeout=20)
            async with http:
                yield Harness(sw, server, app, http, net)
        finally:
            if daemon.state == "running" and serve:
                await daemon.stop()
            else:
                await server.stop()
                await sw.stop(drain=False)


def server_nodelay(server: ApiServer) -> list[int]:
    """TCP_NODELAY of each connection the API's uvicorn holds, as the accepted sockets
    have it (1 each: without it every response waited ~40 ms for the client's delayed ACK;
    a test of the option, not of a time)."""
    import socket

    assert server._server is not None
    out = []
    for conn in server._server.server_state.connections:
        sock = conn.transport.get_extra_info("socket")  # type: ignore[union-attr]
        out.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    return out


def qw(control: str | None = "H1", **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "format": "json", "mke": "QW", "origin": "CA0194200",
        "person": {"name": {"last": "SMITH", "first": "JOHN", "middle": "J"},
                   "dob": "1975-10-12", "sex": "M", "race": "W"}}
    if control is not None:
        msg["control"] = control
    msg.update(extra)
    return msg
