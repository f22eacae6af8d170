"""TLS contexts with the security defaults of spec/switch.md, and certificate -> peer mapping.

Defaults: TLS 1.2 minimum; for 1.2 only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305
(AEAD, forward secret); TLS 1.3 suites are all AEAD.  Servers require a client certificate and
map it to a configured peer (mnemonic + allowed ORIs); a certificate that the CA trusts but the
configuration does not name is still refused -- trust in the CA is not authorisation.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clets.adapters.base import PeerIdentity
from clets.errors import ConfigError

__all__ = [
    "TLS12_CIPHERS",
    "PeerMap",
    "TlsPeer",
    "cert_names",
    "client_context",
    "harden",
    "server_context",
    "session_info",
    "subject_text",
]

#: OpenSSL cipher string for TLS 1.2: forward-secret AEAD only (no CBC, no RSA key exchange).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def harden(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """Apply the protocol floor and cipher policy to any context (also ones built by tests)."""
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(TLS12_CIPHERS)
    except ssl.SSLError as exc:  # pragma: no cover - depends on the OpenSSL build
        raise ConfigError(f"OpenSSL has none of the ciphers {TLS12_CIPHERS}: {exc}") from exc
    ctx.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    return ctx


def _load(ctx: ssl.SSLContext, cert: str | None, key: str | None, ca: str | None) -> None:
    try:
        if cert:
            ctx.load_cert_chain(cert, key or None)
        if ca:
            ctx.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        what = " ".join(x for x in (cert, key, ca) if x)
        raise ConfigError(f"cannot load TLS material ({what}): {exc}") from None


def server_context(
    cert: str, key: str | None, ca: str | None, *, require_client_cert: bool = True
) -> ssl.SSLContext:
    """Server side: our certificate, and the CA that signs peer certificates (mutual TLS)."""
    ctx = harden(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    _load(ctx, cert, key, ca)
    if require_client_cert:
        if not ca:
            raise ConfigError("mutual TLS needs a CA file to verify client certificates")
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(
    ca: str | None, cert: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """Client side: trust ``ca`` (system store when None), present ``cert`` when given."""
    ctx = harden(ssl.create_default_context(ssl.Purpose.SERVER_AUTH))
    _load(ctx, cert, key, ca)
    return ctx


def _rdn_items(seq: Any) -> Iterable[tuple[str, str]]:
    for rdn in seq or ():
        for key, value in rdn:
            yield str(key), str(value)


def subject_text(peercert: Mapping[str, Any] | None) -> str:
    """``CN=client-router-01,O=...`` from ``SSLObject.getpeercert()`` (empty when none)."""
    if not peercert:
        return ""
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}
    return ",".join(f"{short.get(k, k)}={v}" for k, v in _rdn_items(peercert.get("subject")))


def cert_names(peercert: Mapping[str, Any] | None) -> list[str]:
    """Names a certificate vouches for: SAN DNS/IP entries first, then the subject CN."""
    if not peercert:
        return []
    sans = peercert.get("subjectAltName", ())
    names = [str(v) for kind, v in sans if kind in ("DNS", "IP Address")]
    names += [v for k, v in _rdn_items(peercert.get("subject")) if k == "commonName"]
    return list(dict.fromkeys(names))  # a CN repeated as a SAN (the usual case) once


@dataclass(frozen=True, slots=True)
class TlsPeer:
    """One configured peer: what its certificate is called and what it may do."""

    mnemonic: str
    allowed_oris: frozenset[str] = field(default_factory=frozenset)


class PeerMap:
    """Certificate name (SAN DNS/IP or subject CN) -> configured peer."""

    def __init__(self, peers: Mapping[str, TlsPeer]) -> None:
        self._peers = dict(peers)

    @classmethod
    def from_config(cls, table: Mapping[str, Mapping[str, Any]]) -> PeerMap:
        """``{"client-router-01": {"mnemonic": "RTR1", "oris": ["CA0010000"]}}``."""
        peers: dict[str, TlsPeer] = {}
        for name, entry in table.items():
            mnemonic = entry.get("mnemonic")
            if not isinstance(mnemonic, str) or not mnemonic:
                raise ConfigError(f"peer {name!r}: mnemonic missing")
            oris = entry.get("oris", entry.get("allowed_oris", ()))
            peers[name] = TlsPeer(mnemonic, frozenset(str(o) for o in oris))
        return cls(peers)

    def identify(self, peercert: Mapping[str, Any] | None) -> PeerIdentity | None:
        """The identity for a verified certificate, or None when the configuration lacks it."""
        for name in cert_names(peercert):
            peer = self._peers.get(name)
            if peer is not None:
                return PeerIdentity(
                    mnemonic=peer.mnemonic,
                    allowed_oris=peer.allowed_oris,
                    method="tls-cert",
                    detail=subject_text(peercert) or name,
                )
        return None

    def __len__(self) -> int:
        return len(self._peers)


def session_info(obj: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any]:
    """What ``clets link test`` shows: version, cipher, bits, peer subject and names."""
    if obj is None:
        return {}
    cipher = obj.cipher()
    cert = obj.getpeercert()
    return {
        "version": obj.version(),
        "cipher": cipher[0] if cipher else None,
        "bits": cipher[2] if cipher else None,
        "peer_subject": subject_text(cert),
        "peer_names": cert_names(cert),
    }
