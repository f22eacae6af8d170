"""The replay driver: send a capture's requests over a link, collect the answers, compare.

Why it waits per request (``speed=None``, "max"): answers without a control field can only be
attributed by order, so by default each request is sent when the previous one has all the
answers it had in the capture (or its deadline passed).  That makes a replay against a
deterministic back-end give the same report every time.  ``speed=1`` or ``10`` keeps the
captured timing (scaled) instead -- for outage and timeout scenarios -- and then relies on
control fields for pairing.

The driver speaks to any :class:`~clets.adapters.base.Link`, so the same code replays over
TCP/TLS, a serial line, or an in-process memory link to the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from clets.adapters.base import Link
from clets.errors import CletsError, ConfigError, LinkError
from clets.model import from_dict, to_dict
from clets.testing.capture import Capture, CaptureEvent, CaptureWriter
from clets.testing.diff import MaskSet
from clets.testing.scrub import open_codec
from clets.testing.session import (
    Exchange,
    SessionReport,
    attribute,
    compare_sessions,
    exchanges,
    request_link,
)

__all__ = ["ReplayOptions", "ReplayResult", "open_link", "replay", "replay_over"]


@dataclass
class ReplayOptions:
    #: link of the capture whose ``in`` frames are replayed (default: the first with requests)
    link: str | None = None
    #: None = as fast as answers allow; otherwise captured timing divided by speed
    speed: float | None = None
    #: seconds to wait for a request's expected answers (and, at the end, for stragglers)
    timeout: float = 5.0
    #: quiet time after the last expected answer, to catch extra answers
    settle: float = 0.2
    #: codec of the answers (default: as recorded in the capture)
    codec: str | None = None


@dataclass
class ReplayResult:
    captured: list[Exchange]
    captured_unsolicited: Exchange
    replayed: list[Exchange]
    replayed_unsolicited: Exchange
    elapsed: float
    errors: list[str] = field(default_factory=list)

    def report(self, masks: MaskSet) -> SessionReport:
        rep = compare_sessions(self.captured, self.replayed, masks,
                               unsolicited=(self.captured_unsolicited,
                                            self.replayed_unsolicited),
                               elapsed=self.elapsed)
        return rep


def _codec_for(capture: Capture, link: str, direction: str) -> str | None:
    for ev in capture.frames(link, direction):
        if ev.codec:
            return ev.codec
    info = capture.header.links.get(link, {})
    codec = info.get(f"codec_{direction}") or info.get("codec")
    return codec if isinstance(codec, str) else None


def _framing_for(capture: Capture, link: str) -> str | None:
    for ev in capture.frames(link):
        if ev.framing:
            return ev.framing
    framing = capture.header.links.get(link, {}).get("framing")
    return framing if isinstance(framing, str) else None


class _Decoder:
    def __init__(self, spec: str | None) -> None:
        self.spec = spec
        self._codec: Any = None
        self._error: str | None = None
        if spec:
            try:
                self._codec = open_codec(spec)
            except CletsError as exc:
                self._error = f"codec {spec} not available: {exc.one_line()}"

    def decode(self, raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
        if self._codec is None:
            return None, self._error or "no codec recorded"
        try:
            return to_dict(self._codec.decode(raw)), None
        except CletsError as exc:
            return None, exc.one_line()

    def encode(self, message: dict[str, Any]) -> bytes:
        if self._codec is None:
            raise ConfigError(self._error or "no codec to encode a request without raw bytes")
        data: bytes = self._codec.encode(from_dict(message))
        return data


async def replay_over(capture: Capture, link: Link, options: ReplayOptions | None = None, *,
                      progress: Callable[[int], None] | None = None,
                      record: CaptureWriter | None = None,
                      on_answer: Callable[[CaptureEvent], Awaitable[None]] | None = None
                      ) -> ReplayResult:
    """Replay ``capture``'s requests over an open ``link``; the link is not closed here.

    ``on_answer`` is awaited with each answer as it arrives: a test harness uses it to play
    the environment's part of a scenario (bring a destination back up after the ``.02.``)."""
    opts = options or ReplayOptions()
    name = request_link(capture, opts.link)
    captured, captured_unsolicited = exchanges(capture.events, name)
    answers = _Decoder(opts.codec or _codec_for(capture, name, "out"))
    requests = _Decoder(_codec_for(capture, name, "in"))
    framing = _framing_for(capture, name)

    loop = asyncio.get_running_loop()
    start = loop.time()
    t0 = captured[0].request.t if captured and captured[0].request else 0.0
    sent: list[Exchange] = []
    unsolicited = Exchange(0, None)
    changed = asyncio.Event()
    errors: list[str] = []

    def now() -> float:
        return loop.time() - start

    async def receiver() -> None:
        while True:
            try:
                raw = await link.receive()
            except LinkError as exc:
                if sent and len(sent) < len(captured):
                    errors.append(f"link closed by peer: {exc.one_line()}")
                changed.set()
                return
            msg, err = answers.decode(raw)
            ev = CaptureEvent(t=now(), link=name, direction="out", raw=raw, message=msg,
                              decode_error=err, framing=framing, codec=answers.spec)
            (attribute(ev, sent) or unsolicited).answers.append(ev)
            if record is not None:
                record.write_event(link=name, direction="out", raw=raw, message=msg,
                                   decode_error=err, framing=framing, codec=answers.spec,
                                   t=ev.t)
            if on_answer is not None:
                await on_answer(ev)
            changed.set()

    async def wait_until(cond: Callable[[], bool], deadline: float) -> bool:
        while not cond():
            remaining = deadline - loop.time()
            if remaining <= 0 or rx.done():
                return cond()
            changed.clear()
            if cond():
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return True

    rx = loop.create_task(receiver())
    try:
        for done, ex in enumerate(captured, start=1):
            req = ex.request
            assert req is not None
            if opts.speed is not None:
                delay = start + (req.t - t0) / opts.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            rex = Exchange(ex.index, CaptureEvent(
                t=now(), link=name, direction="in", raw=req.raw, message=req.message,
                decode_error=req.decode_error, framing=req.framing, codec=req.codec))
            try:
                payload = req.raw if req.raw is not None else requests.encode(req.message or {})
            except CletsError as exc:
                errors.append(f"{ex.name()}: not sent: {exc.one_line()}")
                sent.append(rex)
                continue
            rex.request.raw = payload  # type: ignore[union-attr]
            sent.append(rex)
            if record is not None:
                record.write_event(link=name, direction="in", raw=payload, message=req.message,
                                   decode_error=req.decode_error, framing=framing,
                                   codec=req.codec, t=now())
            try:
                await link.send(payload)
            except LinkError as exc:
                errors.append(f"{ex.name()}: send failed: {exc.one_line()}")
                break
            if opts.speed is None:
                expected = len(ex.answers)
                if expected:
                    await wait_until(lambda r=rex, n=expected: len(r.answers) >= n,  # type: ignore[misc]
                                     loop.time() + opts.timeout)
                else:
                    await asyncio.sleep(opts.settle)
            if progress is not None:
                progress(done)
        # stragglers: every exchange complete, or the deadline
        by_index = {r.index: r for r in sent}
        await wait_until(lambda: all(len(by_index[c.index].answers) >= len(c.answers)
                                     for c in captured if c.index in by_index),
                         loop.time() + opts.timeout)
        await asyncio.sleep(opts.settle)
    finally:
        rx.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await rx
    # requests never sent (link broke) still count, with no answers
    sent_idx = {r.index for r in sent}
    replayed = sent + [Exchange(c.index, None) for c in captured if c.index not in sent_idx]
    replayed.sort(key=lambda e: e.index)
    for r in replayed:
        r.answers.sort(key=lambda a: a.t)
    return ReplayResult(captured, captured_unsolicited, replayed, unsolicited, now(), errors)


