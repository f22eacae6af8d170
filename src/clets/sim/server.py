"""Simulated back-ends on TCP: each one listens with its own framing and codec.

The wire side only: frames in (``clets.adapters.tcp.TcpServer`` with a ``clets.framing``
framer), bytes -> canonical message through the codec registry, the pure answer logic of
:mod:`clets.sim.backends`, canonical answers -> bytes, frames out after the simulated latency.

Faults that need a socket live here: an *outage* either refuses connections (the listening
socket is closed, existing connections are cut; connecting gives ``ECONNREFUSED``) or
black-holes them (connections are accepted and read, nothing is ever answered), and is toggled
at run time with :meth:`SimNetwork.set_outage` or the admin line protocol
(``clets sim admin``).  Latency, error, drop and duplicate rates come from
:class:`~clets.sim.backends.Faults`.

Start all back-ends in-process::

    async with SimNetwork(seed=1975, base_port=0) as net:
        host, port = net.address("DMV")
        await net.set_outage("NCIC", True)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from clets.adapters.tcp import Inbound, StreamOptions, TcpServer
from clets.codecs.base import Codec, get_codec
from clets.errors import (
    INVALID_FIELD,
    INVALID_FORMAT,
    MISSING_FIELD,
    CletsError,
    ConfigError,
    DecodeError,
    LinkBusy,
    LinkError,
)
from clets.framing import DEFAULT_MAX_FRAME
from clets.model import Message, clone
from clets.model import replace as model_replace

from .backends import BACKENDS, Backend, Faults, Reply, Responder, make_backend
from .dataset import DEFAULT_SEED, Dataset, generate

__all__ = [
    "ADMIN_OFFSET",
    "PORT_OFFSETS",
    "WIRES",
    "BackendServer",
    "SimNetwork",
    "Wire",
    "answer_bytes",
]

#: Port of each back-end relative to ``base_port`` (``clets sim --port-base N``).
PORT_OFFSETS: dict[str, int] = {"DMV": 0, "NCIC": 1, "WPS": 2, "SVS": 3, "CARPOS": 4, "CCH": 5,
                                "NLETS": 6}
#: Port of the admin line protocol relative to ``base_port``.
ADMIN_OFFSET = 9


@dataclass(frozen=True, slots=True)
class Wire:
    """How a back-end speaks: framing, the codecs it accepts, the encoding of error echoes.

    A request is decoded with the first codec in ``codecs`` that accepts it and answered in
    that same codec, so a switch may talk ``ncic`` text (no control field on inquiries) or
    ``nlets`` text (``*CONTROL.``) to the same simulated file.  ``"dmv"`` stands for the four
    EBCDIC copybook records, chosen per record.
    """

    framing: str
    codecs: tuple[str, ...]
    echo_encoding: str = "latin-1"
    #: options for the codec factories (e.g. {"encoding": "cp037"})
    options: tuple[tuple[str, object], ...] = ()

    @property
    def codec(self) -> str:
        """The main codec (errors about undecodable input are written in it)."""
        return self.codecs[0]


_TEXT = ("ncic", "nlets", "json")
WIRES: dict[str, Wire] = {
    "DMV": Wire("rdw", ("dmv",), "cp037"),
    "NCIC": Wire("len2", _TEXT),
    "WPS": Wire("len2", _TEXT),
    "SVS": Wire("len2", _TEXT),
    "CARPOS": Wire("len2", _TEXT),
    "CCH": Wire("len2", _TEXT),
    "NLETS": Wire("len4", ("niem", "nlets", "json"), "utf-8"),
}

_DMV_DRIVER = ("DLQ1", "DQ", "DQG", "KQ")


class _Codecs:
    """Request and response codecs of one wire, created once (codecs are stateless)."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.dmv = wire.codecs == ("dmv",)
        self._cache: dict[str, Codec] = {}

    def get(self, name: str) -> Codec:
        if name not in self._cache:
            self._cache[name] = get_codec(name, **dict(self.wire.options))
        return self._cache[name]

    def request_codec(self, payload: bytes) -> str:
        """The codec errors about this payload are written in (the DMV record family)."""
        if not self.dmv:
            return self.wire.codecs[0]
        # Both inquiry records are 80 bytes; the search-type byte (offset 23) tells them
        # apart (P/V registration, O/N licence), else the transaction code does.
        head = payload[:24].decode("cp037", "replace")
        if len(head) == 24 and head[23] in "ON":
            return "dmv-dl-request"
        if len(head) == 24 and head[23] in "PV":
            return "dmv-reg-request"
        return "dmv-dl-request" if head[:4].strip() in _DMV_DRIVER else "dmv-reg-request"

    def decode(self, payload: bytes) -> Message:
        """The request, by the first accepting codec; the first codec's error otherwise."""
        names = [self.request_codec(payload)] if self.dmv else self._likely_first(payload)
        first: DecodeError | None = None
        for name in names:
            try:
                return self.get(name).decode(payload)
            except DecodeError as exc:
                first = first or exc
        assert first is not None
        raise first

    def _likely_first(self, payload: bytes) -> list[str]:
        """The wire's codecs, the one whose shape the payload has first (``{`` JSON, ``<``
        XML): no text message starts with either, so the decoded request is the one trying
        them in order gives, without first failing the text decoders on every JSON request
        (the simulators' main cost under load).  Only the error of an undecodable JSON-shaped
        request is now the JSON decoder's."""
        names = list(self.wire.codecs)
        lead = payload.lstrip()[:1]
        shaped = "json" if lead == b"{" else "niem" if lead == b"<" else None
        if shaped in names and names[0] != shaped:
            names.remove(shaped)
            names.insert(0, shaped)
        return names

    def response_codec(self, msg: Message, request_codec: str) -> str:
        if not self.dmv:
            return msg.format if msg.format in self.wire.codecs else self.wire.codecs[0]
        if msg.mke in ("DLR1", "DR", "DQR", "KR", "KQR") or request_codec == "dmv-dl-request":
            return "dmv-dl-response"
        return "dmv-reg-response"


