"""Short-lived access tokens the box issues to its OAuth clients (client credentials grant).

Why signed tokens (JWT, HS256 with the box's own key) and not a table of opaque tokens: each
request is checked with one HMAC and no write, and a restart keeps issued tokens valid until
they expire.  A revoked client's tokens stop at once (the client is looked up, cached for a
second).  A token asked for over a TLS connection with a client certificate is bound to that
certificate (RFC 8705 ``cnf.x5t#S256``): stolen, it is useless without the private key.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from .clients import Client, ClientStore

__all__ = ["TokenError", "Tokens", "Verified"]

ALGORITHM = "HS256"
#: seconds a looked-up client is trusted before it is read again (revocation delay)
CLIENT_CACHE = 1.0
#: seconds of clock skew allowed on ``exp`` and ``iat``
LEEWAY = 5
#: tokens verified and kept (their claims) at most; past it the cache starts again
VERIFIED_CACHE = 4096


class TokenError(Exception):
    """A token that cannot be used: ``error`` is RFC 6750's code (``invalid_token``)."""

    def __init__(self, detail: str, error: str = "invalid_token") -> None:
        super().__init__(detail)
        self.error = error


@dataclass(frozen=True, slots=True)
class Verified:
    client: Client
    claims: dict[str, Any]


class Tokens:
    def __init__(self, store: ClientStore, key: bytes, *, issuer: str, ttl: float) -> None:
        self.store = store
        self._key = key
        self.issuer = issuer
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Client | None]] = {}
        #: token -> its claims, once its signature and claims were checked: a token is the
        #: same bytes on every request of its client, and of its checks only ``exp`` can
        #: change its answer later (``iat`` and the signature cannot), so a repeat costs a
        #: dict lookup and the expiry check instead of a JWT decode (base64, JSON, HMAC)
        self._verified: dict[str, dict[str, Any]] = {}

    def issue(self, client: Client, cert_sha256: str | None, now: float | None = None
              ) -> tuple[str, int]:
        """A token for ``client`` (bound to the certificate when one was presented); the
        token and its lifetime in seconds."""
        at = int(time.time() if now is None else now)
        ttl = int(self.ttl)
        claims: dict[str, Any] = {"iss": self.issuer, "sub": client.id, "peer": client.peer,
                                  "iat": at, "exp": at + ttl, "jti": secrets.token_hex(8)}
        if cert_sha256:
            claims["cnf"] = {"x5t#S256": cert_sha256}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), ttl

    def client(self, client_id: str) -> Client | None:
        now = time.monotonic()
        hit = self._cache.get(client_id)
        if hit is not None and now - hit[0] < CLIENT_CACHE:
            return hit[1]
        found = self.store.get(client_id)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[client_id] = (now, found)
        return found

    def verify(self, token: str, cert_sha256: str | None, now: float | None = None
               ) -> Verified:
        """The client of a valid token: signed with the box's key, not expired, its client
        active, the certificate it is bound to presented; else TokenError.  The client is
        looked up on every call (a revocation applies within ``CLIENT_CACHE``), the token
        decoded only the first time it is seen (``_verified``).  ``now``: the clock of that
        later expiry check (``jwt.decode`` reads its own)."""
        claims = self._verified.get(token)
        if claims is not None:
            if int(claims["exp"]) <= (time.time() if now is None else now) - LEEWAY:
                del self._verified[token]  # as jwt.decode's own check of exp
                raise TokenError("the access token has expired")
        else:
            try:
                claims = jwt.decode(token, self._key, algorithms=[ALGORITHM],
                                    issuer=self.issuer,
                                    options={"require": ["exp", "iat", "sub", "iss"]},
                                    leeway=LEEWAY)
            except jwt.ExpiredSignatureError:
                raise TokenError("the access token has expired") from None
            except jwt.PyJWTError as exc:
                raise TokenError(f"the access token is not valid ({exc})") from None
            if len(self._verified) >= VERIFIED_CACHE:
                self._verified.clear()
            self._verified[token] = claims
        client = self.client(str(claims["sub"]))
        if client is None or not client.active:
            raise TokenError("the client of this token is revoked or unknown")
        bound = (claims.get("cnf") or {}).get("x5t#S256")
        if bound is not None and bound != cert_sha256:
            raise TokenError("the access token is bound to another client certificate "
                             "(RFC 8705)")
        return Verified(client, claims)
