"""A codec built from copybook text + mapping text: one fixed-length EBCDIC record per message.

The codec itself is pure (bytes in, Message out); only :meth:`CopybookCodec.from_files` reads
files, as a convenience for agencies that keep their copybook and mapping on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from construct import Construct

from clets.errors import DecodeError, EncodeError, LayoutError
from clets.model import Message, apply_edits

from .layout import Layout, parse_copybook
from .mapping import Mapping, generate, parse_mapping
from .rdw import join_rdw, looks_like_rdw, split_rdw

__all__ = ["CopybookCodec"]


class CopybookCodec:
    """Fixed-length record codec: ``decode(bytes) -> Message``, ``encode(Message) -> bytes``.

    ``engine`` chooses how fields are read: ``"fast"`` (generated code, default),
    ``"construct"`` (the construct layout, interpreted) or ``"compiled"`` (the construct
    layout after ``.compile()``).  All three give the same messages; the fast one is several
    times quicker.  ``edits=True`` runs the model's field edits on every decoded message.
    """

    def __init__(self, name: str, copybook: str, mapping: str, *, encoding: str = "cp037",
                 rdw: bool | None = None, edits: bool = True, engine: str = "fast",
                 description: str | None = None, copybook_source: str | None = None,
                 mapping_source: str | None = None, record: str | None = None) -> None:
        if engine not in ("fast", "construct", "compiled"):
            raise LayoutError(f"unknown engine {engine!r} (fast, construct, compiled)")
        self.name = name
        self.layout: Layout = parse_copybook(copybook, encoding=encoding,
                                             source=copybook_source or f"{name} copybook",
                                             record=record)
        self.mapping: Mapping = parse_mapping(mapping, self.layout,
                                              mapping_source or f"{name} mapping")
        self.encoding = self.layout.encoding
        self.rdw = rdw
        self.edits = edits
        self.engine = engine
        self.description = description or (
            f"{self.layout.name}: {self.layout.length}-byte EBCDIC ({self.encoding}) record")
        (self._fast_decode, self._fast_encode,
         self._from_fields, self._to_fields) = generate(self.layout, self.mapping, name)
        self._compiled: Construct | None = None

    @classmethod
    def from_files(cls, name: str, cpy_path: str | Path, mapping_path: str | Path,
                   **options: Any) -> CopybookCodec:
        """A codec from an agency's own copybook file and mapping (TOML) file."""
        cpy, mp = Path(cpy_path), Path(mapping_path)
        try:
            copybook = cpy.read_text("utf-8")
            mapping = mp.read_text("utf-8")
        except OSError as exc:
            raise LayoutError(f"cannot read: {exc}") from None
        return cls(name, copybook, mapping, copybook_source=str(cpy),
                   mapping_source=str(mp), **options)

    @property
    def record_length(self) -> int:
        return self.layout.length

    def _compiled_layout(self) -> Construct:
        if self._compiled is None:
            self._compiled = self.layout.construct.compile()
        return self._compiled

    # ------------------------------------------------------------------ one record

    def decode(self, data: bytes) -> Message:
        """Exactly one record (wrong length -> DecodeError with expected/actual length)."""
        if not isinstance(data, bytes):
            if not isinstance(data, (bytearray, memoryview)):
                raise DecodeError(f"expected bytes, got {type(data).__name__}",
                                  format=self.name)
            data = bytes(data)
        try:
            if self.engine == "fast":
                msg = self._fast_decode(data)
            else:
                compiled = self._compiled_layout() if self.engine == "compiled" else None
                msg = self._from_fields(self.layout.parse_construct(data, compiled))
            if self.edits:
                apply_edits(msg)
        except DecodeError as exc:
            if exc.format is None:
                exc.format = self.name
            if exc.data is None:
                exc.data = data
            raise
        return msg

    def encode(self, msg: Message) -> bytes:
        try:
            if self.engine == "fast":
                out: bytes = self._fast_encode(msg)
                return out
            compiled = self._compiled_layout() if self.engine == "compiled" else None
            return self.layout.build_construct(self._to_fields(msg), compiled)
        except AttributeError as exc:  # not a Message (or a part of the wrong type)
            raise EncodeError(f"not a canonical message: {exc}", format=self.name) from None
        except DecodeError as exc:
            if exc.format is None:
                exc.format = self.name
            raise

    # ------------------------------------------------------------------ streams

    def split(self, data: bytes, rdw: bool | None = None) -> list[tuple[int, bytes]]:
        """(offset, record) pairs of an RDW stream or a concatenation of fixed records."""
        rdw = self.rdw if rdw is None else rdw
        n = self.layout.length
        if rdw is None:
            rdw = looks_like_rdw(data, n)
        out: list[tuple[int, bytes]] = []
        if rdw:
            offset = 0
            for rec in split_rdw(data):
                if len(rec) != n:
                    raise DecodeError(f"RDW record is {len(rec)} bytes; {self.layout.name} is "
                                      f"{n}", format=self.name, offset=offset)
                out.append((offset + 4, rec))
                offset += len(rec) + 4
            return out
        if len(data) % n:
            raise DecodeError(f"{len(data)} bytes is not a whole number of {n}-byte records "
                              "(and no RDW found)", format=self.name,
                              offset=len(data) - len(data) % n)
        return [(i, bytes(data[i:i + n])) for i in range(0, len(data), n)]

    def decode_stream(self, data: bytes, rdw: bool | None = None) -> Iterator[Message]:
        """Every record of an RDW stream or of back-to-back fixed records (auto-detected)."""
        for offset, rec in self.split(data, rdw):
            try:
                yield self.decode(rec)
            except DecodeError as exc:
                exc.offset = offset + (exc.offset or 0)
                raise

    def encode_stream(self, msgs: list[Message], rdw: bool = True) -> bytes:
        records = [self.encode(m) for m in msgs]
        return join_rdw(records) if rdw else b"".join(records)

    # ------------------------------------------------------------------ introspection

    def fields(self, data: bytes) -> dict[str, Any]:
        """The raw field values of one record (before mapping), for diagnostics."""
        return self.layout.decode_fields(bytes(data))

    def source(self) -> str:
        """The generated decoder's Python source (what the fast path runs)."""
        src: str = self._fast_decode.__source__  # type: ignore[attr-defined]
        return src