def _echo(payload: bytes, encoding: str) -> str:
    return payload[:400].decode(encoding, "replace")[:100]


_ORI_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")
_TEXT_HEAD = re.compile(r"^[A-Z0-9$\-]{1,4}\.([A-Z]{2}[A-Z0-9]{7})\.(?:[A-Z0-9,]+\.)?"
                        r"(?:\*([^.\n]{1,10})\.)?")


def _salvage(raw: str, dmv: bool) -> tuple[str | None, str | None]:
    """Origin ORI and control read from an undecodable request where its layout allows, so
    that even the ``.22.`` answer can be addressed and correlated."""
    if dmv:
        ori, control = raw[4:13], raw[13:23].strip()
        return (ori if _ORI_RE.fullmatch(ori) else None), (control or None)
    m = _TEXT_HEAD.match(raw)
    return (m.group(1), m.group(2)) if m else (None, None)


def answer_bytes(responder: Responder, codecs: _Codecs, payload: bytes
                 ) -> tuple[Message | None, Reply, list[bytes]]:
    """Decode one request, answer it, encode the answers: (request or None, reply, frames).

    An undecodable request is answered ``.22.`` (or the decoder's own code) with no control,
    because none could be read; the answer is still in the back-end's response format.
    """
    req_codec = codecs.request_codec(payload)
    raw = _echo(payload, codecs.wire.echo_encoding)
    backend = responder.backend
    try:
        req: Message | None = codecs.decode(payload)
    except DecodeError as exc:
        req = None
        origin, control = _salvage(raw, codecs.dmv)
        stub = Message(format=req_codec, mke="RGQ1" if req_codec == "dmv-reg-request"
                       else "DLQ1" if req_codec == "dmv-dl-request" else "QW",
                       origin=origin or backend.ori, control=control)
        code = exc.code or INVALID_FORMAT
        reason = {MISSING_FIELD: f"MISSING MANDATORY FIELD {exc.field or ''}".strip(),
                  INVALID_FIELD: f"INVALID FIELD {exc.field or ''}".strip()}.get(
                      code, "INVALID MESSAGE FORMAT")
        reply = Reply([backend.error(stub, code, reason, raw)])
    else:
        assert req is not None
        reply = responder.handle(req, raw)
    frames = []
    if req is not None:
        req_codec = req.format
    for msg in reply.messages:
        codec = codecs.get(codecs.response_codec(msg, req_codec))
        frame = encode_answer(codec, msg, req, req_codec, backend, raw)
        if frame is not None:
            frames.append(frame)
    return req, reply, frames


