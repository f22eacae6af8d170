"""The canonical JSON itself as a codec (spec/formats.md §6), for CAD, RMS and modern clients."""

from __future__ import annotations

from collections.abc import Iterator

from clets.errors import DecodeError
from clets.model import Message, dump, load

__all__ = ["JsonCodec"]


class JsonCodec:
    name = "json"
    description = "canonical JSON of spec/model.md, one object per message (JSON Lines on streams)"

    def decode(self, data: bytes) -> Message:
        return load(data)

    def encode(self, msg: Message) -> bytes:
        return dump(msg)

    def decode_stream(self, data: bytes) -> Iterator[Message]:
        offset = 0
        for line in data.splitlines(keepends=True):
            if line.strip():
                try:
                    yield load(line)
                except DecodeError as exc:
                    exc.offset = offset + (exc.offset or 0)
                    raise
            offset += len(line)
