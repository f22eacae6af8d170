"""Who is calling: a client certificate (mutual TLS), a bearer token, or (plain HTTP on
loopback only, when the config names a peer) nobody in particular.

Why the peer and not the person: CJIS has the switch check the ORI of a session, so every
caller resolves to a configured ``[[peer]]`` (its ORIs and access level, step 2); the person
is the ``operator`` each message names, carried into its audit records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from clets.adapters.base import PeerIdentity
from clets.adapters.tls import PeerMap, subject_text
from clets.switch.config import SwitchConfig

from .config import ApiConfig
from .problems import ApiProblem

__all__ = ["Authenticator", "Caller", "peer_cert"]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: the client (its id, or its certificate's subject) and the
    switch peer it acts as."""

    client: str
    peer: PeerIdentity


def peer_cert(request: Request) -> dict[str, Any] | None:
    """The verified client certificate of the request's TLS connection (``server.py`` puts
    it in the request state), or None."""
    return getattr(request.state, "clets_peer_cert", None) or None


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthorized", "Unauthorized", detail,
                      headers={"WWW-Authenticate": 'Bearer realm="clets"'})


class Authenticator:
    """Maps a request to a :class:`Caller`, or raises a 401 problem."""

    def __init__(self, api: ApiConfig, config: SwitchConfig) -> None:
        self.api = api
        self.config = config
        self.certs = PeerMap.from_config({
            p.cert_subject: {"mnemonic": p.mnemonic, "oris": sorted(p.oris)}
            for p in config.peers.values() if p.cert_subject})

    def peer_identity(self, mnemonic: str, method: str, detail: str | None = None
                      ) -> PeerIdentity:
        peer = self.config.peers.get(mnemonic)
        oris = peer.oris if peer is not None else frozenset()
        return PeerIdentity(mnemonic=mnemonic, allowed_oris=oris, method=method,
                            detail=detail)

    def identify(self, request: Request) -> Caller:
        cert = peer_cert(request)
        if cert is not None:
            ident = self.certs.identify(cert)
            if ident is None:
                raise unauthorized(f"certificate {subject_text(cert)!r} names no configured "
                                   "peer")
            return Caller(ident.detail or ident.mnemonic or "?", ident)
        if self.api.plain and self.api.peer is not None:
            return Caller(self.api.peer, self.peer_identity(self.api.peer, "plain"))
        raise unauthorized("a client certificate or a bearer token is required")
