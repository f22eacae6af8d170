"""The canonical JSON itself as a codec (spec/formats.md §6), for CAD, RMS and modern clients."""

from __future__ import annotations

import json
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
        """Every JSON object in ``data``: JSON Lines, or objects written over several lines
        (as model.md prints them), separated by any whitespace.  Offsets are byte offsets."""
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("not UTF-8 text", format=self.name, offset=exc.start) from None
        scan = json.JSONDecoder().raw_decode
        i, n = 0, len(text)
        done, done_bytes = 0, 0  # text[:done] is done_bytes long in UTF-8 (kept, not recounted)
        while True:
            while i < n and text[i] in " \t\r\n":
                i += 1
            if i >= n:
                return
            start = done_bytes + len(text[done:i].encode())
            try:
                _, end = scan(text, i)
            except json.JSONDecodeError as exc:
                raise DecodeError(f"not JSON: {exc.msg}", format=self.name,
                                  offset=start + len(text[i:exc.pos].encode())) from None
            except RecursionError:  # the scanner recurses once per level of nesting
                raise DecodeError("not JSON: nested too deeply", format=self.name,
                                  offset=start) from None
            chunk = text[i:end].encode()
            try:
                yield load(chunk)
            except DecodeError as exc:
                exc.offset = start + (exc.offset or 0)
                raise
            i = done = end
            done_bytes = start + len(chunk)