def encode_answer(codec: Codec, msg: Message, req: Message | None, req_codec: str,
                   backend: Backend, raw: str) -> bytes | None:
    """The answer's frame, or the closest answer the wire can carry: never silence.

    Text layouts cannot carry everything the model can: an error response there is the error
    alone (no records, e.g. the entry a ``REJECT ON FILE`` found), and a key with no response
    key in ``responses.toml`` (an unknown inquiry key) can only be answered ``ER``, as the
    switch answers its own rejects.
    """
    try:
        return codec.encode(msg)
    except CletsError as exc:
        first = exc
    if msg.error is not None:
        bare = model_replace(msg, records=[], text=None, person=None, vehicle=None, case=None,
                       fields={}, status=None)
        for candidate in (bare, model_replace(bare, mke="ER")):
            with contextlib.suppress(CletsError):
                return codec.encode(candidate)
    # a value our data set holds but the wire cannot carry: say so, do not go silent
    fallback = backend.error(req or Message(format=req_codec, mke=msg.mke), 22,
                             f"SIM CANNOT ENCODE ANSWER: {first}"[:60], raw)
    fallback.mke = msg.mke
    for candidate in (fallback, model_replace(fallback, mke="ER")):
        with contextlib.suppress(CletsError):
            return codec.encode(candidate)
    return None


class BackendServer:
    """One simulated back-end listening on one TCP port."""

    def __init__(self, backend: Backend, *, seed: int = DEFAULT_SEED, host: str = "127.0.0.1",
                 port: int = 0, faults: Faults | None = None, wire: Wire | None = None,
                 max_frame: int = DEFAULT_MAX_FRAME, log_size: int = 10000) -> None:
        self.name = backend.name
        self.backend = backend
        self.responder = Responder(backend, seed=seed, faults=faults or Faults())
        self.wire = wire or WIRES[backend.name]
        self.codecs = _Codecs(self.wire)
        self.host, self.port = host, port
        self.max_frame = max_frame
        #: None (up), "refuse" or "blackhole"
        self.outage: str | None = None
        #: requests decoded, newest last (what a "fake back-end records it executed")
        self.log: deque[Message] = deque(maxlen=log_size)
        self.counts: Counter[str] = Counter()
        self._server: TcpServer | None = None
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def faults(self) -> Faults:
        return self.responder.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self.responder.faults = value

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}?framing={self.wire.framing}&plain=1"

    async def start(self) -> BackendServer:
        if self.outage == "refuse":
            return self
        options = StreamOptions(framing=self.wire.framing, max_frame=self.max_frame,
                                frame_timeout=30.0)
        # the switch connects as a client and may send nothing for long: no first-frame
        # deadline for it (the simulated state switch does not police its one client)
        server = TcpServer(self.host, self.port, plain=True, options=options,
                           name=f"sim-{self.name}", max_per_peer=64, max_per_ip=256,
                           max_connections=512, first_frame_timeout=None)
        await server.start()
        self._server = server
        self.port = server.port  # an ephemeral port stays ours across outages
        self._pump = asyncio.get_running_loop().create_task(self._run(server))
        return self

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stop_listening()

    async def _stop_listening(self) -> None:
        server, pump = self._server, self._pump
        self._server = self._pump = None
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        if server is not None:
            await server.close(timeout=1.0)

    async def set_outage(self, mode: str | None) -> None:
        """``None`` back up; ``"refuse"`` stop listening; ``"blackhole"`` accept, never answer."""
        if mode not in (None, "refuse", "blackhole"):
            raise ConfigError(f"outage mode must be refuse or blackhole, not {mode!r}")
        old, self.outage = self.outage, mode
        if mode == "refuse" and old != "refuse":
            for task in list(self._tasks):
                task.cancel()
            await self._stop_listening()
        elif mode != "refuse" and old == "refuse":
            await self.start()

    async def _run(self, server: TcpServer) -> None:
        while True:
            inbound = await server.receive()
            self.counts["received"] += 1
            if self.outage is not None:
                self.counts["blackholed"] += 1
                continue
            task = asyncio.get_running_loop().create_task(self._answer(inbound))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, inbound: Inbound) -> None:
        req, reply, frames = answer_bytes(self.responder, self.codecs, inbound.payload)
        if req is not None:
            self.log.append(req)
        else:
            self.counts["undecodable"] += 1
        if reply.fault:
            self.counts[reply.fault] += 1
        if reply.delay_s > 0:
            await asyncio.sleep(reply.delay_s)
        if self.outage is not None:  # went down while we "worked"
            self.counts["blackholed"] += 1
            return
        for frame in frames:
            while True:
                try:
                    await inbound.reply(frame)
                    break
                except LinkBusy:
                    # the switch is not reading right now: wait (a server connection refuses
                    # instead of waiting; it is cut after its write deadline if this lasts)
                    await asyncio.sleep(0.01)
                except (LinkError, ConnectionError, OSError):
                    self.counts["reply_lost"] += 1
                    return
            self.counts["answered"] += 1

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "codecs": list(self.wire.codecs),
                "framing": self.wire.framing, "outage": self.outage,
                "faults": {f.name: getattr(self.faults, f.name) for f in fields(Faults)},
                "counts": dict(self.counts)}