async def open_link(url: str, *, framing: str | None = None, connect_timeout: float = 10.0
                    ) -> Link:
    """A client link for ``--to URL``: ``tcp://host:port`` (plain), ``tcp+tls://host:port?
    ca=&cert=&key=``, ``serial:///dev/X?baud=`` or ``memory://name`` (in-process).
    ``framing`` (from the capture or ``--framing``) applies unless the URL sets ``framing=``."""
    if url.startswith("memory://"):
        from clets.adapters.memory import open_memory

        return open_memory(url[len("memory://"):])
    from clets.adapters.url import parse_link_url

    u = parse_link_url(url)
    fr = u.get("framing") or framing or "len2"
    if u.scheme in ("tcp", "tcp+tls"):
        from clets.adapters.tcp import StreamOptions, TcpClient

        u.check_params({"framing", "max_frame", "ca", "cert", "key", "plain", "server_name"})
        opts = StreamOptions(framing=fr, max_frame=u.integer("max_frame", 1 << 20))
        tls = None
        if u.scheme == "tcp+tls":
            from clets.adapters.tls import client_context

            tls = client_context(u.get("ca"), u.get("cert"), u.get("key"))
        assert u.host is not None and u.port is not None
        client = TcpClient(u.host, u.port, tls=tls, plain=tls is None, options=opts,
                           reconnect=False, connect_timeout=connect_timeout,
                           server_hostname=u.get("server_name"), name=f"replay {u.host}:{u.port}")
        await client.connect()
        return client
    if u.scheme == "serial":
        try:
            from clets.adapters import serial as serial_mod
        except ImportError:
            raise ConfigError("serial links are not available in this build") from None
        opener = getattr(serial_mod, "open_serial_link", None)
        if opener is None:
            raise ConfigError("serial link adapter has no open_serial_link() yet")
        link: Link = await opener(u, framing=fr)
        return link
    raise ConfigError(f"{url}: replay needs tcp://, tcp+tls://, serial:// or memory://")


async def replay(capture: Capture, url: str, options: ReplayOptions | None = None, *,
                 framing: str | None = None, progress: Callable[[int], None] | None = None,
                 record: CaptureWriter | None = None) -> ReplayResult:
    """Open a link to ``url``, replay, close it."""
    opts = options or ReplayOptions()
    name = request_link(capture, opts.link)
    link = await open_link(url, framing=framing or _framing_for(capture, name))
    try:
        return await replay_over(capture, link, opts, progress=progress, record=record)
    finally:
        with contextlib.suppress(Exception):
            await link.close()
