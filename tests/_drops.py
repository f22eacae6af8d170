"""Shared helpers for drop tests (spool and SFTP): a recording consumer and event collector."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class URL:
    """Stand-in with the attributes of clets.adapters.url.LinkURL (scheme, host, port, ...)."""

    scheme: str
    host: str | None = None
    port: int | None = None
    path: str = ""
    user: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def rdw(records: list[bytes]) -> bytes:
    return b"".join((len(r) + 4).to_bytes(2, "big") + b"\0\0" + r for r in records)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Recorder:
    """Consumer that records (file_id, index, payload) and can be told to fail."""

    got: list[tuple[str, int, bytes]] = field(default_factory=list)
    fail_at: int | None = None

    async def __call__(self, file_id: str, index: int, payload: bytes) -> None:
        if self.fail_at is not None and len(self.got) == self.fail_at:
            self.fail_at = None
            raise RuntimeError("consumer down")
        self.got.append((file_id, index, payload))

    def payloads(self) -> list[bytes]:
        return [p for _, _, p in self.got]


@dataclass
class Events:
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, event: str, details: dict[str, Any]) -> None:
        self.seen.append((event, details))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [d for e, d in self.seen if e == event]
