"""Serial links: teletype lines (``line``), and block-mode lines with ACK/NAK (``stx-etx+lrc``).

``stx-etx+lrc`` runs a stop-and-wait protocol: the sender writes one frame and waits up to
``ack_timeout`` for ACK (0x06) or NAK (0x15); on NAK or silence it resends, up to ``retries``
times, then raises :class:`LinkError`.  The receiver checks the LRC, answers ACK and delivers,
or answers NAK and drops the frame -- a garbled frame is never delivered.

Duplicates: the frame format has no sequence number (and we do not add one, so that we stay
byte-compatible with existing terminals).  When an ACK is lost the sender resends a frame the
receiver already delivered, and the receiver cannot tell a retransmission from a new identical
frame, so it delivers it again.  The switch above suppresses such duplicates by content hash.
A second residual risk of single-byte ACK/NAK: an answer that arrives after the sender has
already given up waiting is taken as the answer to the next transmission; keep ``ack_timeout``
well above the line's round trip.  An 8-bit LRC detects every single-byte error in a frame;
frames with several errors pass with probability about 1/256.

Other framings (``line``, ``len2``, ...) use the plain :class:`~clets.adapters.tcp.StreamLink`
over the serial port: no acknowledgement at the link level.

Modem-control ioctls (RTS/DTR/CTS) fail on pseudo-terminals (``ENOTTY``): they are used only when
the configuration asks for hardware flow control, and pyserial ignores the failure on open.
"""

from __future__ import annotations

import asyncio
import contextlib
import termios
from dataclasses import dataclass, field
from typing import Any

import serial
import serial_asyncio

from clets.adapters.base import FramesUntilClosed, LinkState, PeerIdentity
from clets.adapters.tcp import EventHook, StreamLink, StreamOptions
from clets.adapters.url import LinkURL
from clets.errors import ConfigError, LinkError
from clets.framing import (
    ACK,
    DEFAULT_MAX_FRAME,
    NAK,
    BadFrame,
    Control,
    DelimitedFramer,
    Frame,
    make_framer,
)

__all__ = ["AckNakLink", "SerialConfig", "SerialLink", "from_url", "open_serial", "probe"]

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD,
           "M": serial.PARITY_MARK, "S": serial.PARITY_SPACE}
_PARAMS = {"baud", "parity", "stopbits", "bytesize", "rtscts", "xonxoff", "framing", "max_frame",
           "ack_timeout", "retries", "inter_byte_timeout", "mnemonic", "oris", "idle_timeout",
           "heartbeat_interval"}


def _no_event(name: str, details: dict[str, Any]) -> None:
    pass


_PARITY_NAMES = {"N": "N", "NONE": "N", "E": "E", "EVEN": "E", "O": "O", "ODD": "O",
                 "M": "M", "MARK": "M", "S": "S", "SPACE": "S"}


def _parity(text: str, port: str) -> str:
    """``N E O M S`` or their names; anything else is refused (``Mumble`` is not Mark)."""
    got = _PARITY_NAMES.get(text.upper())
    if got is None:
        raise ConfigError(f"serial {port}: parity must be one of N E O M S (or none, even, "
                          f"odd, mark, space), not {text!r}")
    return got


@dataclass(frozen=True, slots=True)
class SerialConfig:
    port: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    rtscts: bool = False
    xonxoff: bool = False
    framing: str = "stx-etx+lrc"
    max_frame: int = DEFAULT_MAX_FRAME
    #: ACK/NAK lines: seconds to wait for the answer to one transmission
    ack_timeout: float = 2.0
    #: ACK/NAK lines: resends after the first transmission before giving up
    retries: int = 3
    #: a started frame with no byte for this long is dropped (lost ETX, ACK garbled into STX)
    inter_byte_timeout: float = 2.0
    idle_timeout: float | None = None
    heartbeat_interval: float | None = None
    mnemonic: str | None = None
    allowed_oris: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.parity not in _PARITY:
            raise ConfigError(f"serial {self.port}: parity must be one of N E O M S")
        if self.bytesize not in (5, 6, 7, 8):
            raise ConfigError(f"serial {self.port}: bytesize must be 5..8")
        if self.stopbits not in (1, 1.5, 2):
            raise ConfigError(f"serial {self.port}: stopbits must be 1, 1.5 or 2")
        if self.baudrate <= 0 or self.retries < 0 or self.ack_timeout <= 0:
            raise ConfigError(f"serial {self.port}: baud, retries, ack_timeout must be positive")
        make_framer(self.framing, self.max_frame)  # ConfigError for an unknown framing

    @classmethod
    def from_url(cls, url: LinkURL) -> SerialConfig:
        if url.scheme != "serial":
            raise ConfigError(f"{url.text}: not a serial:// URL")
        url.check_params(_PARAMS)
        oris = url.get("oris") or ""
        return cls(
            port=url.path,
            baudrate=url.integer("baud", 9600),
            bytesize=url.integer("bytesize", 8),
            parity=_parity(url.get("parity") or "N", url.path),
            stopbits=float(url.number("stopbits", 1) or 1),
            rtscts=url.flag("rtscts"),
            xonxoff=url.flag("xonxoff"),
            framing=url.get("framing") or "stx-etx+lrc",
            max_frame=url.integer("max_frame", DEFAULT_MAX_FRAME),
            ack_timeout=url.number("ack_timeout", 2.0) or 2.0,
            retries=url.integer("retries", 3, minimum=0),
            inter_byte_timeout=url.number("inter_byte_timeout", 2.0) or 2.0,
            idle_timeout=url.number("idle_timeout", None),
            heartbeat_interval=url.number("heartbeat_interval", None),
            mnemonic=url.get("mnemonic"),
            allowed_oris=frozenset(o for o in oris.split(",") if o),
        )

    def peer(self) -> PeerIdentity:
        return PeerIdentity(mnemonic=self.mnemonic, allowed_oris=self.allowed_oris,
                            method="serial-line", detail=self.port)


