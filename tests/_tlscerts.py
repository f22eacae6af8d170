"""Throw-away PKI for link tests (trustme): a CA, a server certificate, client certificates."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Coroutine
from typing import Any, TypeVar

import trustme

from clets.adapters.tls import PeerMap, TlsPeer, harden

T = TypeVar("T")


class Pki:
    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.server_cert = self.ca.issue_cert("localhost", "127.0.0.1")
        self.peers = PeerMap({
            "client-router-01": TlsPeer("RTR1", frozenset({"CA0010000", "CA0010001"})),
            "client-router-02": TlsPeer("RTR2", frozenset({"CA0020000"})),
        })

    def server_ctx(self) -> ssl.SSLContext:
        ctx = harden(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
        self.server_cert.configure_cert(ctx)
        self.ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def client_ctx(self, name: str | None = "client-router-01", *,
                   ca: trustme.CA | None = None) -> ssl.SSLContext:
        ctx = harden(ssl.create_default_context(ssl.Purpose.SERVER_AUTH))
        self.ca.configure_trust(ctx)
        if name is not None:
            (ca or self.ca).issue_cert(name).configure_cert(ctx)
        return ctx


class Events:
    """An on_event hook that records (name, details) for assertions."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, details: dict[str, Any]) -> None:
        self.items.append((name, details))

    def names(self) -> list[str]:
        return [n for n, _ in self.items]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [d for n, d in self.items if n == name]

    async def wait_for(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while not self.of(name):
                await asyncio.sleep(0.01)
        return self.of(name)[0]


def arun(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a coroutine with a hard deadline (every link test must end)."""

    async def guarded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(guarded())
