"""Captures written by the switch: ``capture = true`` (or a file path) on a ``[[link]]``.

Why a wrapper around the Link rather than hooks in the engine: the engine keeps one code path
whether a link is captured or not -- it sees an object that sends, receives and answers exactly
like the transport, and the transport never knows it is recorded.  Every frame is recorded
after the transport accepted it (a send that raised was not sent and is not in the capture).

Directions follow the capture format (docs/testing.md): ``in`` is what the client side sent
toward the captured peer, ``out`` what came back.

* Origin link (agencies connect to the switch): frames received are ``in`` (requests), frames
  sent are ``out`` (answers, ``.02.``/``.04.`` statuses, rejects, ACKs), both in the link codec.
  A capture of an origin link replays against the switch (``clets replay --to`` its address).
* Destination link (the switch is the client): frames the switch sends (forwarded requests)
  are ``in``, in the destination's request codec (``codec``, then its ``encode`` codecs: the
  first that decodes is recorded); the destination's frames are ``out``, in its ``decode``
  codecs (else the link codec).  So a destination link's capture replays straight against
  that destination or its simulator, like a capture taken by ``clets capture`` in front of it.

A capture must never break the switch: a failed write is logged and audited once and capture
for that link stops; the traffic itself is not touched.  A full or failing disk
(:class:`~clets.errors.StorageError`) only pauses it: the events meanwhile are not recorded,
the file keeps only whole lines, and recording resumes with the first write that succeeds
(``on_storage`` reports both, for ``/healthz`` and the audit).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clets.adapters.base import Link, LinkState, PeerIdentity
from clets.codecs.base import Codec, get_codec
from clets.errors import CletsError, StorageError
from clets.model import to_dict
from clets.testing.capture import CaptureWriter

from .config import LinkConfig, SwitchConfig
from .links import Received, Reply

__all__ = ["CaptureSink", "CapturingLink", "capture_path", "captured_files", "close_captures",
           "unwrap", "wrap_captured_links"]

log = logging.getLogger("clets.switch.capture")

#: called once per link when its capture fails: (link name, reason)
OnError = Callable[[str, str], None]
#: called on each write a full or failing disk refused (link, error) and once when the link's
#: capture writes again (link, None)
OnStorage = Callable[[str, StorageError | None], None]
#: (codec spec as recorded, codec) in the order they are tried
Codecs = tuple[tuple[str, Codec], ...]

_CONN_RE = re.compile(r"#(\d+)$")


def _stamp(when: _dt.datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


def capture_path(cfg: SwitchConfig, link: LinkConfig, now: _dt.datetime | None = None
                 ) -> Path | None:
    """Where this start writes the link's capture (None: not captured).

    ``capture = true``: a new file per start, ``<journal dir>/captures/<link>-<UTC>.jsonl``, so a
    restart never overwrites what a tester recorded.  ``capture = "file.jsonl"``: that file; a
    previous one there is first renamed to ``<stem>-<its UTC modification time><suffix>``."""
    if link.capture is False:
        return None
    now = now or _dt.datetime.now(_dt.UTC)
    if isinstance(link.capture, Path):
        return link.capture
    folder = cfg.switch.journal.parent / "captures"
    path = folder / f"{link.name}-{_stamp(now)}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{link.name}-{_stamp(now)}-{n}.jsonl"
    return path


def _keep_previous(path: Path) -> None:
    """Move an earlier capture out of the way (named by its modification time)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    mtime = _dt.datetime.fromtimestamp(path.stat().st_mtime, tz=_dt.UTC)
    target = path.with_name(f"{path.stem}-{_stamp(mtime)}{path.suffix}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}-{_stamp(mtime)}-{n}{path.suffix}")
    path.rename(target)


def _framing(link: LinkConfig) -> str | None:
    values = parse_qs(urlsplit(link.url).query).get("framing")
    if values:
        return values[0]
    return "len2" if link.scheme in ("tcp", "tcp+tls", "tls") else None


def _spec(name: str, encoding: str | None) -> str:
    return f"{name}?encoding={encoding}" if encoding else name


