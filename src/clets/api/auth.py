"""Who is calling: a bearer token the box issued, a client certificate (mutual TLS), or
(plain HTTP on loopback only, when the config names a peer) nobody in particular; and how
often each caller may call.

Why the peer and not the person: CJIS has the switch check the ORI of a session, so every
caller resolves to a configured ``[[peer]]`` (its ORIs and access level, step 2); the person
is the ``operator`` each message names, carried into its audit records.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from clets.adapters.base import PeerIdentity
from clets.adapters.tls import PeerMap, subject_text
from clets.switch.config import SwitchConfig

from .clients import ClientStore, cert_thumbprint, signing_key
from .config import ApiConfig
from .problems import ApiProblem
from .tokens import TokenError, Tokens

__all__ = ["Authenticator", "Caller", "RateLimiter", "peer_cert", "peer_cert_sha256"]

#: token requests per second for the whole box, and at once
TOKEN_RATE = 10.0
TOKEN_BURST = 20


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: the client (its id, or its certificate's subject), the
    switch peer it acts as, and its own rate (None: the config's)."""

    client: str
    peer: PeerIdentity
    rate: float | None = None


def _state(request: Request) -> dict[str, Any]:
    """The request state's dict (what ``request.state`` wraps: the server's ``app_state``),
    read without making a ``State`` and raising its ``AttributeError`` for a name that is
    not there (each plain or token request did, twice)."""
    state = request.scope.get("state")
    return state if isinstance(state, dict) else {}


def peer_cert(request: Request) -> dict[str, Any] | None:
    """The verified client certificate of the request's TLS connection (``server.py`` puts
    it in the request state), or None."""
    return _state(request).get("clets_peer_cert") or None


def peer_cert_sha256(request: Request) -> str | None:
    der = _state(request).get("clets_peer_cert_der")
    return cert_thumbprint(der) if der else None


def _authorization(request: Request) -> str | None:
    """The ``Authorization`` header (the first), read from the ASGI scope: what
    ``request.headers.get`` gives, without a ``KeyError`` raised and caught on every request
    that has none (the plain and mutual TLS callers)."""
    for key, value in request.scope["headers"]:
        if key == b"authorization":
            return str(value.decode("latin-1"))
    return None


def unauthorized(detail: str, error: str | None = None) -> ApiProblem:
    challenge = 'Bearer realm="clets"' + (f', error="{error}"' if error else "")
    return ApiProblem(401, "unauthorized", "Unauthorized", detail,
                      headers={"WWW-Authenticate": challenge}, error=error)