async def _open_streams(cfg: SerialConfig) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    stop = int(cfg.stopbits) if cfg.stopbits != 1.5 else serial.STOPBITS_ONE_POINT_FIVE
    try:
        return await serial_asyncio.open_serial_connection(  # type: ignore[no-any-return]
            url=cfg.port, baudrate=cfg.baudrate, bytesize=cfg.bytesize,
            parity=_PARITY[cfg.parity], stopbits=stop, rtscts=cfg.rtscts, xonxoff=cfg.xonxoff,
            timeout=0,
        )
    except (serial.SerialException, OSError, ValueError, termios.error) as exc:
        # termios.error is not an OSError: a line setting the device refuses (a pseudo-terminal
        # takes no parity) surfaces as one
        raise LinkError(f"cannot open serial port {cfg.port}: {exc}", link=cfg.port) from None


async def open_serial(
    cfg: SerialConfig, *, on_event: EventHook | None = None, name: str | None = None
) -> AckNakLink | StreamLink:
    """Open the port and start the link that fits its framing."""
    reader, writer = await _open_streams(cfg)
    name = name or f"serial {cfg.port}"
    if cfg.framing.lower() == "stx-etx+lrc":
        return AckNakLink(reader, writer, cfg, name=name, on_event=on_event).start()
    opts = StreamOptions(framing=cfg.framing, max_frame=cfg.max_frame,
                         idle_timeout=cfg.idle_timeout, frame_timeout=None,
                         heartbeat_interval=cfg.heartbeat_interval)
    return StreamLink(reader, writer, name=name, peer=cfg.peer(), options=opts,
                      on_event=on_event).start()


def from_url(
    url: LinkURL, *, name: str | None = None, on_event: EventHook | None = None
) -> SerialLink:
    """A configured, not yet opened serial link (``await link.start()`` opens the port).

    Synchronous like the drop links' ``from_url``, so a configuration can be checked
    (ConfigError) before anything is opened.
    """
    return SerialLink(SerialConfig.from_url(url), name=name, on_event=on_event)


class SerialLink(FramesUntilClosed):
    """A serial line as configured; :meth:`start` opens it (also done on first use)."""

    def __init__(
        self, cfg: SerialConfig, *, name: str | None = None, on_event: EventHook | None = None
    ) -> None:
        self.cfg = cfg
        self.name = name or f"serial {cfg.port}"
        self._on_event = on_event
        self._inner: AckNakLink | StreamLink | None = None
        self._closed = False

    @property
    def state(self) -> LinkState:
        if self._closed:
            return LinkState.CLOSED
        return self._inner.state if self._inner is not None else LinkState.DOWN

    @property
    def peer(self) -> PeerIdentity:
        return self.cfg.peer()

    async def start(self) -> None:
        if self._closed:
            raise LinkError("serial link closed", link=self.name)
        if self._inner is None:
            self._inner = await open_serial(self.cfg, on_event=self._on_event, name=self.name)

    async def _link(self) -> AckNakLink | StreamLink:
        await self.start()
        assert self._inner is not None
        return self._inner

    async def send(self, frame: bytes) -> None:
        await (await self._link()).send(frame)

    async def receive(self) -> bytes:
        return await (await self._link()).receive()

    async def close(self) -> None:
        self._closed = True
        if self._inner is not None:
            await self._inner.close()


async def probe(url: LinkURL) -> str:
    """``clets link test serial://...`` without sending: can the port be opened as configured?"""
    cfg = SerialConfig.from_url(url)
    link = await open_serial(cfg)
    await link.close()
    return (f"opened {cfg.port}: {cfg.baudrate} baud {cfg.bytesize}{cfg.parity}{cfg.stopbits:g}"
            f" rtscts={int(cfg.rtscts)} xonxoff={int(cfg.xonxoff)} framing={cfg.framing}")