def _public_url(url: str) -> str:
    """The link URL without its query (file paths of keys) and without any password."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    netloc = f"{user}@{host}" if user else host
    return f"{parts.scheme}://{netloc}{parts.path}"


class CaptureSink:
    """One capture file, shared by the links that write to it; stops a link on a failure."""

    def __init__(self, writer: CaptureWriter, on_error: OnError | None = None,
                 path: Path | None = None, on_storage: OnStorage | None = None) -> None:
        self.writer = writer
        self.path = path
        self._on_error = on_error
        self._on_storage = on_storage
        self.failed: set[str] = set()
        #: links whose last write the disk refused, and the events not recorded per link
        self.paused: set[str] = set()
        self.dropped: dict[str, int] = {}

    def record(self, *, link: str, direction: str, raw: bytes,
               codecs: Codecs, framing: str | None,
               peer: str | None, conn: int | None) -> None:
        if link in self.failed:
            return
        try:
            spec, message, error = _decode(codecs, raw)
            self.writer.write_event(link=link, direction=direction, raw=raw, message=message,
                                    decode_error=error, framing=framing, codec=spec,
                                    peer=peer, conn=conn)
        except StorageError as exc:  # disk full or failing: paused, resumed by itself
            self.dropped[link] = self.dropped.get(link, 0) + 1
            if link not in self.paused:
                self.paused.add(link)
                log.error("capture paused", extra={"link": link, "error": str(exc)})
            self._storage(link, exc)
            return
        except Exception as exc:  # a capture must never break the switch
            self.failed.add(link)
            reason = f"capture stopped: {type(exc).__name__}: {exc}"
            log.error("capture failed", extra={"link": link, "error": reason})
            if self._on_error is not None:
                try:
                    self._on_error(link, reason)
                except Exception:
                    log.exception("capture failure could not be audited")
            return
        if link in self.paused:
            self.paused.discard(link)
            log.warning("capture resumed", extra={"link": link,
                                                  "not_recorded": self.dropped.get(link, 0)})
            self._storage(link, None)

    def _storage(self, link: str, exc: StorageError | None) -> None:
        if self._on_storage is not None:
            try:
                self._on_storage(link, exc)
            except Exception:
                log.exception("capture storage state could not be reported")

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:
            log.exception("capture file could not be closed")


def _decode(codecs: Codecs, raw: bytes
            ) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """(codec spec, canonical dict, decode error): the first codec that decodes wins; when
    none does, the first codec is named with its error."""
    first: tuple[str, str] | None = None
    for spec, codec in codecs:
        try:
            return spec, to_dict(codec.decode(raw)), None
        except CletsError as exc:
            if first is None:
                first = (spec, exc.one_line())
    if first is None:
        return None, None, None
    return first[0], None, first[1]


def _conn_of(rx: Received) -> int | None:
    """The server's connection number (``name#N`` of the connection the frame came on)."""
    owner = getattr(rx.reply, "__self__", None)
    name = getattr(getattr(owner, "link", None), "name", None)
    m = _CONN_RE.search(name) if isinstance(name, str) else None
    return int(m.group(1)) if m else None


class CapturingLink:
    """A Link that records every frame it sends and receives into a :class:`CaptureSink`.

    Everything else is the inner link's: ``state``, ``peer``, ``close`` and any other attribute
    (``start``, ``set_down``, ``last_message_id``, ``server``...).  ``received`` exists exactly
    when the inner link has it (the engine chooses how to read a link by that), and the replies
    it hands out are recorded too, with the connection number."""

    def __init__(self, inner: Link, sink: CaptureSink, *, link: str, role: str,
                 framing: str | None, requests: Codecs,
                 answers: Codecs, peer: str | None) -> None:
        self.inner = inner
        self.sink = sink
        self._link = link
        self._framing = framing
        self._peer = peer
        # origin: received = requests (in); destination: sent = requests (in)
        if role == "origin":
            self._rx = ("in", requests)
            self._tx = ("out", answers)
        else:
            self._rx = ("out", answers)
            self._tx = ("in", requests)

    # --- Link protocol ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def state(self) -> LinkState:
        return self.inner.state

    @property
    def peer(self) -> PeerIdentity:
        return self.inner.peer

    async def send(self, frame: bytes) -> None:
        await self.inner.send(frame)
        self._record(self._tx, frame, self._peer, None)

    async def receive(self) -> bytes:
        frame = await self.inner.receive()
        self._record(self._rx, frame, self._peer, None)
        return frame

    async def frames(self) -> AsyncIterator[bytes]:
        async for frame in self.inner.frames():
            self._record(self._rx, frame, self._peer, None)
            yield frame

    async def close(self) -> None:
        await self.inner.close()

    def __getattr__(self, attr: str) -> Any:
        # only reached for attributes this class does not define
        if attr == "received":
            # AttributeError when the inner link has none
            inner_received = self.inner.received  # type: ignore[attr-defined]
            return lambda: self._received(inner_received)
        if attr in ("inner", "sink") or attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    # --- recording ----------------------------------------------------------------------
    def _record(self, how: tuple[str, Codecs], frame: bytes,
                peer: str | None, conn: int | None) -> None:
        self.sink.record(link=self._link, direction=how[0], raw=bytes(frame), codecs=how[1],
                         framing=self._framing, peer=peer, conn=conn)

    async def _received(self, inner_received: Callable[[], AsyncIterator[Received]]
                        ) -> AsyncIterator[Received]:
        async for rx in inner_received():
            conn = _conn_of(rx)
            peer = rx.peer.mnemonic or self._peer or rx.peer.detail
            self._record(self._rx, rx.frame, peer, conn)
            yield dataclasses.replace(rx, reply=self._reply(rx.reply, peer, conn))

    def _reply(self, reply: Reply, peer: str | None, conn: int | None) -> Reply:
        async def recorded(frame: bytes) -> None:
            await reply(frame)
            self._record(self._tx, frame, peer, conn)

        return recorded


