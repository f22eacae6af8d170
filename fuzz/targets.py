"""Fuzz targets: one function per parser, ``target(data: bytes) -> None``.

A target feeds the bytes to one of clets' parsers and checks the oracle of issue 12: the
parser returns a value or raises one of the project's own typed errors (``clets.errors``);
anything else (a ``ValueError``, ``RecursionError``, ``KeyError``, ``MemoryError``...) escapes
the target and is a finding.  Where a decoder has an encoder the target also checks the round
trip (decode -> encode -> decode gives the same message), and where a framer is fed the same
stream in chunks it checks that the chunking does not change the events.

The module does not import atheris: ``fuzz/run.py`` runs these targets under it, and
``tests/test_fuzz_regressions.py`` replays every saved crash input through them with plain
pytest, so CI needs no fuzzer.  ``seeds(name)`` yields the seed inputs of a target, read from
``fixtures/`` and the examples, so the seed corpus follows the fixtures without a copy in git.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from clets.errors import CletsError, DecodeError, EncodeError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "messages"

__all__ = ["ALLOWED", "ROOT", "TARGETS", "OracleFailure", "run_one", "seeds"]

#: what a target may raise on bad input: the project's own typed errors, nothing else
ALLOWED: tuple[type[BaseException], ...] = (CletsError,)


class OracleFailure(AssertionError):
    """A check of a target failed (round trip, chunking) -- as much a finding as a crash."""


# ----------------------------------------------------------------------------- codecs


@functools.cache
def _codec(name: str, encoding: str | None = None) -> Any:
    from clets.codecs import get_codec

    return get_codec(name, **({"encoding": encoding} if encoding else {}))


def _canon(msg: Any) -> Any:
    from clets.model import to_dict

    return to_dict(msg)


def _round_trip(codec: Any, data: bytes) -> None:
    """decode; when that works, encode must work or raise a typed error, and from there the
    codec must be at a fixed point: decoding its own bytes works and gives a message that
    encodes to the same bytes and decodes to the same message.

    Not ``decode(encode(decode(x))) == decode(x)``: decoders read leniently what encoders
    never write (a blank signed COMP-3 field reads as null and is written as zero, because
    spaces in a packed field abend the mainframe; an NCIC tag with no value reads as an
    empty field and is not written).  Those normalizations happen once; the fixed point is
    what matters on a switch that forwards a message again and again."""
    try:
        first = codec.decode(data)
    except ALLOWED:
        return
    try:
        wire = codec.encode(first)
    except EncodeError:
        return  # a message the wire format cannot carry: refused with a typed error
    try:
        second = codec.decode(wire)
    except DecodeError as exc:
        raise OracleFailure(f"{codec.name}: re-decoding its own encoding failed: {exc}\n"
                            f"input {data!r}\nencoded {wire!r}") from exc
    try:
        again = codec.encode(second)
        third = codec.decode(again)
    except DecodeError as exc:
        raise OracleFailure(f"{codec.name}: second round trip failed: {exc}\n"
                            f"input {data!r}\nencoded {wire!r}") from exc
    if again != wire or _canon(third) != _canon(second):
        raise OracleFailure(f"{codec.name}: decode -> encode is not stable\n"
                            f"input {data!r}\nencoded {wire!r}\nagain {again!r}\n"
                            f"second {_canon(second)!r}\nthird {_canon(third)!r}")


def _stream(codec: Any, data: bytes) -> None:
    try:
        for _ in codec.decode_stream(data):
            pass
    except ALLOWED:
        pass


def _text_codec(name: str) -> Callable[[bytes], None]:
    def target(data: bytes) -> None:
        # The first byte picks the code page so one corpus covers ASCII and EBCDIC links.
        encoding = "cp037" if data[:1] == b"\x00" else "ascii"
        body = data[1:] if data[:1] == b"\x00" else data
        codec = _codec(name, encoding)
        _round_trip(codec, body)
        _stream(codec, body)
    return target


def target_niem(data: bytes) -> None:
    codec = _codec("niem")
    _round_trip(codec, data)
    _stream(codec, data)


def target_json(data: bytes) -> None:
    codec = _codec("json")
    _round_trip(codec, data)
    _stream(codec, data)


DMV = ("dmv-reg-request", "dmv-reg-response", "dmv-dl-request", "dmv-dl-response")


def target_dmv(data: bytes) -> None:
    """The four copybook-built record codecs; the first byte picks one (and RDW streams)."""
    if not data:
        return
    codec = _codec(DMV[data[0] % 4])
    body = data[1:]
    _round_trip(codec, body)
    _stream(codec, body)


# ----------------------------------------------------------------------------- framers

#: the framings of clets.framing.FRAMINGS, with the ascii-len variants spelled out
FRAMER_SPECS = ("len2", "len4", "ascii-len:4", "ascii-len:6:cp037", "rdw", "stx-etx",
                "stx-etx+lrc", "mllp", "line", "ascii-len:1", "ascii-len:9")


#: framing bytes around a payload, at most (a 9-digit ascii-len prefix)
_FRAMING_OVERHEAD = 9


def _events(framer: Any, chunks: list[bytes]) -> list[Any]:
    from clets.errors import FramingError
    from clets.framing import BadFrame

    out: list[Any] = []
    for chunk in chunks:
        try:
            out.extend(framer.feed(chunk))
        except FramingError:
            # fed after a fatal event: documented; the stream must be reset
            if framer.broken is None:
                raise
            break
        if framer.pending > framer.max_frame + _FRAMING_OVERHEAD:
            # "a longer frame is refused before it is buffered" (formats.md section 5)
            raise OracleFailure(f"{framer.name}: {framer.pending} bytes buffered, "
                                f"max_frame {framer.max_frame}")
        if any(isinstance(e, BadFrame) and e.fatal for e in out):
            break
    return out


def target_framing(data: bytes) -> None:
    """One framer (first byte), the stream fed whole and in chunks (second byte seeds the
    chunk sizes): the events must be the same, and every payload must re-frame to itself."""
    from clets.framing import Frame, make_framer

    if len(data) < 2:
        return
    spec = FRAMER_SPECS[data[0] % len(FRAMER_SPECS)]
    step = data[1] % 7 + 1
    body = data[2:]
    max_frame = 4096
    whole = _events(make_framer(spec, max_frame), [body])
    chunks = []
    i, k = 0, step
    while i < len(body):
        chunks.append(body[i:i + k])
        i += k
        k = k % 7 + 1
    split = _events(make_framer(spec, max_frame), chunks)
    if whole != split:
        raise OracleFailure(f"{spec}: events differ when the stream is fed in chunks\n"
                            f"whole {whole!r}\nsplit {split!r}")
    for ev in whole:
        if isinstance(ev, Frame):
            framer = make_framer(spec, max_frame)
            try:
                wire = framer.encode(ev.payload)
            except EncodeError:
                continue  # e.g. a payload holding the delimiter byte of a line framing
            again = [e for e in _events(make_framer(spec, max_frame), [wire])]
            if [e.payload for e in again if isinstance(e, Frame)] != [ev.payload]:
                raise OracleFailure(f"{spec}: payload {ev.payload!r} framed as {wire!r} "
                                    f"reads back as {again!r}")


# ----------------------------------------------------------------------------- copybooks


def target_copybook(data: bytes) -> None:
    """Copybook text -> layout; when it builds and is small, the generated decoder and the
    construct layout must agree on a record made of the input's own bytes."""
    from clets.codecs.copybook import parse_copybook

    text = data.decode("utf-8", "replace")
    layout = parse_copybook(text)
    if layout.length == 0 or layout.length > 1 << 16 or len(layout.fields) > 4096:
        return
    record = (data * (layout.length // max(1, len(data)) + 1))[:layout.length]
    try:
        fast = layout.decode_fields(record)
    except ALLOWED:
        fast = None
    try:
        slow = layout.parse_construct(record)
    except ALLOWED:
        slow = None
    if (fast is None) != (slow is None) or (fast is not None and fast != slow):
        raise OracleFailure(f"generated decoder and construct layout disagree on {record!r}:\n"
                            f"{fast!r}\n{slow!r}")


# ----------------------------------------------------------------------------- config, URLs


def target_config(data: bytes) -> None:
    from clets.switch.config import parse_config

    text = data.decode("utf-8", "replace")
    parse_config(text, "<fuzz>", Path("/nonexistent-fuzz-base"), check_codecs=True)


def target_url(data: bytes) -> None:
    """A link URL: its shape, then the per-scheme options each link derives from it without
    opening anything (framing, numbers, flags, drop options)."""
    from clets.adapters.url import parse_link_url

    text = data.decode("utf-8", "replace")
    url = parse_link_url(text)
    if url.scheme in ("tcp", "tcp+tls"):
        from clets.adapters.tcp import TCP_PARAMS, options_from_url

        url.check_params(TCP_PARAMS)
        options_from_url(url)
        url.flag("plain")
    elif url.scheme == "serial":
        from clets.adapters.serial import SerialConfig

        SerialConfig.from_url(url)
    else:
        from clets.adapters.drop import DropConfig

        mod: Any
        if url.scheme == "sftp":
            from clets.adapters import sftp as mod
            extra = mod.SFTP_PARAMS
        else:
            from clets.adapters import spool as mod
            extra = mod.SPOOL_PARAMS
        DropConfig.from_params(url.params, extra=extra)


# ----------------------------------------------------------------------------- registry

TARGETS: dict[str, Callable[[bytes], None]] = {
    "ncic": _text_codec("ncic"),
    "nlets": _text_codec("nlets"),
    "niem": target_niem,
    "json": target_json,
    "dmv": target_dmv,
    "framing": target_framing,
    "copybook": target_copybook,
    "config": target_config,
    "url": target_url,
}


def warm() -> None:
    """Build every codec once (the fuzz runner instruments the code they generate)."""
    for name in ("ncic", "nlets"):
        for encoding in ("ascii", "cp037"):
            _codec(name, encoding)
    for name in ("niem", "json", *DMV):
        _codec(name)


def run_one(name: str, data: bytes) -> None:
    """Run target ``name`` on ``data``: typed errors are swallowed, anything else escapes."""
    try:
        TARGETS[name](data)
    except ALLOWED:
        pass


# ----------------------------------------------------------------------------- seeds

_URL_RE = re.compile(rb"(?:tcp\+tls|tcp|serial|sftp|spool|tls)://[^\s\"'`)<>]+")


def _files(*globs: str) -> Iterator[Path]:
    for pattern in globs:
        yield from sorted(ROOT.glob(pattern))


def seeds(name: str) -> Iterator[bytes]:
    """The seed inputs of a target, from fixtures/, examples/ and the shipped data files."""
    if name in ("ncic", "nlets"):
        for p in _files(f"fixtures/messages/{name}/*.txt"):
            text = p.read_bytes()
            yield text
            try:
                yield b"\x00" + text.decode("ascii").encode("cp037")
            except UnicodeError:
                pass
    elif name == "niem":
        yield from (p.read_bytes() for p in _files("fixtures/messages/niem/*.xml"))
    elif name == "json":
        yield from (p.read_bytes() for p in _files("fixtures/messages/*/*.json"))
    elif name == "dmv":
        for i, rec in enumerate(DMV):
            for p in _files(f"fixtures/messages/{rec}/*.bin"):
                yield bytes([i]) + p.read_bytes()
    elif name == "framing":
        from clets.framing import make_framer

        payloads = [p.read_bytes() for p in _files("fixtures/messages/ncic/*.txt")][:6]
        for i, spec in enumerate(FRAMER_SPECS):
            framer = make_framer(spec)
            stream = b""
            for payload in payloads:
                try:
                    stream += framer.encode(payload.replace(b"\r\n", b" ").replace(b"\n", b" "))
                except CletsError:
                    continue
            yield bytes([i, 3]) + stream
    elif name == "copybook":
        yield from (p.read_bytes() for p in _files("src/clets/codecs/copybooks/*.cpy"))
    elif name == "config":
        yield from (p.read_bytes() for p in _files("examples/*.toml"))
        for p in _files("docs/*.md", "README.md"):
            # the ```toml blocks of the docs: every config a reader is shown
            yield from re.findall(rb"```toml\n(.*?)```", p.read_bytes(), re.S)
    elif name == "url":
        found: set[bytes] = set()
        for p in _files("docs/*.md", "README.md", "examples/*.toml"):
            found.update(_URL_RE.findall(p.read_bytes()))
        yield from sorted(found)
    else:
        raise KeyError(name)