class AckNakLink(FramesUntilClosed):
    """``stx-etx+lrc`` with ACK/NAK and bounded retransmission (see the module docstring)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        cfg: SerialConfig,
        *,
        name: str,
        on_event: EventHook | None = None,
    ) -> None:
        self.name, self.cfg = name, cfg
        self._reader, self._writer = reader, writer
        framer = make_framer("stx-etx+lrc", cfg.max_frame)
        assert isinstance(framer, DelimitedFramer)
        self._framer = framer
        self._emit = on_event or _no_event
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue(1024)
        self._answers: asyncio.Queue[int] = asyncio.Queue()
        self._send_lock = asyncio.Lock()
        self._state = LinkState.CONNECTING
        self._task: asyncio.Task[None] | None = None
        self._done = False
        self.error: str | None = None
        self.stats = {"sent": 0, "retransmits": 0, "naks_sent": 0, "acks_sent": 0,
                      "delivered": 0, "failed": 0}

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def peer(self) -> PeerIdentity:
        return self.cfg.peer()

    def start(self) -> AckNakLink:
        self._state = LinkState.UP
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        return self

    async def send(self, frame: bytes) -> None:
        data = self._framer.encode(frame)  # typed errors for STX/ETX in payload, too long
        async with self._send_lock:
            for attempt in range(self.cfg.retries + 1):
                if self._state is not LinkState.UP:
                    raise LinkError(self.error or "serial link is down", link=self.name)
                while not self._answers.empty():  # answers to nothing we are waiting for
                    self._answers.get_nowait()
                if attempt:
                    self.stats["retransmits"] += 1
                self._writer.write(data)
                self.stats["sent"] += 1
                try:
                    async with asyncio.timeout(self.cfg.ack_timeout):
                        answer = await self._answers.get()
                except TimeoutError:
                    self._event("ack_timeout", attempt=attempt + 1)
                    continue
                if answer == ACK:
                    return
                self._event("nak_received", attempt=attempt + 1)
            self.stats["failed"] += 1
            self._event("send_failed", attempts=self.cfg.retries + 1)
            raise LinkError(
                f"no ACK after {self.cfg.retries + 1} transmissions", link=self.name,
                peer=self.cfg.mnemonic or self.cfg.port,
            )

    async def receive(self) -> bytes:
        while True:
            if self._done and self._inbox.empty():
                raise LinkError(self.error or "serial link closed", link=self.name)
            item = await self._inbox.get()
            if item is not None:
                return item
            self._inbox.put_nowait(None)
            if self._inbox.qsize() == 1:
                raise LinkError(self.error or "serial link closed", link=self.name)

    async def close(self) -> None:
        if self._state is LinkState.CLOSED:
            return
        self._state = LinkState.CLOSED
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._writer.drain()
        self._writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._writer.wait_closed()
        self._finish()

    # --- internals ------------------------------------------------------------------------
    def _finish(self) -> None:
        self._done = True
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(None)

    def _event(self, name: str, **details: Any) -> None:
        details.setdefault("link", self.name)
        details.setdefault("peer", self.cfg.mnemonic or self.cfg.port)
        with contextlib.suppress(Exception):
            self._emit(name, details)

    async def _read_loop(self) -> None:
        framer = self._framer
        try:
            while True:
                try:
                    if framer.pending:
                        async with asyncio.timeout(self.cfg.inter_byte_timeout):
                            data = await self._reader.read(4096)
                    else:
                        data = await self._reader.read(4096)
                except TimeoutError:
                    self._event("frame_timeout", pending=framer.pending)
                    framer.reset()
                    continue
                if not data:
                    self.error = "serial port closed"
                    break
                for ev in framer.feed(data):
                    if isinstance(ev, Frame):
                        self._writer.write(bytes((ACK,)))
                        self.stats["acks_sent"] += 1
                        self.stats["delivered"] += 1
                        await self._inbox.put(ev.payload)
                    elif isinstance(ev, Control):
                        self._answers.put_nowait(ev.byte)
                    elif isinstance(ev, BadFrame):
                        if ev.wants_nak:
                            self._writer.write(bytes((NAK,)))
                            self.stats["naks_sent"] += 1
                        self._event("bad_frame", kind=ev.kind, reason=ev.reason,
                                    offset=ev.offset, nak=ev.wants_nak)
        except asyncio.CancelledError:
            raise
        except (OSError, serial.SerialException) as exc:
            self.error = f"serial port failed: {exc}"
            self._event("connection_lost", reason=self.error)
        if self._state is not LinkState.CLOSED:
            self._state = LinkState.DOWN
        self._finish()

    def __repr__(self) -> str:
        return f"<AckNakLink {self.name} {self._state.value}>"
