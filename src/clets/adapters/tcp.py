"""Framed TCP links (TLS by default): a server that accepts many peers and a reconnecting client.

Guarantee: a link delivers *whole frames only*, in order, at most once per connection.  A frame
handed to :meth:`StreamLink.send` is in the kernel or the TLS buffer, not at the peer: if the
connection dies, frames in flight may be lost.  At-least-once comes from the layer above (the
switch journal resends anything the peer has not acknowledged at the application level, and
suppresses duplicates), so links never retransmit on their own.

Limits (spec/switch.md "Security defaults", reliability.md 4.4): maximum frame size (checked on
the length prefix, before buffering), a TLS handshake deadline, an idle timeout (nothing
received), a whole-frame deadline once a frame has started (slowloris), a write deadline (peer
not reading), maximum connections in total, per source IP and per authenticated peer.  Every
refusal and cut-off is reported to the ``on_event(name, details)`` hook for the audit trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import socket
import ssl
import struct
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from clets.adapters.base import FramesUntilClosed, LinkState, PeerIdentity, defer_write
from clets.adapters.tls import PeerMap, cert_names, session_info, subject_text
from clets.adapters.url import LinkURL
from clets.errors import ConfigError, LinkBusy, LinkError
from clets.framing import DEFAULT_MAX_FRAME, BadFrame, Frame, Framer, make_framer

__all__ = [
    "Backoff",
    "EventHook",
    "Inbound",
    "StreamLink",
    "StreamOptions",
    "TcpClient",
    "TcpServer",
    "client_from_url",
    "options_from_url",
    "raise_fd_limit",
    "server_limits_from_url",
]

#: ``on_event(name, details)``: called for connects, refusals, auth failures, cut-offs.
EventHook = Callable[[str, dict[str, Any]], None]
#: turns a received payload into the item put on a shared inbox (e.g. an ``Inbound``)
Wrap = Callable[["StreamLink", bytes], Any]

_READ_CHUNK = 256 * 1024
_WRITE_HIGH_WATER = 256 * 1024
#: unsent bytes one server connection may hold (``StreamOptions.write_buffer``)
DEFAULT_WRITE_BUFFER = 256 * 1024
#: frames sent with ``on_lost`` between two checks of what the peer has acknowledged
_PRUNE_EVERY = 256
#: seconds between two looks at a full connection's buffer (only while it is full)
_WATCH_POLL = 0.05


def _no_event(name: str, details: dict[str, Any]) -> None:
    pass


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Per-connection behaviour shared by servers, clients and serial stream links."""

    framing: str = "len2"
    max_frame: int = DEFAULT_MAX_FRAME
    #: send ``heartbeat`` after this many seconds without sending anything (None: never)
    heartbeat_interval: float | None = None
    #: the heartbeat frame; received frames equal to it are link-level and never delivered
    heartbeat: bytes | None = None
    #: cut the connection when nothing at all arrives for this long (half-open, black hole)
    idle_timeout: float | None = None
    #: a frame that has started must be complete within this long (slowloris)
    frame_timeout: float | None = 30.0
    #: a send that cannot reach the kernel within this long breaks the link (peer not reading)
    write_timeout: float = 30.0
    #: received frames buffered before the reader stops reading (TCP back-pressure)
    inbox_size: int = 1024
    #: bytes a server connection may hold unsent (its peer not reading); past it ``send``
    #: raises LinkBusy at once, and the connection is cut after ``write_timeout``
    write_buffer: int = DEFAULT_WRITE_BUFFER

    def framer(self) -> Framer:
        return make_framer(self.framing, self.max_frame)


@dataclass
class Backoff:
    """Exponential reconnect delays with jitter; ``random`` and ``sleep`` are injectable."""

    initial: float = 0.1
    max: float = 30.0
    factor: float = 2.0
    #: +/- fraction of the delay drawn at random, so that many clients do not reconnect in step
    jitter: float = 0.2
    #: a connection that lived this long resets the delay to ``initial``
    reset_after: float = 10.0
    random: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def delay(self, attempt: int) -> float:
        base = min(self.max, self.initial * self.factor ** min(attempt, 64))
        spread = base * self.jitter * (2.0 * self.random() - 1.0)
        return max(0.0, min(self.max, base + spread))


T = TypeVar("T")


class InboxClosed(Exception):
    """Raised by :meth:`Inbox.get` once the inbox is closed and empty (internal)."""


