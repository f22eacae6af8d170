"""Links from config URLs, and the one receive shape the engine uses for every transport.

Why the :class:`Received` shape: a TCP server link has many connected peers, and an answer must
go back on the connection its request came on.  Every transport is read as ``(frame, peer,
reply)``; plain links reply with their own ``send``, the TCP server with the connection of the
frame (``clets.adapters.tcp.Inbound.reply``).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clets.adapters.base import Link, LinkState, PeerIdentity
from clets.errors import ConfigError, LinkBusy, LinkError

from .config import LinkConfig, PeerConfig

__all__ = ["Received", "ServerLink", "open_link", "received_frames"]

Reply = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Received:
    """One frame with who sent it and how to answer on the same connection."""

    frame: bytes
    peer: PeerIdentity
    reply: Reply
    #: a stable id the transport gives the message (drop files: ``<sha256>/<index>``)
    message_id: str | None = None
    #: where this peer's later answers go when not to ``reply`` (a link whose ``reply``
    #: answers one request only: the HTTP API's), else None
    answers: Reply | None = None
    #: a message with a ``message_id`` is committed before the next is read (a drop counts
    #: it taken when the next is read); False: it joins the group commit like any other
    #: (the HTTP API's ``Idempotency-Key``: its client waits for the reply anyway)
    pulled: bool = True


class ServerLink:
    """A :class:`~clets.adapters.tcp.TcpServer` seen as a Link (many peers, one name).

    ``send`` without a connection goes to the newest connection of the configured peer (the
    engine normally replies through :class:`Received.reply` or a remembered connection).
    """

    def __init__(self, name: str, server: Any, peer: str | None = None) -> None:
        self.name = name
        self.server = server
        self._peer_name = peer
        self._started = False

    @property
    def state(self) -> LinkState:
        return LinkState.UP if self._started else LinkState.DOWN

    @property
    def peer(self) -> PeerIdentity:
        return PeerIdentity(mnemonic=self._peer_name, method="tls-cert")

    async def start(self) -> None:
        if not self._started:
            await self.server.start()
            self._started = True

    async def send(self, frame: bytes, *, peer: str | None = None,
                   on_lost: Callable[[], None] | None = None) -> None:
        """Send on the newest connection of ``peer`` (default: the link's configured peer);
        LinkBusy (the frame not taken: keep it and try later) when that peer has no
        connection or its connection is full."""
        want = peer or self._peer_name
        # never to a connection that has not authenticated (plain: no whole frame yet)
        links = [lk for lk in self.server.links if lk.state is LinkState.UP
                 and getattr(lk, "authenticated", True)]
        if want is not None:
            # a plain connection names no peer: it is the configured one (as for the frames
            # it sends, engine: ``rx.peer.mnemonic or lk.peer``) -- without this, answers
            # whose request connection closed could never be delivered on a plain link.
            # Another peer's connection is never used: its answers are not its to read
            links = [lk for lk in links if (lk.peer.mnemonic or self._peer_name) == want]
        if not links:
            raise LinkBusy("no connected peer to send to", link=self.name)
        await links[-1].send(frame, on_lost=on_lost)

    async def receive(self) -> bytes:
        inbound = await self.server.receive()
        return bytes(inbound.payload)

    async def frames(self) -> AsyncIterator[bytes]:
        while True:
            yield await self.receive()

    async def received(self) -> AsyncIterator[Received]:
        while True:
            inbound = await self.server.receive()
            yield Received(bytes(inbound.payload), inbound.peer, inbound.reply)

    async def close(self) -> None:
        await self.server.close()
        self._started = False


async def received_frames(link: Link) -> AsyncIterator[Received]:
    """Frames of any link as :class:`Received`; ends when the link closes."""
    multi = getattr(link, "received", None)
    if callable(multi):
        async for item in multi():
            yield item
        return
    while True:
        try:
            frame = await link.receive()
        except LinkError:
            return
        yield Received(frame, link.peer, link.send, getattr(link, "last_message_id", None))


def _module(name: str) -> Any:
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def open_link(cfg: LinkConfig, peers: Mapping[str, PeerConfig] | None = None,
              on_event: Callable[[str, dict[str, Any]], None] | None = None) -> Link:
    """A Link for a config entry.  ``memory://name`` opens the registered memory pair end;
    spool/sftp use their adapters' ``from_url``; TCP builds a server (origin links: peers
    connect to us) or a reconnecting client (destination links).  A transport whose module is
    not installed is a ConfigError ``transport not available``."""
    scheme = cfg.scheme
    if scheme == "memory":
        from clets.adapters.memory import open_memory

        rest = cfg.url.split("://", 1)[1]
        return open_memory(rest.strip("/"))
    modname = {"tcp": "clets.adapters.tcp", "tcp+tls": "clets.adapters.tcp",
               "tls": "clets.adapters.tcp", "serial": "clets.adapters.serial",
               "sftp": "clets.adapters.sftp", "spool": "clets.adapters.spool"}.get(scheme)
    mod = _module(modname) if modname else None
    urlmod = _module("clets.adapters.url")
    if mod is None or urlmod is None:
        raise ConfigError(f"link {cfg.name}: transport not available ({scheme}://)")
    url = _parse_url(cfg, urlmod)
    if scheme in ("tcp", "tcp+tls", "tls") and not hasattr(mod, "from_url"):
        return _tcp(cfg, url, mod, peers or {}, on_event)
    factory = getattr(mod, "from_url", None)
    if factory is None:
        raise ConfigError(f"link {cfg.name}: transport {scheme}:// has no from_url()")
    link: Link = factory(url, name=cfg.name, on_event=on_event)
    return link


def _parse_url(cfg: LinkConfig, urlmod: Any) -> Any:
    """The link's URL parsed (``tls://`` is short for ``tcp+tls://``)."""
    return urlmod.parse_link_url(cfg.url.replace("tls://", "tcp+tls://", 1)
                                 if cfg.scheme == "tls" else cfg.url)


