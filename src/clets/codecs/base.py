"""What every codec is, and the registry that finds one by name.

A codec is pure: ``decode(bytes) -> Message`` and ``encode(Message) -> bytes``, raising only
:class:`~clets.errors.DecodeError` and its subclasses.  It never touches a socket, a file or a
clock, so the same object serves the CLI, the switch, the tests and the benchmarks.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from clets.errors import DecodeError
from clets.model import Message

__all__ = ["Codec", "available", "get_codec", "register"]


@runtime_checkable
class Codec(Protocol):
    #: registry name, also written to ``Message.format`` on decode
    name: str
    #: one line for ``clets formats``
    description: str

    def decode(self, data: bytes) -> Message: ...

    def encode(self, msg: Message) -> bytes: ...

    def decode_stream(self, data: bytes) -> Iterator[Message]:
        """Every message in a byte string that may hold several (RDW stream, JSON lines)."""
        ...


# name -> "module:factory". Modules are imported on first use so that `clets formats` and the
# CLI start fast and a broken optional codec cannot take the others down.
_BUILTIN: dict[str, str] = {
    "json": "clets.codecs.jsoncodec:JsonCodec",
    "ncic": "clets.codecs.ncic:NcicCodec",
    "ncic-lenient": "clets.codecs.ncic:lenient_ncic",
    "nlets": "clets.codecs.nlets:NletsCodec",
    "niem": "clets.codecs.niem:NiemCodec",
    "dmv-reg-request": "clets.codecs.dmv:dmv_reg_request",
    "dmv-reg-response": "clets.codecs.dmv:dmv_reg_response",
    "dmv-dl-request": "clets.codecs.dmv:dmv_dl_request",
    "dmv-dl-response": "clets.codecs.dmv:dmv_dl_response",
}
_FACTORIES: dict[str, Callable[..., Codec]] = {}


def register(name: str, factory: Callable[..., Codec]) -> None:
    """Add a codec (e.g. one built from an agency's own copybook) under ``name``."""
    _FACTORIES[name] = factory


def _factory(name: str) -> Callable[..., Codec]:
    if name in _FACTORIES:
        return _FACTORIES[name]
    target = _BUILTIN.get(name)
    if target is None:
        raise DecodeError(f"unknown format {name!r}; known: {', '.join(available())}")
    module, attr = target.split(":")
    factory: Callable[..., Codec] = getattr(importlib.import_module(module), attr)
    _FACTORIES[name] = factory
    return factory


def get_codec(name: str, **options: object) -> Codec:
    """A codec by registry name; options (e.g. ``encoding="cp037"``) go to its factory."""
    return _factory(name)(**options)


def available() -> list[str]:
    """Names of every codec that can be loaded here."""
    names = []
    for name, target in _BUILTIN.items():
        module = target.split(":")[0]
        if importlib.util.find_spec(module) is not None:
            names.append(name)
    names += [n for n in _FACTORIES if n not in _BUILTIN]
    return names