class Inbox(Generic[T]):
    """A bounded FIFO for received frames that can be closed.

    Cheaper than :class:`asyncio.Queue` on the per-frame path (one deque operation when items
    are waiting) and closable, so receivers learn that a link ended without sentinels.
    ``put_nowait`` never refuses; the reader checks :meth:`full` and awaits :meth:`put` for
    back-pressure.
    """

    __slots__ = ("_getters", "_items", "_putters", "closed", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self._items: deque[T] = deque()
        self.maxsize = max(1, maxsize)
        self._getters: deque[asyncio.Future[None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self.closed = False

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return len(self._items) >= self.maxsize

    @staticmethod
    def _wake(waiters: deque[asyncio.Future[None]]) -> None:
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        if self._getters:
            self._wake(self._getters)

    async def put(self, item: T) -> None:
        while len(self._items) >= self.maxsize and not self.closed:
            fut = asyncio.get_running_loop().create_future()
            self._putters.append(fut)
            await fut
        self.put_nowait(item)

    async def get(self) -> T:
        while not self._items:
            if self.closed:
                raise InboxClosed
            fut = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and self._items:
                    self._wake(self._getters)  # pass the wake-up on
                raise
        item = self._items.popleft()
        if self._putters and len(self._items) < self.maxsize:
            self._wake(self._putters)
        return item

    def close(self) -> None:
        self.closed = True
        for waiters in (self._getters, self._putters):
            while waiters:
                fut = waiters.popleft()
                if not fut.done():
                    fut.set_result(None)


class StreamLink(FramesUntilClosed):
    """One framed connection over an asyncio stream pair (TCP, TLS, or a serial port).

    Implements :class:`clets.adapters.base.Link`.  Received frames go to the link's own queue
    (``receive``/``frames``) or, when ``inbox`` is given, to a shared queue (a server's
    aggregated queue, a reconnecting client's queue), each payload passed through ``wrap``.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        name: str,
        peer: PeerIdentity,
        options: StreamOptions | None = None,
        on_event: EventHook | None = None,
        inbox: Inbox[Any] | None = None,
        wrap: Wrap | None = None,
        framer: Framer | None = None,
        first_frame_timeout: float | None = None,
        on_first_frame: Callable[[], None] | None = None,
        bounded: bool = False,
        raw_transport: asyncio.WriteTransport | None = None,
    ) -> None:
        self.name = name
        self.options = options or StreamOptions()
        self._reader, self._writer = reader, writer
        self._peer = peer
        self._framer = framer or self.options.framer()
        self._emit = on_event or _no_event
        self._shared = inbox
        self._wrap = wrap
        self._inbox: Inbox[bytes] = Inbox(self.options.inbox_size)
        self._state = LinkState.CONNECTING
        self._closed = asyncio.Event()
        self._done = False
        self._tasks: list[asyncio.Task[None]] = []
        self._last_tx = time.monotonic()
        self._wbuf: list[bytes] = []
        self._wbytes = 0
        self._flush_scheduled = False
        self.error: str | None = None
        self.frames_in = 0
        self.frames_out = 0
        #: a connection that has not authenticated (plain server link, no whole frame yet)
        #: is cut when no whole frame arrives within this long after it was accepted
        self._first_frame_by = (time.monotonic() + first_frame_timeout
                                if first_frame_timeout else None)
        self._on_first_frame = on_first_frame
        #: server connections: ``send`` never waits; past ``write_buffer`` it refuses
        self._bounded = bounded
        #: the TCP transport under a TLS one (its buffer holds ciphertext we sent)
        self._raw = raw_transport
        self._watchdog: asyncio.Task[None] | None = None
        #: bytes handed to ``send`` so far, and the frames sent with ``on_lost`` that the
        #: peer's TCP may not have acknowledged yet: (end offset, callback)
        self._queued = 0
        self._tracked: deque[tuple[int, Callable[[], None]]] = deque()
        self._since_prune = 0

    # --- Link protocol -----------------------------------------------------------------
    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def peer(self) -> PeerIdentity:
        return self._peer

    @property
    def authenticated(self) -> bool:
        """False for a plain server connection until its first whole frame (nothing may be
        sent to it in a configured peer's name before it has shown it speaks the framing)."""
        return self._first_frame_by is None and self._on_first_frame is None

    @property
    def tls(self) -> dict[str, Any]:
        """TLS version, cipher and peer certificate subject (empty for plain links)."""
        obj = self._writer.get_extra_info("ssl_object")
        return session_info(obj) if obj is not None else {}

    def start(self) -> StreamLink:
        loop = asyncio.get_running_loop()
        self._state = LinkState.UP
        self._tasks.append(loop.create_task(self._read_loop(), name=f"{self.name}-read"))
        if self.options.heartbeat_interval:
            self._tasks.append(loop.create_task(self._heartbeat_loop(), name=f"{self.name}-hb"))
        return self

    @property
    def buffered(self) -> int:
        """Bytes sent but still held in this process (not yet taken by the kernel); over
        TLS also the ciphertext waiting in the TCP transport below it."""
        held = self._wbytes + self._writer.transport.get_write_buffer_size()
        raw = self._raw
        if raw is not None and raw is not self._writer.transport:
            held += raw.get_write_buffer_size()
        return held

    async def send(self, frame: bytes, *, on_lost: Callable[[], None] | None = None) -> None:
        """Queue one frame for the transport.

        Frames sent in the same event-loop turn are written together (one TLS record, one
        syscall) at the end of the turn -- batching without added latency.  Above the high-water
        mark ``send`` waits for the transport to drain (back-pressure, write deadline).

        A server connection (``bounded``) never waits: it holds at most
        ``options.write_buffer`` bytes (plus the frame that crossed it); past that ``send``
        raises :class:`LinkBusy` without taking the frame, and the connection is cut if it has
        not drained below a quarter of the bound within ``write_timeout``.  ``on_lost`` is
        called if the connection ends abnormally before the peer's TCP acknowledged the whole
        frame (the switch then queues the answer again: at least once).
        """
        if self._state is not LinkState.UP or self._writer.transport.is_closing():
            raise LinkError(self.error or "link is not up", link=self.name, peer=self._who())
        if self._bounded and self._full():
            self._watch_writes()
            raise LinkBusy(f"write buffer full: {self.buffered} bytes not taken by the peer "
                           f"(write_buffer={self.options.write_buffer})",
                           link=self.name, peer=self._who())
        data = self._framer.encode(frame)  # FrameTooLong / EncodeError: the caller's mistake
        self._wbuf.append(data)
        self._wbytes += len(data)
        self._queued += len(data)
        self.frames_out += 1
        if on_lost is not None:
            self._tracked.append((self._queued, on_lost))
            self._since_prune += 1
            if self._since_prune >= _PRUNE_EVERY:
                self._prune_tracked()
        if self._bounded:
            if self.buffered > self.options.write_buffer:
                self._flush()  # hand it to the kernel now: it may take it all
                if self._full():
                    self._watch_writes()
            elif not self._flush_scheduled:
                self._flush_scheduled = True
                defer_write(id(self), self._flush)
            return
        if self._wbytes > _WRITE_HIGH_WATER:
            self._flush()
            if self._writer.transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
                await self._drain()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            defer_write(id(self), self._flush)

    def _full(self) -> bool:
        return self.buffered > self.options.write_buffer

    def _watch_writes(self) -> None:
        """Start the write deadline of a full connection (once): cut it unless it drains."""
        if self._watchdog is None and self._state is LinkState.UP:
            self._watchdog = asyncio.get_running_loop().create_task(
                self._write_deadline(), name=f"{self.name}-write-deadline")
            self._tasks.append(self._watchdog)

    async def _write_deadline(self) -> None:
        """Cut the connection unless what it holds drains to a quarter of the bound within
        ``write_timeout``.  Polls (only while the connection is full): over TLS the bytes sit
        in two transports, and no single drain() covers both."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.write_timeout
        low = self.options.write_buffer // 4
        self._flush()
        while self.buffered > low:
            if self._state is not LinkState.UP or self._writer.transport.is_closing():
                self._watchdog = None
                return  # the read loop reports how it ended
            if loop.time() >= deadline:
                self._watchdog = None
                held = self.buffered
                await self._break(
                    f"peer is not reading: {held} bytes unsent after the write deadline "
                    f"({self.options.write_timeout:g} s)", "write_timeout", buffered=held)
                return
            await asyncio.sleep(_WATCH_POLL)
        self._watchdog = None

    def _unacked_in_kernel(self) -> int:
        """Bytes the kernel still holds for the peer (not acknowledged by its TCP): SIOCOUTQ
        on Linux; elsewhere the send buffer's size, an upper bound."""
        sock = self._writer.get_extra_info("socket")
        if sock is None:
            return 0
        try:
            import fcntl
            import termios

            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            return int(struct.unpack("i", raw)[0])
        except (ImportError, OSError, ValueError, AttributeError):
            with contextlib.suppress(OSError, ValueError):
                return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
            return 0

    def _acknowledged(self) -> int:
        """Offset up to which the peer's TCP has acknowledged what we sent (for TLS the
        kernel counts ciphertext, larger than the plaintext: an underestimate, so frames
        are called lost rather than delivered when in doubt)."""
        return self._queued - self.buffered - self._unacked_in_kernel()

    def _prune_tracked(self) -> None:
        self._since_prune = 0
        if not self._tracked:
            return
        done = self._acknowledged()
        while self._tracked and self._tracked[0][0] <= done:
            self._tracked.popleft()

    def _report_lost(self) -> None:
        """The connection is ending abnormally: every tracked frame the peer's TCP has not
        acknowledged is reported lost (call before the socket is closed)."""
        if not self._tracked:
            return
        try:
            done = self._acknowledged()
        except Exception:
            done = -1
        tracked, self._tracked = self._tracked, deque()
        for end, on_lost in tracked:
            if end > done:
                with contextlib.suppress(Exception):
                    on_lost()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._wbuf:
            data = self._wbuf[0] if len(self._wbuf) == 1 else b"".join(self._wbuf)
            self._wbuf.clear()
            self._wbytes = 0
            self._last_tx = time.monotonic()
            if not self._writer.transport.is_closing():
                self._writer.write(data)

    async def receive(self) -> bytes:
        try:
            return await self._inbox.get()
        except InboxClosed:
            raise LinkError(
                self.error or "link closed", link=self.name, peer=self._who()
            ) from None

    async def close(self, *, abort: bool = False, timeout: float = 5.0) -> None:
        """Flush what was sent, then close (``abort``: drop at once, with RST for TCP)."""
        if self._state is LinkState.CLOSED:
            await self._closed.wait()
            return
        self._state = LinkState.CLOSED
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        w = self._writer
        if abort:
            self._report_lost()
            self._wbuf.clear()
            w.transport.abort()
        else:
            self._flush()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(timeout):
                    await w.drain()
            w.close()
            try:
                async with asyncio.timeout(timeout):
                    await w.wait_closed()
            except Exception:
                self._report_lost()  # it could not hand everything over: what it still held
                w.transport.abort()
        self._finish()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # --- internals ------------------------------------------------------------------------
    def _who(self) -> str | None:
        return self._peer.mnemonic or self._peer.detail

    def _finish(self) -> None:
        self._done = True
        self._inbox.close()
        self._closed.set()

    def _event(self, name: str, **details: Any) -> None:
        details.setdefault("link", self.name)
        details.setdefault("peer", self._who())
        try:
            self._emit(name, details)
        except Exception:  # an audit hook bug must not take the link down silently
            pass

    async def _break(self, reason: str, event: str, **details: Any) -> None:
        self.error = reason
        self._event(event, reason=reason, **details)
        if self._state is not LinkState.CLOSED:
            self._state = LinkState.DOWN
        await self.close(abort=True)

    async def _drain(self) -> None:
        self._flush()
        try:
            async with asyncio.timeout(self.options.write_timeout):
                await self._writer.drain()
        except TimeoutError:
            await self._break("peer is not reading (write deadline passed)", "write_timeout")
            raise LinkError(
                self.error or "write timeout", link=self.name, peer=self._who()
            ) from None
        except (ConnectionError, OSError) as exc:
            await self._break(f"connection lost while sending: {exc}", "connection_lost")
            raise LinkError(
                self.error or "connection lost", link=self.name, peer=self._who()
            ) from None

    def cut(self, reason: str, event: str, **details: Any) -> None:
        """Cut the connection now (RST), from outside its tasks: the server's budget of
        unauthenticated connections cuts its oldest member this way."""
        if self._state is LinkState.CLOSED:
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._break(reason, event, **details))
        self._tasks.append(task)  # referenced until the link is closed

    def _first_frame(self) -> None:
        """The first whole frame: a plain connection counts as authenticated from now on."""
        self._first_frame_by = None
        hook, self._on_first_frame = self._on_first_frame, None
        if hook is not None:
            hook()

    def _deadline(self, last_rx: float, frame_started: float | None) -> float | None:
        opts, loop_now, now = self.options, asyncio.get_running_loop().time(), time.monotonic()
        cands = []
        if self._first_frame_by is not None:
            cands.append(self._first_frame_by)
        if opts.idle_timeout:
            cands.append(last_rx + opts.idle_timeout)
        if frame_started is not None and opts.frame_timeout:
            cands.append(frame_started + opts.frame_timeout)
        return (min(cands) - now + loop_now) if cands else None


    async def _read_loop(self) -> None:
        framer, reader, hb = self._framer, self._reader, self.options.heartbeat
        queue: Inbox[Any] = self._shared if self._shared is not None else self._inbox
        wrap = self._wrap
        last_rx = time.monotonic()
        frame_started: float | None = None
        try:
            while True:
                deadline = self._deadline(last_rx, frame_started)
                try:
                    if deadline is None:
                        data = await reader.read(_READ_CHUNK)
                    else:
                        async with asyncio.timeout_at(deadline):
                            data = await reader.read(_READ_CHUNK)
                except TimeoutError:
                    if self._first_frame_by is not None and \
                            time.monotonic() >= self._first_frame_by:
                        await self._break(
                            "no whole frame within the first-frame deadline "
                            "(unauthenticated connection)", "first_frame_timeout",
                            pending=framer.pending)
                    elif frame_started is not None and framer.pending:
                        await self._break(
                            "frame not completed within the frame deadline",
                            "frame_timeout",
                            pending=framer.pending,
                        )
                    else:
                        await self._break("nothing received within the idle timeout",
                                          "idle_timeout")
                    return
                if not data:
                    if framer.pending:
                        self._event("truncated_frame", pending=framer.pending,
                                    reason="connection ended inside a frame")
                    self.error = "peer closed the connection"
                    self._event("disconnected", reason=self.error)
                    break
                last_rx = time.monotonic()
                for ev in framer.feed(data):
                    if type(ev) is Frame:
                        if self._first_frame_by is not None or \
                                self._on_first_frame is not None:
                            self._first_frame()
                        if hb is not None and ev.payload == hb:
                            continue
                        self.frames_in += 1
                        item = ev.payload if wrap is None else wrap(self, ev.payload)
                        if queue.full():
                            await queue.put(item)  # back-pressure: stop reading
                        else:
                            queue.put_nowait(item)
                    elif isinstance(ev, BadFrame):
                        self._event("bad_frame", kind=ev.kind, reason=ev.reason,
                                    offset=ev.offset, framing=ev.framing)
                        if ev.fatal:
                            await self._break(f"framing lost: {ev.reason}", "framing_error",
                                              offset=ev.offset)
                            return
                frame_started = (frame_started or last_rx) if framer.pending else None
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            self.error = f"connection lost: {exc}"
            self._event("connection_lost", reason=self.error)
        if self._state is not LinkState.CLOSED:
            self._state = LinkState.DOWN
            self._report_lost()
            self._writer.transport.abort()
        self._finish()

    async def _heartbeat_loop(self) -> None:
        interval = self.options.heartbeat_interval or 0.0
        payload = self.options.heartbeat if self.options.heartbeat is not None else b""
        while self._state is LinkState.UP:
            wait = self._last_tx + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self.send(payload)
                self.frames_out -= 1
                self._last_tx = time.monotonic()  # the flush comes later in this turn
            except LinkError:
                return

    def __repr__(self) -> str:
        return f"<StreamLink {self.name} {self._state.value} peer={self._who()}>"


# --------------------------------------------------------------------------------------------


class Inbound:
    """A frame received by a server, with the connection it came on (to reply on)."""

    __slots__ = ("link", "payload")

    def __init__(self, link: StreamLink, payload: bytes) -> None:
        self.link = link
        self.payload = payload

    def __repr__(self) -> str:
        return f"Inbound({self.link.name}, {len(self.payload)} bytes)"

    @property
    def peer(self) -> PeerIdentity:
        return self.link.peer

    async def reply(self, frame: bytes, *, on_lost: Callable[[], None] | None = None) -> None:
        await self.link.send(frame, on_lost=on_lost)


#: server defaults sized for a state switch: 800+ agencies with several terminals each
DEFAULT_MAX_CONNECTIONS = 10_000
#: connections that have not authenticated yet (TLS handshake unfinished, plain: no whole
#: frame yet); when full, the oldest of them is cut for the newcomer
DEFAULT_MAX_UNAUTHENTICATED = 1_000
#: unauthenticated connections from one address (authenticated ones count per peer)
DEFAULT_MAX_PER_IP = 32
DEFAULT_MAX_PER_PEER = 64
#: a plain connection must deliver its first whole frame (a heartbeat will do) within this
DEFAULT_FIRST_FRAME_TIMEOUT = 30.0
#: listen() backlog: a burst of connects waits in the kernel instead of being dropped (the
#: kernel caps it at net.core.somaxconn)
_BACKLOG = 4096
#: file descriptors kept free for the journal, logs, captures and outgoing links
_FD_RESERVE = 256

log = logging.getLogger("clets.adapters.tcp")


@dataclass
class _Limits:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_per_ip: int = DEFAULT_MAX_PER_IP
    max_per_peer: int = DEFAULT_MAX_PER_PEER
    max_unauthenticated: int = DEFAULT_MAX_UNAUTHENTICATED


class _Unauthenticated:
    """One connection in the unauthenticated budget (its writer, and its link once made)."""

    __slots__ = ("gone", "ip", "link", "where", "writer")

    def __init__(self, ip: str, where: str, writer: asyncio.StreamWriter) -> None:
        self.ip, self.where, self.writer = ip, where, writer
        self.link: StreamLink | None = None
        #: out of the budget (authenticated, closed, or cut as the oldest)
        self.gone = False


def raise_fd_limit(wanted: int) -> tuple[int, int]:
    """Raise this process's RLIMIT_NOFILE soft limit toward the hard limit (at most
    ``wanted``): every connection is a file descriptor, and the usual soft limit (1024) would
    refuse connections long before the configured maximum.  Returns (soft, hard) after."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return (-1, -1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit", extra={
                "event": "fd_limit", "soft": soft, "hard": hard, "wanted": target,
                "reason": str(exc)})
    return soft, hard


class TcpServer:
    """Listens, authenticates each peer (mutual TLS), and hands out frames with their link.

    ``aggregate=True`` (the switch's mode): every frame from every connection arrives through
    :meth:`receive` as an :class:`Inbound` carrying the peer identity and a ``reply``.
    ``aggregate=False``: :meth:`accept` returns each new connection as its own link.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: ssl.SSLContext | None = None,
        peers: PeerMap | None = None,
        plain: bool = False,
        options: StreamOptions | None = None,
        handshake_timeout: float = 10.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_per_ip: int = DEFAULT_MAX_PER_IP,
        max_per_peer: int = DEFAULT_MAX_PER_PEER,
        max_unauthenticated: int | None = None,
        first_frame_timeout: float | None = DEFAULT_FIRST_FRAME_TIMEOUT,
        write_buffer: int | None = None,
        aggregate: bool = True,
        on_event: EventHook | None = None,
        name: str = "tcp-server",
    ) -> None:
        if tls is None and not plain:
            raise ConfigError(f"{name}: no TLS context; plain TCP only with plain=True (plain=1)")
        if tls is not None and plain:
            raise ConfigError(f"{name}: both a TLS context and plain=True given")
        if tls is not None and (peers is None or len(peers) == 0):
            raise ConfigError(f"{name}: TLS server needs a peer map (certificate -> mnemonic)")
        self.host, self._port, self.name = host, port, name
        self.tls, self.peers = tls, peers
        self.options = options or StreamOptions()
        if write_buffer is not None:  # unsent bytes one connection may hold (slow readers)
            if write_buffer < 1:
                raise ConfigError(f"{name}: write_buffer must be at least 1, not {write_buffer}")
            self.options = dataclasses.replace(self.options, write_buffer=write_buffer)
        self.handshake_timeout = handshake_timeout
        if max_unauthenticated is None:
            max_unauthenticated = min(DEFAULT_MAX_UNAUTHENTICATED, max_connections)
        elif max_unauthenticated > max_connections:
            raise ConfigError(f"{name}: max_unauthenticated ({max_unauthenticated}) is above "
                              f"max_connections ({max_connections})")
        for what, n in (("max_connections", max_connections), ("max_per_ip", max_per_ip),
                        ("max_per_peer", max_per_peer),
                        ("max_unauthenticated", max_unauthenticated)):
            if n < 1:
                raise ConfigError(f"{name}: {what} must be at least 1, not {n}")
        self.limits = _Limits(max_connections, max_per_ip, max_per_peer, max_unauthenticated)
        #: plain links only: TLS connections authenticate in the handshake (its own deadline)
        self.first_frame_timeout = first_frame_timeout
        self.aggregate = aggregate
        self._emit = on_event or _no_event
        self._server: asyncio.Server | None = None
        self._inbox: Inbox[Inbound] = Inbox(self.options.inbox_size)
        self._accepted: asyncio.Queue[StreamLink] = asyncio.Queue()
        self._links: set[StreamLink] = set()
        #: every connection held (authenticated or not); the unauthenticated ones, oldest first
        self._total = 0
        self._unauth: OrderedDict[int, _Unauthenticated] = OrderedDict()
        self._per_ip: Counter[str] = Counter()
        self._per_peer: Counter[str] = Counter()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._seq = 0
        self._closing = False

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def links(self) -> list[StreamLink]:
        return sorted(self._links, key=lambda link: link.name)

    @property
    def unauthenticated(self) -> int:
        """Connections held that have not authenticated yet."""
        return len(self._unauth)

    @property
    def connections(self) -> int:
        """Every connection held (authenticated or not)."""
        return self._total

    def _check_fd_limit(self) -> None:
        """Raise the open-file limit for ``max_connections``; when it stays too low, hold
        only as many connections as it allows (so the budgets, not a failing accept(), decide
        who is cut) and log it."""
        wanted = self.limits.max_connections + _FD_RESERVE
        soft, hard = raise_fd_limit(wanted)
        if 0 <= soft < wanted:
            possible = max(1, soft - _FD_RESERVE)
            log.warning(
                "open-file limit below what max_connections needs: this listener holds "
                "fewer connections (raise LimitNOFILE= / ulimit -n)",
                extra={"event": "fd_limit", "link": self.name, "soft": soft, "hard": hard,
                       "wanted": wanted, "max_connections": self.limits.max_connections,
                       "connections_possible": possible})
            self.limits.max_connections = min(self.limits.max_connections, possible)
            self.limits.max_unauthenticated = min(self.limits.max_unauthenticated, possible)

    async def start(self) -> TcpServer:
        self._check_fd_limit()
        try:
            self._server = await asyncio.start_server(
                self._handle, self.host, self._port, limit=_READ_CHUNK, backlog=_BACKLOG
            )
        except OSError as exc:
            raise LinkError(f"cannot listen on {self.host}:{self._port}: {exc}",
                            link=self.name) from None
        self._event("listening", address=f"{self.host}:{self.port}", tls=self.tls is not None)
        return self

    async def __aenter__(self) -> TcpServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def receive(self) -> Inbound:
        if self.aggregate is False:
            raise ConfigError(f"{self.name}: receive() needs aggregate=True; use accept()")
        try:
            return await self._inbox.get()
        except InboxClosed:
            raise LinkError("server closed", link=self.name) from None

    async def accept(self) -> StreamLink:
        if self.aggregate:
            raise ConfigError(f"{self.name}: accept() needs aggregate=False; use receive()")
        return await self._accepted.get()

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, flush every connection's writes, then close them."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        links = list(self._links)
        await asyncio.gather(*(link.close(timeout=timeout) for link in links),
                             return_exceptions=True)
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._server.wait_closed()
        self._inbox.close()  # receive() drains what arrived, then raises LinkError
        self._event("stopped")

    # --- internals ------------------------------------------------------------------------
    def _event(self, name: str, **details: Any) -> None:
        details.setdefault("link", self.name)
        try:
            self._emit(name, details)
        except Exception:
            pass

    def _admit(self, ip: str, where: str) -> bool:
        """Room for one more connection?  A full unauthenticated budget (or a full server
        holding unauthenticated connections) cuts the OLDEST unauthenticated connection: an
        idle flood can then delay a newcomer by at most its own deadline, and never locks
        out a peer.  Only the per-address limit and a server full of authenticated
        connections refuse the newcomer."""
        if self._per_ip[ip] >= self.limits.max_per_ip:
            self._event("connection_refused", address=where,
                        reason=f"more than {self.limits.max_per_ip} unauthenticated "
                               "connections from this address")
            return False
        if len(self._unauth) >= self.limits.max_unauthenticated:
            self._cut_oldest(f"budget of {self.limits.max_unauthenticated} unauthenticated "
                             "connections full: the oldest is cut")
        if self._total >= self.limits.max_connections:
            if not self._unauth:
                self._event("connection_refused", address=where,
                            reason=f"connection limit reached ({self.limits.max_connections} "
                                   "authenticated connections)")
                return False
            self._cut_oldest(f"connection limit {self.limits.max_connections} reached: the "
                             "oldest unauthenticated connection is cut")
        return True

    def _cut_oldest(self, reason: str) -> None:
        _key, entry = self._unauth.popitem(last=False)
        self._leave_unauth(entry)
        if entry.link is not None:
            entry.link.cut(reason, "unauthenticated_cut", address=entry.where)
        else:
            self._event("unauthenticated_cut", address=entry.where, reason=reason)
            entry.writer.transport.abort()

    def _leave_unauth(self, entry: _Unauthenticated) -> None:
        if not entry.gone:
            entry.gone = True
            self._per_ip[entry.ip] -= 1
            if not self._per_ip[entry.ip]:
                del self._per_ip[entry.ip]

    def _authenticated(self, key: int, entry: _Unauthenticated) -> None:
        self._unauth.pop(key, None)
        self._leave_unauth(entry)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        addr = writer.get_extra_info("peername") or ("?", 0)
        ip, where = str(addr[0]), f"{addr[0]}:{addr[1]}"
        entry: _Unauthenticated | None = None
        peer_key: str | None = None
        raw = writer.transport  # under TLS after start_tls: its buffer counts too
        self._seq += 1
        key = self._seq
        try:
            if self._closing or not self._admit(ip, where):
                writer.transport.abort()
                return
            entry = _Unauthenticated(ip, where, writer)
            self._unauth[key] = entry
            self._per_ip[ip] += 1
            self._total += 1
            identity = await self._authenticate(writer, where, entry)
            if identity is None or entry.gone:  # gone: cut as the oldest meanwhile
                writer.transport.abort()
                return
            peer_key = identity.mnemonic or where
            if self._per_peer[peer_key] >= self.limits.max_per_peer:
                self._event("connection_refused", address=where, peer=peer_key,
                            reason=f"more than {self.limits.max_per_peer} connections for peer")
                writer.transport.abort()
                peer_key = None
                return
            self._per_peer[peer_key] += 1
            plain = self.tls is None
            if not plain:  # the handshake mapped its certificate: authenticated
                self._authenticated(key, entry)
            link = StreamLink(
                reader, writer,
                name=f"{self.name}/{identity.mnemonic or where}#{key}",
                peer=identity,
                options=self.options,
                on_event=self._emit,
                inbox=self._inbox if self.aggregate else None,
                wrap=Inbound if self.aggregate else None,
                first_frame_timeout=self.first_frame_timeout if plain else None,
                on_first_frame=(lambda: self._authenticated(key, entry)) if plain else None,
                bounded=True,
                raw_transport=raw,
            )
            entry.link = link
            self._links.add(link)
            try:
                link.start()
                self._event("connected", address=where, peer=peer_key, **_tls_details(link))
                if not self.aggregate:
                    self._accepted.put_nowait(link)
                await link.wait_closed()
            finally:
                self._links.discard(link)
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            if entry is not None:
                self._authenticated(key, entry)  # out of the budget, if still in it
                self._total -= 1
            if peer_key is not None:
                self._per_peer[peer_key] -= 1
            if task is not None:
                self._handlers.discard(task)

    async def _authenticate(
        self, writer: asyncio.StreamWriter, where: str, entry: _Unauthenticated
    ) -> PeerIdentity | None:
        if self.tls is None:
            return PeerIdentity(method="plain", detail=where)
        raw = writer.transport
        try:
            try:
                await writer.start_tls(self.tls, ssl_handshake_timeout=self.handshake_timeout)
            except AttributeError:
                # CPython 3.11: a connection aborted during the handshake (cut as the oldest
                # unauthenticated one) makes start_tls fail on the transport it set to None;
                # give the writer back its closed raw transport (its __del__ needs one)
                if writer.transport is not None:
                    raise
                writer._transport = raw
                raise ConnectionResetError("connection closed during the handshake") from None
        except (ssl.SSLError, OSError, TimeoutError, ConnectionError) as exc:
            if entry.gone:  # cut as the oldest of the unauthenticated: already reported
                writer.transport.abort()
                return None
            # some failures carry no text (the client hung up mid-handshake): name the type
            why = str(exc) or (f"{type(exc).__name__} (the client closed the connection "
                               "during the handshake: it may not trust our certificate)")
            self._event("auth_failed", address=where, reason=f"TLS handshake failed: {why}")
            writer.transport.abort()
            return None
        cert = writer.get_extra_info("peercert")
        identity = self.peers.identify(cert) if self.peers is not None else None
        if identity is None:
            self._event("auth_failed", address=where, subject=subject_text(cert),
                        names=cert_names(cert),
                        reason="certificate not mapped to a configured peer")
            writer.transport.abort()
            return None
        return identity


def _tls_details(link: StreamLink) -> dict[str, Any]:
    info = link.tls
    return {"tls_version": info.get("version"), "cipher": info.get("cipher")} if info else {}


# --------------------------------------------------------------------------------------------


class TcpClient(FramesUntilClosed):
    """A link to one server that reconnects with backoff; frames from every connection arrive in
    one queue.  ``send`` waits (up to ``options.write_timeout``) for a connection when down."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        plain: bool = False,
        options: StreamOptions | None = None,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
        reconnect: bool = True,
        on_event: EventHook | None = None,
        name: str | None = None,
    ) -> None:
        if tls is None and not plain:
            raise ConfigError(f"tcp://{host}:{port}: no TLS context; plain TCP needs plain=True")
        if tls is not None and plain:
            raise ConfigError(f"tcp://{host}:{port}: both a TLS context and plain=True given")
        self.host, self.port = host, port
        self.name = name or f"tcp-client {host}:{port}"
        self.tls, self.server_hostname = tls, server_hostname or host
        self.options = options or StreamOptions()
        self.backoff = backoff or Backoff()
        self.connect_timeout = connect_timeout
        self.reconnect = reconnect
        self._emit = on_event or _no_event
        self._inbox: Inbox[bytes] = Inbox(self.options.inbox_size)
        self._link: StreamLink | None = None
        self._up = asyncio.Event()
        self._closed = False
        self._runner: asyncio.Task[None] | None = None
        self._state = LinkState.DOWN
        self.connects = 0
        self.error: str | None = None

    # --- Link protocol -----------------------------------------------------------------
    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def peer(self) -> PeerIdentity:
        if self._link is not None:
            return self._link.peer
        return PeerIdentity(method="tls-cert" if self.tls else "plain",
                            detail=f"{self.host}:{self.port}")

    @property
    def link(self) -> StreamLink | None:
        """The current connection (None while down)."""
        return self._link if self._up.is_set() else None

    async def connect(self) -> TcpClient:
        """Connect once now (raise LinkError on failure), then keep reconnecting if enabled."""
        if self._runner is not None:
            raise ConfigError(f"{self.name}: already started")
        link = await self._open()
        self._adopt(link)
        self._runner = asyncio.get_running_loop().create_task(self._run(first=link))
        return self

    def start(self) -> TcpClient:
        """Start connecting in the background (first attempt at once, then with backoff)."""
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run(first=None))
        return self

    async def wait_up(self, timeout: float | None = None) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._up.wait()
        except TimeoutError:
            raise LinkError(self.error or "not connected in time", link=self.name) from None

    async def send(self, frame: bytes) -> None:
        if self._closed:
            raise LinkError("link closed", link=self.name)
        if not self._up.is_set():
            if not self.reconnect and self._runner is not None:
                raise LinkError(self.error or "connection lost", link=self.name)
            await self.wait_up(self.options.write_timeout)
        link = self._link
        assert link is not None
        await link.send(frame)

    async def receive(self) -> bytes:
        try:
            return await self._inbox.get()
        except InboxClosed:
            raise LinkError(self.error or "link closed", link=self.name) from None

    async def close(self, *, abort: bool = False) -> None:
        self._closed = True
        self._state = LinkState.CLOSED
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._link is not None:
            await self._link.close(abort=abort)
        self._inbox.close()

    async def drop(self) -> None:
        """Abort the current connection (tests, operator 'bounce'); reconnects if enabled."""
        if self._link is not None:
            await self._link.close(abort=True)

    # --- internals ------------------------------------------------------------------------
    def _event(self, name: str, **details: Any) -> None:
        details.setdefault("link", self.name)
        try:
            self._emit(name, details)
        except Exception:
            pass

    async def _open(self) -> StreamLink:
        self._state = LinkState.CONNECTING
        where = f"{self.host}:{self.port}"
        try:
            async with asyncio.timeout(self.connect_timeout):
                if self.tls is not None:
                    reader, writer = await asyncio.open_connection(
                        self.host, self.port, ssl=self.tls, server_hostname=self.server_hostname,
                        ssl_handshake_timeout=self.connect_timeout, limit=_READ_CHUNK,
                    )
                else:
                    reader, writer = await asyncio.open_connection(
                        self.host, self.port, limit=_READ_CHUNK
                    )
        except TimeoutError:
            self.error = f"connect to {where} timed out after {self.connect_timeout:g} s"
        except ssl.SSLError as exc:
            self.error = f"TLS handshake with {where} failed: {exc}"
            self._event("auth_failed", address=where, reason=self.error)
        except OSError as exc:
            self.error = f"cannot connect to {where}: {exc.strerror or exc or type(exc).__name__}"
        else:
            cert = writer.get_extra_info("peercert")
            peer = PeerIdentity(
                mnemonic=None,
                method="tls-cert" if self.tls is not None else "plain",
                detail=subject_text(cert) or where,
            )
            self.connects += 1
            return StreamLink(reader, writer, name=self.name, peer=peer, options=self.options,
                              on_event=self._emit, inbox=self._inbox)
        self._state = LinkState.DOWN
        self._event("connect_failed", address=where, reason=self.error)
        raise LinkError(self.error, link=self.name)

    def _adopt(self, link: StreamLink) -> None:
        link.start()
        self._link = link
        self._state = LinkState.UP
        self.error = None
        self._up.set()
        self._event("connected", address=f"{self.host}:{self.port}", **_tls_details(link))

    async def _run(self, first: StreamLink | None) -> None:
        attempt = 0
        link = first
        while not self._closed:
            if link is None:
                try:
                    link = await self._open()
                except LinkError:
                    if not self.reconnect:
                        break
                    await self.backoff.sleep(self.backoff.delay(attempt))
                    attempt += 1
                    continue
                self._adopt(link)
            began = time.monotonic()
            await link.wait_closed()
            self._up.clear()
            self._state = LinkState.DOWN
            self.error = link.error or "connection closed"
            if self._closed or not self.reconnect:
                break
            if time.monotonic() - began >= self.backoff.reset_after:
                attempt = 0
            link = None
            await self.backoff.sleep(self.backoff.delay(attempt))
            attempt += 1
        if not self._closed:
            self._closed = True
            self._state = LinkState.CLOSED
            self._inbox.close()


# --- configuration from link URLs --------------------------------------------------------------

#: parameters ``tcp://`` and ``tcp+tls://`` URLs accept
TCP_PARAMS = {
    "framing", "max_frame", "plain", "ca", "cert", "key", "server_hostname", "connect_timeout",
    "idle_timeout", "frame_timeout", "write_timeout", "heartbeat_interval", "heartbeat",
}


#: parameters a listening ``tcp://``/``tcp+tls://`` link (the switch's origin links) accepts too
SERVER_PARAMS = {
    "max_connections", "max_unauthenticated", "max_per_ip", "max_per_peer",
    "first_frame_timeout", "handshake_timeout", "write_buffer",
}


def server_limits_from_url(url: LinkURL) -> dict[str, Any]:
    """The :class:`TcpServer` keyword arguments for connection limits and deadlines given in a
    listening link's URL (every count at least 1, every time positive and finite)."""
    limits: dict[str, Any] = {
        "max_connections": url.integer("max_connections", DEFAULT_MAX_CONNECTIONS),
        "max_per_ip": url.integer("max_per_ip", DEFAULT_MAX_PER_IP),
        "max_per_peer": url.integer("max_per_peer", DEFAULT_MAX_PER_PEER),
        "first_frame_timeout": url.number("first_frame_timeout", DEFAULT_FIRST_FRAME_TIMEOUT),
        "handshake_timeout": url.number("handshake_timeout", 10.0),
        "write_buffer": url.integer("write_buffer", DEFAULT_WRITE_BUFFER),
    }
    if "max_unauthenticated" in url.params:
        limits["max_unauthenticated"] = url.integer("max_unauthenticated", 1)
        if limits["max_unauthenticated"] > limits["max_connections"]:
            raise ConfigError(f"{url.text}: max_unauthenticated={limits['max_unauthenticated']}"
                              f" is above max_connections={limits['max_connections']}")
    return limits


def options_from_url(url: LinkURL) -> StreamOptions:
    interval = url.number("heartbeat_interval", None)
    hb_text = url.get("heartbeat")
    heartbeat = hb_text.encode() if hb_text is not None else (b"" if interval else None)
    options = StreamOptions(
        framing=url.get("framing") or "len2",
        max_frame=url.integer("max_frame", DEFAULT_MAX_FRAME),
        heartbeat_interval=interval,
        heartbeat=heartbeat,
        idle_timeout=url.number("idle_timeout", None),
        frame_timeout=url.number("frame_timeout", 30.0),
        write_timeout=url.number("write_timeout", 30.0) or 30.0,
    )
    options.framer()  # ConfigError now for an unknown framing
    return options


def client_from_url(
    url: LinkURL, *, on_event: EventHook | None = None, reconnect: bool = True,
    backoff: Backoff | None = None,
) -> TcpClient:
    """A :class:`TcpClient` for ``tcp://host:port?plain=1&...`` or ``tcp+tls://...``."""
    from clets.adapters.tls import client_context

    if url.scheme not in ("tcp", "tcp+tls"):
        raise ConfigError(f"{url.text}: not a tcp:// or tcp+tls:// URL")
    url.check_params(TCP_PARAMS)
    assert url.host is not None and url.port is not None  # parse_link_url checked
    common: dict[str, Any] = {
        "options": options_from_url(url),
        "connect_timeout": url.number("connect_timeout", 10.0) or 10.0,
        "reconnect": reconnect,
        "on_event": on_event,
        "backoff": backoff,
    }
    if url.scheme == "tcp":
        if not url.flag("plain"):
            raise ConfigError(
                f"{url.text}: tcp:// is unencrypted; add plain=1 to say so, or use tcp+tls://"
            )
        for p in ("ca", "cert", "key"):
            if p in url.params:
                raise ConfigError(f"{url.text}: {p}= given for plain tcp://; use tcp+tls://")
        return TcpClient(url.host, url.port, plain=True, **common)
    if "plain" in url.params:
        raise ConfigError(f"{url.text}: plain= makes no sense with tcp+tls://")
    if bool(url.get("cert")) != bool(url.get("key")):
        raise ConfigError(f"{url.text}: cert= and key= go together")
    ctx = client_context(url.get("ca"), url.get("cert"), url.get("key"))
    return TcpClient(url.host, url.port, tls=ctx, server_hostname=url.get("server_hostname"),
                     **common)