def unwrap(link: Any) -> Any:
    """The transport under a :class:`CapturingLink` (any other link as it is)."""
    return link.inner if isinstance(link, CapturingLink) else link


def _codecs(names: Iterable[str], encoding: str | None) -> Codecs:
    out: list[tuple[str, Codec]] = []
    for name in dict.fromkeys(names):
        codec = get_codec(name, encoding=encoding) if encoding else get_codec(name)
        out.append((_spec(name, encoding), codec))
    return tuple(out)


def _link_codecs(cfg: SwitchConfig, lk: LinkConfig
                 ) -> tuple[Codecs, Codecs, str | None]:
    """(request codecs, answer codecs, peer) of a link, as the engine encodes and decodes."""
    if lk.role == "origin":
        own = _codecs([lk.codec], lk.encoding)
        return own, own, lk.peer
    dests = [d for d in cfg.destinations.values() if d.link == lk.name]
    if not dests:
        own = _codecs([lk.codec], lk.encoding)
        return own, own, None
    enc = dests[0].encoding
    requests = _codecs([n for d in dests for n in (d.codec, *d.encode.values())], enc)
    answer_names = [n for d in dests for n in d.decode] or [lk.codec]
    answers = _codecs(answer_names, enc)
    return requests, answers, ",".join(d.name for d in dests)


def wrap_captured_links(cfg: SwitchConfig, links: dict[str, Any],
                        on_error: OnError | None = None,
                        now: _dt.datetime | None = None,
                        on_storage: OnStorage | None = None) -> list[CaptureSink]:
    """Replace each captured link in ``links`` (name -> Link) by a :class:`CapturingLink` and
    return the open sinks (close them with :func:`close_captures` after the links).

    Links naming the same file share it (the header describes each).  A capture that cannot
    be opened is logged and reported through ``on_error``; the link then runs uncaptured."""
    by_path: dict[Path, list[LinkConfig]] = {}
    for lk in cfg.links.values():
        if lk.name not in links:
            continue
        path = capture_path(cfg, lk, now)
        if path is not None:
            by_path.setdefault(path, []).append(lk)
    sinks: list[CaptureSink] = []
    for path, lks in by_path.items():
        try:
            setup = {lk.name: (_link_codecs(cfg, lk), _framing(lk)) for lk in lks}
            header = {
                lk.name: {"role": lk.role, "framing": framing, "codec": codecs[0][0][0],
                          "codec_out": codecs[1][0][0], "peer": codecs[2],
                          "url": _public_url(lk.url)}
                for lk in lks for codecs, framing in [setup[lk.name]]}
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(lks[0].capture, Path):
                _keep_previous(path)
            writer = CaptureWriter(path, links=header,
                                   notes=f"switch {cfg.switch.name}: capture of "
                                         f"{', '.join(lk.name for lk in lks)}")
        except Exception as exc:  # never stop the switch for a capture
            reason = f"capture not started ({path}): {type(exc).__name__}: {exc}"
            log.error("capture failed", extra={"links": [lk.name for lk in lks],
                                               "error": reason})
            for lk in lks:
                if on_error is not None:
                    on_error(lk.name, reason)
            continue
        sink = CaptureSink(writer, on_error, path, on_storage)
        sinks.append(sink)
        log.info("capturing", extra={"links": [lk.name for lk in lks], "file": str(path)})
        for lk in lks:
            (requests, answers, peer), framing = setup[lk.name]
            links[lk.name] = CapturingLink(links[lk.name], sink, link=lk.name, role=lk.role,
                                           framing=framing, requests=requests,
                                           answers=answers, peer=peer)
    return sinks


def close_captures(sinks: Iterable[CaptureSink]) -> None:
    for sink in sinks:
        sink.close()


def captured_files(sinks: Iterable[CaptureSink]) -> Mapping[str, str]:
    """link name -> capture file, for a ready line or a status page."""
    out: dict[str, str] = {}
    for sink in sinks:
        for name in sink.writer.header.links:
            out[name] = str(sink.path)
    return out