def _tcp(cfg: LinkConfig, url: Any, mod: Any, peers: Mapping[str, PeerConfig],
         on_event: Callable[[str, dict[str, Any]], None] | None) -> Link:
    from clets.adapters import tls as tlsmod

    url.check_params({"framing", "plain", "ca", "cert", "key", "max_frame", "idle_timeout",
                      "frame_timeout", "write_timeout", "server_hostname"}
                     | (mod.SERVER_PARAMS if cfg.role == "origin" else set()))
    options = mod.StreamOptions(
        framing=url.get("framing", "len2"),
        max_frame=url.integer("max_frame", 1 << 20),
        idle_timeout=url.number("idle_timeout", None),
        frame_timeout=url.number("frame_timeout", 30.0),
        write_timeout=url.number("write_timeout", 30.0),
    )
    plain = url.scheme == "tcp"
    if plain and not url.flag("plain"):
        raise ConfigError(f"link {cfg.name}: plain TCP must be asked for explicitly (plain=1)")
    if cfg.role == "origin":
        ctx = None if plain else tlsmod.server_context(url.get("cert"), url.get("key"),
                                                       url.get("ca"))
        peer_map = None
        if not plain:
            peer_map = tlsmod.PeerMap.from_config({
                p.cert_subject: {"mnemonic": p.mnemonic, "oris": sorted(p.oris)}
                for p in peers.values() if p.cert_subject
            })
        server = mod.TcpServer(url.host, url.port, tls=ctx, peers=peer_map, plain=plain,
                               options=options, on_event=on_event, name=cfg.name,
                               **mod.server_limits_from_url(url))
        return ServerLink(cfg.name, server, cfg.peer)
    ctx = None if plain else tlsmod.client_context(url.get("ca"), url.get("cert"),
                                                   url.get("key"))
    client: Link = mod.TcpClient(url.host, url.port, tls=ctx, plain=plain, options=options,
                                 server_hostname=url.get("server_hostname"),
                                 on_event=on_event, name=cfg.name)
    return client


def check_link(cfg: LinkConfig) -> str | None:
    """What would stop this link from opening, found without opening it (``check-config``):
    the URL, its framing, TLS files (loaded, so a key that does not match its certificate is
    found too), SSH key files, drop and serial options.  Nothing is created or connected."""
    import os
    import ssl

    scheme = cfg.scheme
    if scheme == "memory":
        return None
    urlmod = _module("clets.adapters.url")
    if urlmod is None:
        return None
    try:
        url = _parse_url(cfg, urlmod)
        if scheme in ("tcp", "tcp+tls", "tls"):  # serial: SerialConfig checks its framing
            from clets.framing import make_framer

            make_framer(url.get("framing") or "len2")
            if cfg.role == "origin":  # connection limits and deadlines of the listener
                from clets.adapters.tcp import server_limits_from_url

                server_limits_from_url(url)
        if scheme in ("tcp+tls", "tls"):
            from clets.adapters import tls as tlsmod

            if cfg.role == "origin":
                if not url.get("cert"):
                    return f"link {cfg.name}: a TLS listener needs cert= (and key=, ca=)"
                tlsmod.server_context(url.get("cert"), url.get("key"), url.get("ca"))
            else:
                tlsmod.client_context(url.get("ca"), url.get("cert"), url.get("key"))
        elif scheme == "serial":
            serial = _module("clets.adapters.serial")
            if serial is not None:
                port = serial.SerialConfig.from_url(url).port
                if not os.path.exists(port):
                    return f"link {cfg.name}: serial port {port}: no such device"
                if not os.access(port, os.R_OK | os.W_OK):
                    return (f"link {cfg.name}: serial port {port}: no read and write access "
                            "(is the user in group dialout?)")
        elif scheme in ("sftp", "spool"):
            from clets.adapters.drop import DropConfig

            mod = _module(f"clets.adapters.{scheme}")
            names = "SFTP_PARAMS" if scheme == "sftp" else "SPOOL_PARAMS"
            extra: frozenset[str] = getattr(mod, names, frozenset())
            DropConfig.from_params(url.params, extra=extra)
            for key in ("key", "known_hosts"):
                path = url.params.get(key)
                if path and not os.access(path, os.R_OK):
                    return f"link {cfg.name}: {key}={path}: no such readable file"
    except (ConfigError, LinkError, OSError, ssl.SSLError, ValueError) as exc:
        return f"link {cfg.name}: {exc}"
    return None