class RateLimiter:
    """A token bucket per client: ``rate`` requests per second, ``burst`` at once; a caller
    over it gets 429 with ``Retry-After`` (whole seconds, at least 1)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str, rate: float | None = None, now: float | None = None) -> None:
        r = rate or self.rate
        t = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(client, (float(self.burst), t))
        tokens = min(float(self.burst), tokens + (t - last) * r)
        if tokens < 1.0:
            self._buckets[client] = (tokens, t)
            wait = max(1, math.ceil((1.0 - tokens) / r))
            raise ApiProblem(429, "rate-limited", "Too Many Requests",
                             f"more than {r:g} requests per second", headers={
                                 "Retry-After": str(wait)}, retry_after=wait)
        if len(self._buckets) > 65536:
            self._buckets.clear()
        self._buckets[client] = (tokens - 1.0, t)


class Authenticator:
    """Maps a request to a :class:`Caller`, or raises a 401 problem."""

    def __init__(self, api: ApiConfig, config: SwitchConfig) -> None:
        self.api = api
        self.config = config
        self.certs = PeerMap.from_config({
            p.cert_subject: {"mnemonic": p.mnemonic, "oris": sorted(p.oris)}
            for p in config.peers.values() if p.cert_subject})
        assert api.clients is not None and api.signing_key is not None
        self.store = ClientStore(api.clients)
        self.tokens = Tokens(self.store, signing_key(api.signing_key), issuer=api.issuer,
                             ttl=api.token_ttl)
        self.limiter = RateLimiter(api.rate, api.burst)
        #: the token endpoint as a whole: each request costs an Argon2 hash (tens of ms of
        #: CPU), so guessing under many client ids must not take the switch's cores
        self.token_limiter = RateLimiter(TOKEN_RATE, TOKEN_BURST)
        #: the caller of plain HTTP (the same for every request: made once)
        self._plain: Caller | None = None

    def peer_identity(self, mnemonic: str, method: str, detail: str | None = None
                      ) -> PeerIdentity:
        peer = self.config.peers.get(mnemonic)
        oris = peer.oris if peer is not None else frozenset()
        return PeerIdentity(mnemonic=mnemonic, allowed_oris=oris, method=method,
                            detail=detail)

    def identify(self, request: Request) -> Caller:
        """The caller, rate-limited.  A bearer token wins over the certificate (which it
        may be bound to); a certificate alone is its configured peer (``cert_subject``)."""
        caller = self._identify(request)
        self.limiter.take(caller.client, caller.rate)
        return caller

    def _identify(self, request: Request) -> Caller:
        header = _authorization(request)
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise unauthorized("Authorization must be 'Bearer <access token>'",
                                   "invalid_request")
            try:
                found = self.tokens.verify(token.strip(), peer_cert_sha256(request))
            except TokenError as exc:
                raise unauthorized(str(exc), exc.error) from None
            client = found.client
            if client.peer not in self.config.peers:
                raise unauthorized(f"client {client.id}: peer {client.peer} is not configured",
                                   "invalid_token")
            return Caller(client.id, self.peer_identity(client.peer, "oauth", client.id),
                          client.rate)
        cert = peer_cert(request)
        if cert is not None:
            ident = self.certs.identify(cert)
            if ident is None:
                raise unauthorized(f"certificate {subject_text(cert)!r} names no configured "
                                   "peer; present a bearer token")
            return Caller(ident.detail or ident.mnemonic or "?", ident)
        if self.api.plain and self.api.peer is not None:
            if self._plain is None:
                self._plain = Caller(self.api.peer, self.peer_identity(self.api.peer, "plain"))
            return self._plain
        raise unauthorized("a client certificate or a bearer token is required")

    async def client_credentials(self, request: Request, form: dict[str, str]) -> Any:
        """RFC 6749 4.4: the client authenticated by HTTP Basic or by ``client_id`` and
        ``client_secret`` in the form; the token bound to the certificate of the
        connection when there is one (RFC 8705).  Errors carry OAuth's ``error`` code."""
        import asyncio
        import base64
        import binascii
        from urllib.parse import unquote

        if form.get("grant_type") != "client_credentials":
            raise ApiProblem(400, "oauth", "Bad Request",
                             "grant_type must be client_credentials",
                             error="unsupported_grant_type")
        cid, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(header[6:].strip(), validate=True).decode()
                user, _, pw = raw.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise _invalid_client("malformed Basic credentials") from None
            cid, secret = unquote(user), unquote(pw)
        if not cid or not secret or len(cid) > 64 or len(secret) > 256:
            raise _invalid_client("client_id and client_secret are required")
        # per client id and in all, before the (deliberately slow) hash
        self.limiter.take("token:" + cid)
        self.token_limiter.take("*")
        client = await asyncio.to_thread(self.store.verify, cid, secret)
        if client is None:
            raise _invalid_client("unknown client or wrong secret")
        thumb = peer_cert_sha256(request)
        if client.cert_sha256 and client.cert_sha256 != thumb:
            raise _invalid_client("this client must present its registered certificate "
                                  "(RFC 8705)")
        token, ttl = self.tokens.issue(client, thumb)
        return {"access_token": token, "token_type": "Bearer", "expires_in": ttl}


def _invalid_client(detail: str) -> ApiProblem:
    return ApiProblem(401, "oauth", "Unauthorized", detail, error="invalid_client",
                      headers={"WWW-Authenticate": 'Basic realm="clets"'})
