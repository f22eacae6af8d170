"""The API served by uvicorn in the switch's own process and event loop.

Why in the same loop: an API request is a switch link's frame, handed over by a queue with no
thread or process in between, and the daemon has one lifecycle (``clets run``: ready line,
SIGTERM drain).  uvicorn's own signal handling is left out (the daemon owns SIGTERM), the
socket is bound here (a port in use is an ``OSError`` the daemon reports, not uvicorn's
``sys.exit``), and the TLS context is the links' (TLS 1.2+, forward-secret AEAD ciphers)
with the client certificate optional: a certificate identifies its peer, a client without
one presents a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from typing import Any, cast

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from clets.adapters import tls as tlsmod
from clets.switch.config import LinkConfig, SwitchConfig
from clets.switch.engine import Switch

from .app import ApiContext, create_app
from .auth import Authenticator
from .config import ApiConfig
from .events import EventHub
from .link import ApiLink

__all__ = ["API_CODECS", "ApiServer", "tls_context"]

#: open connections and requests at once; past it uvicorn answers 503 (a flood of
#: connections must not take the switch's memory)
MAX_CONNECTIONS = 2048
#: the codecs a client may post in (``Content-Type``); one switch link each
API_CODECS = ("json", "ncic", "nlets", "niem")


def _no_delay(transport: asyncio.Transport) -> None:
    """TCP_NODELAY on the connection: uvicorn writes a response's head and its body in two
    writes, and with Nagle on the body waited for the client's delayed ACK of the head,
    ~40 ms per response on Linux (``bench/api.py``: added p50 41 ms at 100/s).  asyncio sets
    it only on sockets whose ``proto`` is TCP, so it is set here whatever socket uvicorn
    serves."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _note_client_cert(protocol: Any, transport: asyncio.Transport) -> None:
    """Put the TLS connection's verified client certificate in each request's state
    (``request.state.clets_peer_cert``): uvicorn does not pass it to the app by itself."""
    obj = transport.get_extra_info("ssl_object")
    cert = obj.getpeercert() if obj is not None else None
    if cert and obj is not None:
        protocol.app_state = {**protocol.app_state, "clets_peer_cert": cert,
                              "clets_peer_cert_der": obj.getpeercert(binary_form=True)}


class _OneWrite:
    """The transport of one API connection as uvicorn sees it, with a response's head held
    until its body is written, so the two go out in one write: uvicorn writes the head and
    the body of a response in two ``transport.write`` calls, each a ``send`` (and with TLS
    a record) of its own -- for ``POST /v1/messages`` two system calls where one does.  A
    head is held only until the loop's next turn (``call_soon``), so a streamed response
    (the event stream's) and one without a body (``HEAD``, ``204``) are not held back; a
    close writes it first; everything else is the transport's."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n":  # a head, as uvicorn writes it
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, lines: Any) -> None:
        self.flush()
        self._transport.writelines(lines)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _CertH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        _note_client_cert(self, transport)


class _CertHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (the C parser: about half the API's cost with h11),
    with a bound on a request head: httptools takes header bytes without end (a peer that
    sends 100 MB of one header line is held in memory), so the bytes read while a head is
    incomplete are counted, and past ``head_limit`` the connection gets a 431 and is
    closed."""

    head_limit = 16384
    _in_head = True
    _began = False
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        _note_client_cert(self, transport)
        self.transport = cast(asyncio.Transport, _OneWrite(transport, self.loop))

    def data_received(self, data: bytes) -> None:
        self._began = False
        super().data_received(data)
        if not self._in_head or self._began or self.transport.is_closing():
            # counted after parsing, from the chunk after the one a head began in (how much
            # of that chunk is head is not known): at most one read more than the limit
            return
        self._head_bytes += len(data)
        if self._head_bytes > self.head_limit + 8192:  # the request line, some slack
            body = (b'{"type":"/problems/headers-too-large","title":"Request Header '
                    b'Fields Too Large","status":431}')
            self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                 b"Content-Type: application/problem+json\r\n"
                                 b"Content-Length: " + str(len(body)).encode()
                                 + b"\r\nConnection: close\r\n\r\n" + body)
            self.transport.close()
            self._in_head = False

    def on_message_begin(self) -> None:
        self._in_head, self._began, self._head_bytes = True, True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = False, 0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the daemon owns SIGTERM / SIGINT
        yield


def tls_context(api: ApiConfig) -> ssl.SSLContext:
    """The server context: the links' hardening, a client certificate asked for (and
    verified against ``ca``) but not required."""
    assert api.cert is not None
    ctx = tlsmod.server_context(str(api.cert), str(api.key) if api.key else None,
                                str(api.ca) if api.ca else None, require_client_cert=False)
    if api.ca is not None:
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


