"""Codec commands: ``formats``, ``decode``, ``encode``, ``convert``, ``validate``.

They are the integrator's and tester's first contact with clets, so bad input gives one line
(format, field or offset, reason) and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import BinaryIO

import click

from clets.codecs import available, get_codec
from clets.codecs.base import Codec
from clets.errors import ValidationError
from clets.model import Message, check, dumps, from_dict

__all__ = ["register"]

_ENCODING_HELP = ("encoding of the wire form: ascii, cp037 or cp500 for the text codecs; cp037, "
                  "cp500, cp1140, cp273 (cp1047 with the ebcdic package) for the record codecs")


def read_input(path: str) -> bytes:
    """FILE's bytes, ``-`` for stdin; an unreadable file is a usage error naming it."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}",
                                 param_hint="FILE") from None


def _codec(name: str, encoding: str | None, edits: bool = True) -> Codec:
    options: dict[str, object] = {}
    if encoding:
        options["encoding"] = encoding
    if not edits:
        options["edits"] = False
    try:
        return get_codec(name, **options)
    except TypeError:
        raise click.UsageError(f"format {name} takes no such option") from None


def _decode_all(codec: Codec, data: bytes) -> Iterator[Message]:
    yield from codec.decode_stream(data)


def _write(out: BinaryIO, payload: bytes, separator: bytes) -> None:
    out.write(payload)
    out.write(separator)


def _messages_from_json(data: bytes) -> Iterator[Message]:
    """JSON input for encode/convert: one object, a JSON list, or JSON Lines."""
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        # Not one JSON document: JSON Lines (each line is checked, with its line number).
        yield from get_codec("json").decode_stream(data)
        return
    for item in parsed if isinstance(parsed, list) else [parsed]:
        yield from_dict(item)


def register(group: click.Group) -> None:
    @group.command()
    def formats() -> None:
        """List the codecs this installation has."""
        for name in available():
            try:
                desc = get_codec(name).description
            except Exception as exc:  # a broken optional codec must not hide the others
                desc = f"(unavailable: {exc})"
            click.echo(f"{name:18} {desc}")

    @group.command()
    @click.option("--format", "-f", "fmt", required=True, help="codec name (see `clets formats`)")
    @click.option("--encoding", "-e", default=None, help=_ENCODING_HELP)
    @click.option("--no-edits", is_flag=True, help="decode without field edits")
    @click.argument("file", default="-")
    def decode(fmt: str, encoding: str | None, no_edits: bool, file: str) -> None:
        """Wire bytes in, canonical JSON out (one object per line).

        Works on binary EBCDIC records and on RDW streams of many records.
        """
        codec = _codec(fmt, encoding, edits=not no_edits)
        data = read_input(file)
        out = sys.stdout
        for msg in _decode_all(codec, data):
            out.write(dumps(msg) + "\n")

    @group.command()
    @click.option("--format", "-f", "fmt", required=True, help="codec name (see `clets formats`)")
    @click.option("--encoding", "-e", default=None, help=_ENCODING_HELP)
    @click.argument("file", default="-")
    def encode(fmt: str, encoding: str | None, file: str) -> None:
        """Canonical JSON in (an object, JSON Lines or a list), wire bytes out."""
        codec = _codec(fmt, encoding)
        _encode_to_stdout(codec, _messages_from_json(read_input(file)))

    @group.command()
    @click.option("--from", "src", required=True, help="codec of the input")
    @click.option("--to", "dst", required=True, help="codec of the output")
    @click.option("--from-encoding", default=None, help=_ENCODING_HELP)
    @click.option("--to-encoding", default=None, help=_ENCODING_HELP)
    @click.argument("file", default="-")
    def convert(src: str, dst: str, from_encoding: str | None, to_encoding: str | None,
                file: str) -> None:
        """Convert between wire formats through the canonical model."""
        decoder = _codec(src, from_encoding)
        encoder = _codec(dst, to_encoding)
        _encode_to_stdout(encoder, _decode_all(decoder, read_input(file)))

    @group.command()
    @click.option("--format", "-f", "fmt", required=True, help="codec name (see `clets formats`)")
    @click.option("--encoding", "-e", default=None, help=_ENCODING_HELP)
    @click.argument("file", default="-")
    def validate(fmt: str, encoding: str | None, file: str) -> None:
        """Field-edit report: every reject and warning, by field. Exit 1 if any reject."""
        codec = _codec(fmt, encoding, edits=False)
        data = read_input(file)
        rejects = 0
        try:
            messages = list(_decode_all(codec, data))
        except ValidationError as exc:
            # A value that cannot even be parsed (a date that is no date) is a reject too.
            click.echo(f"message: 1 finding(s)\n  reject {exc.field or '-':4} {exc.reason}: "
                       f"{exc.value!r}")
            sys.exit(1)
        for n, msg in enumerate(messages, start=1):
            findings = check(msg)
            rejects += sum(1 for f in findings if f.severity == "reject")
            status = "ok" if not findings else f"{len(findings)} finding(s)"
            click.echo(f"message {n} ({msg.mke} from {msg.origin or '-'}): {status}")
            for f in findings:
                click.echo(f"  {f.severity:6} {f.tag or '-':4} {f.path:28} {f.reason}: "
                           f"{f.value!r}")
        if rejects:
            sys.exit(1)


def _encode_to_stdout(codec: Codec, messages: Iterator[Message]) -> None:
    out = sys.stdout.buffer
    text_like = codec.name in {"json", "ncic", "nlets", "niem"}
    for msg in messages:
        payload = codec.encode(msg)
        # Text formats get a newline between messages; records are written back to back
        # (RDW streams come from the codec's own stream encoder).
        _write(out, payload, b"\n" if text_like else b"")
    out.flush()