class SimNetwork:
    """Every simulated back-end (or the chosen ones) over one shared data set.

    ``base_port=0`` gives each back-end an ephemeral port (tests); otherwise back-end ``NAME``
    listens on ``base_port + PORT_OFFSETS[NAME]``.  The data set is shared, so an ``EW`` entered
    at WPS is answered by a later NCIC ``QW``, as WPS forwards entries to NCIC.
    """

    def __init__(self, *, seed: int = DEFAULT_SEED, base_port: int = 0,
                 host: str = "127.0.0.1", backends: Iterable[str] | None = None,
                 faults: Faults | dict[str, Faults] | None = None,
                 dataset: Dataset | None = None, outages: Iterable[str] = (),
                 outage_mode: str = "refuse", admin: bool = False,
                 max_frame: int = DEFAULT_MAX_FRAME,
                 wires: dict[str, Wire] | None = None) -> None:
        names = [n.upper() for n in (backends or BACKENDS)]
        for n in names:
            if n not in BACKENDS:
                raise ConfigError(f"unknown back-end {n!r}; known: {', '.join(BACKENDS)}")
        self.seed = seed
        self.host = host
        self.base_port = base_port
        self.dataset = dataset if dataset is not None else generate(seed)
        self.servers: dict[str, BackendServer] = {}
        for n in dict.fromkeys(names):
            f = faults.get(n, Faults()) if isinstance(faults, dict) else faults
            self.servers[n] = BackendServer(
                make_backend(n, self.dataset), seed=seed, host=host,
                port=base_port + PORT_OFFSETS[n] if base_port else 0, faults=f,
                max_frame=max_frame, wire=(wires or {}).get(n))
        self._initial_outages = [(n.upper(), outage_mode) for n in outages]
        self.admin_enabled = admin
        self.admin_port: int | None = None
        self._admin: asyncio.Server | None = None

    # ---- lifecycle
    async def start(self) -> SimNetwork:
        try:
            for server in self.servers.values():
                await server.start()
            # Outages asked for at start-up go down after binding, so that a back-end keeps
            # its (possibly ephemeral) port when it comes back and configured URLs stay right.
            for name, mode in self._initial_outages:
                await self._server(name).set_outage(mode)
            if self.admin_enabled:
                port = self.base_port + ADMIN_OFFSET if self.base_port else 0
                self._admin = await asyncio.start_server(self._admin_client, self.host, port)
                self.admin_port = int(self._admin.sockets[0].getsockname()[1])
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._admin.wait_closed(), 1.0)
            self._admin = None
        await asyncio.gather(*(s.close() for s in self.servers.values()),
                             return_exceptions=True)

    async def __aenter__(self) -> SimNetwork:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- queries
    def _server(self, name: str) -> BackendServer:
        try:
            return self.servers[name.upper()]
        except KeyError:
            raise ConfigError(f"back-end {name!r} is not running here; running: "
                              f"{', '.join(self.servers)}") from None

    def address(self, name: str) -> tuple[str, int]:
        s = self._server(name)
        return s.host, s.port

    def url(self, name: str) -> str:
        """Link URL for the switch config: ``tcp://127.0.0.1:7400?framing=rdw&plain=1``."""
        return self._server(name).url

    def wire(self, name: str) -> Wire:
        return self._server(name).wire

    def log(self, name: str) -> list[Message]:
        """Requests the back-end has decoded (and executed), oldest first."""
        return list(self._server(name).log)

    def status(self) -> list[dict[str, Any]]:
        return [s.status() for s in self.servers.values()]

    # ---- run-time faults
    async def set_outage(self, name: str, down: bool, mode: str = "refuse") -> None:
        """Take a back-end down (``refuse`` connections or ``blackhole`` them) or back up."""
        await self._server(name).set_outage(mode if down else None)

    def set_faults(self, name: str, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace a back-end's faults, or change some: ``set_faults("DMV", latency_ms=50)``."""
        server = self._server(name)
        server.faults = replace(faults or server.faults, **changes)
        return server.faults

    # ---- admin line protocol (clets sim admin)
    async def admin_command(self, line: str) -> str:
        """One admin command; returns one line starting ``OK`` or ``ERR``.

        ``outage NAME on|off|refuse|blackhole``, ``faults NAME|ALL key=value ...``
        (keys of :class:`Faults`), ``status``, ``help``.
        """
        words = line.split()
        if not words:
            return "ERR empty command"
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd == "outage" and len(args) == 2:
                state = args[1].lower()
                if state not in ("on", "off", "refuse", "blackhole"):
                    return "ERR outage state must be on, off, refuse or blackhole"
                mode = "refuse" if state == "on" else state
                await self.set_outage(args[0], state != "off", mode)
                return f"OK {args[0].upper()} {'up' if state == 'off' else 'down (' + mode + ')'}"
            if cmd == "faults" and args:
                targets = list(self.servers) if args[0].upper() == "ALL" else [args[0]]
                changes = _parse_faults(args[1:])
                for t in targets:
                    self.set_faults(t, **changes)
                return f"OK {' '.join(t.upper() for t in targets)} " + " ".join(args[1:])
            if cmd == "status":
                parts = []
                for s in self.servers.values():
                    state = f"down({s.outage})" if s.outage else "up"
                    parts.append(f"{s.name}={state}:{s.port}:{s.counts['answered']}")
                return "OK " + " ".join(parts)
            if cmd == "help":
                return ("OK outage NAME on|off|refuse|blackhole; faults NAME|ALL latency_ms=N "
                        "jitter_ms=N error_rate=R drop_rate=R duplicate_rate=R error_code=N; "
                        "status")
        except CletsError as exc:
            return f"ERR {exc}"
        return f"ERR unknown command {line.strip()[:60]!r} (try help)"

    async def _admin_client(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await asyncio.wait_for(reader.readline(), 300)
                if not line:
                    break
                answer = await self.admin_command(line.decode("utf-8", "replace"))
                writer.write(answer.encode() + b"\n")
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def _parse_faults(pairs: list[str]) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(Faults)}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in types or not value:
            raise ConfigError(f"bad fault setting {pair!r}; keys: {', '.join(types)}")
        kind = str(types[key])
        try:
            out[key] = int(value) if kind == "int" else value if kind == "str" else float(value)
        except ValueError:
            raise ConfigError(f"bad value in {pair!r}") from None
    return out


def answer_offline(backend_name: str, msg: Message, *, seed: int = DEFAULT_SEED,
                   dataset: Dataset | None = None) -> list[Message]:
    """Answer one canonical message without a network (``clets sim query``)."""
    backend = make_backend(backend_name, dataset if dataset is not None else generate(seed))
    return [clone(m) for m in backend.answer(msg)]