class ApiServer:
    """The API's switch links (made before the switch, which is given them) and, once the
    switch runs, its HTTP server."""

    def __init__(self, api: ApiConfig, config: SwitchConfig, hub: EventHub | None = None
                 ) -> None:
        self.api = api
        self.config = config
        self.hub = hub or _hub(api)
        self.links = {codec: ApiLink(self.link_name(codec), codec, self.hub)
                      for codec in API_CODECS}
        self.ctx: ApiContext | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    def link_name(self, codec: str) -> str:
        return self.api.name if codec == "json" else f"{self.api.name}-{codec}"

    def link_configs(self) -> dict[str, LinkConfig]:
        """The switch config's entries of the API's links: origin links that ACK (the ACK
        carries the message number the HTTP response gives).  The json one takes every
        peer's unsolicited messages (``any_peer``): they reach its clients' event streams."""
        return {link.name: LinkConfig(link.name, f"api://{link.name}", codec, "origin",
                                      ack=True, any_peer=codec == "json")
                for codec, link in self.links.items()}

    def given_links(self) -> dict[str, Any]:
        return {link.name: link for link in self.links.values()}

    def with_links(self, config: SwitchConfig) -> SwitchConfig:
        import dataclasses

        return dataclasses.replace(config, links={**config.links, **self.link_configs()})

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    def address(self) -> str:
        host = self.api.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def create(self, switch: Switch) -> ApiContext:
        def resolve(row_id: int) -> int | None:
            try:
                return int(switch.journal.row(row_id).msn)
            except Exception:  # a purged row, a stopped journal: wake by control instead
                return None

        if self.hub.resolve is None:
            self.hub.resolve = resolve
        self.ctx = ApiContext(self.api, switch, self.hub, self.links,
                              Authenticator(self.api, self.config))
        return self.ctx

    async def app(self, switch: Switch, extra_routes: Any = None) -> FastAPI:
        """The app of a running switch, its links started (tests serve it in process)."""
        ctx = self.create(switch)
        for link in self.links.values():  # the switch starts only the links it opened
            await link.start()
        app = create_app(ctx)
        if extra_routes is not None:
            extra_routes(app)
        return app

    async def start(self, switch: Switch, extra_routes: Any = None) -> None:
        """Bind, then serve in this loop (returns once the server accepts connections)."""
        app = await self.app(switch, extra_routes)
        family = socket.AF_INET6 if ":" in self.api.host else socket.AF_INET
        # IPPROTO_TCP named: an accepted socket inherits the listener's proto, and asyncio
        # sets TCP_NODELAY only when it says TCP (``_no_delay`` sets it too)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.api.host, self.api.port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        protocol = type("ApiHttpProtocol", (_CertHttpToolsProtocol,),
                        {"head_limit": self.api.max_header_bytes})
        config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                                http=protocol, ws="none", server_header=False,
                                proxy_headers=False,
                                h11_max_incomplete_event_size=self.api.max_header_bytes,
                                timeout_keep_alive=5, limit_concurrency=MAX_CONNECTIONS)
        config.load()
        config.ssl = None if self.api.plain else tls_context(self.api)
        self._server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve([sock]),
                                                            name="api server")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise OSError("the API server stopped while starting")
            await asyncio.sleep(0.01)

    def metric_families(self, snap: dict[str, Any]) -> list[Any]:
        """The API's families for ``/metrics`` (the daemon adds them at each scrape): the
        hub's counts, and from the switch's snapshot (``snap``: ``Switch.metrics()``) the
        deliveries to API clients still queued (the retry backlog: a webhook that failed
        waits there) and dead-lettered (a delivery fails only when a webhook does: streams
        never refuse one)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        hub = self.hub
        events = CounterMetricFamily("clets_api_events", "Events written to event streams "
                                     "(GET /v1/events), by source: replay (from the journal, "
                                     "after Last-Event-ID) or live", labels=["source"])
        events.add_metric(["replay"], hub.streamed_replay)
        events.add_metric(["live"], hub.streamed_live)
        hooks = CounterMetricFamily("clets_api_webhook_deliveries",
                                    "Webhook POSTs by result: ok (2xx) or failed (retried "
                                    "by [switch.retry], then dead-lettered)", labels=["result"])
        hooks.add_metric(["ok"], hub.webhook_ok)
        hooks.add_metric(["failed"], hub.webhook_failures)
        names = {link.name for link in self.links.values()}
        states = snap.get("queue_states", {})
        backlog = dead = 0
        for target in names:
            st = states.get(target, {})
            backlog += st.get("queued", 0) + st.get("in_flight", 0)
            dead += st.get("dead", 0)
        return [
            GaugeMetricFamily("clets_api_event_streams", "Event streams open (SSE clients "
                              "connected)", value=hub.streams()),
            events,
            CounterMetricFamily("clets_api_deliveries", "Deliveries to API clients published "
                                "(to streams, held requests and webhooks), attempts included",
                                value=hub.published),
            CounterMetricFamily("clets_api_event_streams_overflowed", "Event streams ended "
                                "because their client fell too far behind (it resumes from "
                                "the journal)", value=hub.overflows),
            CounterMetricFamily("clets_api_event_resumes_too_old", "Resumes whose "
                                "Last-Event-ID is older than what the journal retains",
                                value=hub.resumes_too_old),
            hooks,
            GaugeMetricFamily("clets_api_delivery_backlog", "Deliveries to API clients "
                              "queued or in flight in the journal (a failing webhook's "
                              "retries wait here)", value=backlog),
            GaugeMetricFamily("clets_api_webhook_dead_letters", "Deliveries to API clients "
                              "dead-lettered in the journal (a webhook that gave up)",
                              value=dead),
        ]

    async def stop(self) -> None:
        """Stop taking requests (open ones finish, bounded), close the socket."""
        self.hub.close()  # open event streams end (their clients resume from the journal)
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                async with asyncio.timeout(5.0):
                    await self._task
            except TimeoutError:
                self._server.force_exit = True
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        if self._sock is not None:
            self._sock.close()
        for link in self.links.values():
            await link.close()
        self._server = self._task = None


def _hub(api: ApiConfig) -> EventHub:
    """The hub deliveries go to, with the webhooks of the config and of the client store
    (``ClientWebhooks``: a client may get one while the switch runs; the poster opens no
    connection before its first POST)."""
    from .webhook_client import ClientWebhooks, WebhookPoster

    return EventHub(webhooks=ClientWebhooks(api.webhooks, api.clients),
                    poster=WebhookPoster())
