"""The OAuth 2.0 clients of the API (``clets api client add|list|revoke``) and the key the
box signs their access tokens with.

Why a store of its own (SQLite, beside the journal by default): clients change while the switch
runs (a new CAD vendor, a revoked secret) and must not need a config reload; the journal is
the message record and stays so.  Secrets are never stored: only their Argon2id hash
(argon2-cffi's defaults, RFC 9106's second recommended profile), so a copy of the file
gives nobody a working secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from clets.errors import ConfigError

__all__ = ["Client", "ClientStore", "cert_thumbprint", "signing_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    -- RFC 8705: base64url SHA-256 of the client certificate the client must present (or NULL)
    cert_sha256 TEXT,
    -- requests per second (NULL: the [api] rate)
    rate REAL,
    created_at REAL NOT NULL,
    revoked_at REAL,
    -- where the client's peer's deliveries are POSTed (NULL: no webhook), the whsec_ secret
    -- they are signed with (kept as it is: the box signs with it), a PEM CA file to trust
    webhook_url TEXT,
    webhook_secret TEXT,
    webhook_ca TEXT
);
"""
#: columns added after the first release of the table (an older store gets them at open)
_ADDED = (("webhook_url", "TEXT"), ("webhook_secret", "TEXT"), ("webhook_ca", "TEXT"))
_COLUMNS = "id, peer, cert_sha256, rate, created_at, revoked_at, webhook_url, webhook_ca"

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_HASHER = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    peer: str
    cert_sha256: str | None
    rate: float | None
    created_at: float
    revoked_at: float | None
    #: the client's webhook (``clets api client add --webhook``), its CA file
    webhook_url: str | None = None
    webhook_ca: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def cert_thumbprint(der: bytes) -> str:
    """RFC 8705 ``x5t#S256``: base64url (no padding) of the SHA-256 of the DER certificate."""
    import base64

    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


class ClientStore:
    """The client table; every call opens its own short connection (the CLI and the running
    switch share the file; SQLite serialises writers)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _conn(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        if not create and not self.path.exists():
            raise ConfigError(f"no API client store at {self.path} (clets api client add "
                              "makes it)", source=str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=5.0)
        try:
            if create:
                conn.executescript(_SCHEMA)
                with contextlib.suppress(OSError):
                    os.chmod(self.path, 0o600)
            have = {r[1] for r in conn.execute("PRAGMA table_info(clients)")}
            for name, kind in _ADDED:
                if have and name not in have:
                    conn.execute(f"ALTER TABLE clients ADD COLUMN {name} {kind}")
            with conn:
                yield conn
        finally:
            conn.close()

    def add(self, peer: str, *, client_id: str | None = None, cert_sha256: str | None = None,
            rate: float | None = None, now: float | None = None,
            webhook: tuple[str, str, str | None] | None = None) -> tuple[Client, str]:
        """A new client of ``peer``; its secret, shown once.  ``webhook``: (url, whsec_
        secret, CA file or None) of its webhook."""
        cid = client_id or f"{peer.lower()}-{secrets.token_hex(4)}"
        if not ID_RE.fullmatch(cid):
            raise ConfigError(f"client id {cid!r}: 1-64 letters, digits, _ . -")
        secret = secrets.token_urlsafe(32)
        at = time.time() if now is None else now
        with self._conn(create=True) as conn:
            try:
                conn.execute("INSERT INTO clients (id, peer, secret_hash, cert_sha256, rate, "
                             "created_at, webhook_url, webhook_secret, webhook_ca) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (cid, peer, _HASHER.hash(secret), cert_sha256, rate, at,
                              *(webhook or (None, None, None))))
            except sqlite3.IntegrityError:
                raise ConfigError(f"client id {cid!r} exists already") from None
        url, _s, ca = webhook or (None, None, None)
        return Client(cid, peer, cert_sha256, rate, at, None, url, ca), secret

    def set_webhook(self, client_id: str, webhook: tuple[str, str, str | None] | None
                    ) -> bool:
        """Set (url, secret, CA) or remove (None) an active client's webhook; False when
        no active client has that id."""
        url, secret, ca = webhook or (None, None, None)
        if secret is not None and self.path.exists():  # a secret kept in clear: the file
            with contextlib.suppress(OSError):         # its owner's only (again) first
                os.chmod(self.path, 0o600)
        with self._conn() as conn:
            n = conn.execute("UPDATE clients SET webhook_url = ?, webhook_secret = ?, "
                             "webhook_ca = ? WHERE id = ? AND revoked_at IS NULL",
                             (url, secret, ca, client_id)).rowcount
        return n > 0

    def webhooks(self) -> list[tuple[str, str, str, str, str | None]]:
        """(client id, peer, url, secret, CA) of every active client with a webhook."""
        if not self.path.exists():
            return []
        with self._conn() as conn:
            return list(conn.execute(
                "SELECT id, peer, webhook_url, webhook_secret, webhook_ca FROM clients "
                "WHERE revoked_at IS NULL AND webhook_url IS NOT NULL ORDER BY id"))

    def get(self, client_id: str) -> Client | None:
        if not self.path.exists():
            return None
        with self._conn() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM clients WHERE id = ?",
                               (client_id,)).fetchone()
        return Client(*row) if row else None

    def list(self) -> list[Client]:
        if not self.path.exists():
            return []
        with self._conn() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM clients ORDER BY created_at, id"
                                ).fetchall()
        return [Client(*r) for r in rows]

    def revoke(self, client_id: str, now: float | None = None) -> bool:
        """Revoke a client (its tokens stop working at once); False when none is active."""
        with self._conn() as conn:
            n = conn.execute("UPDATE clients SET revoked_at = ? WHERE id = ? AND revoked_at "
                             "IS NULL", (time.time() if now is None else now,
                                         client_id)).rowcount
        return n > 0

    def verify(self, client_id: str, secret: str) -> Client | None:
        """The active client whose secret this is, else None (slow by design: Argon2)."""
        if not self.path.exists():
            return None
        with self._conn() as conn:
            row = conn.execute("SELECT secret_hash FROM clients WHERE id = ? AND revoked_at "
                               "IS NULL", (client_id,)).fetchone()
        if row is None:
            _HASHER.hash(secret)  # the same work either way: no timing tells an id exists
            return None
        try:
            _HASHER.verify(row[0], secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return self.get(client_id)


def signing_key(path: Path) -> bytes:
    """The HMAC key access tokens are signed with: 32 random bytes, made once (mode 0600).
    Deleting the file invalidates every token issued (a new key is made at the next start)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.hex().encode())
        return key
    try:
        key = bytes.fromhex(data.decode().strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < 32:
        raise ConfigError(f"API signing key {path}: not 32+ bytes of hex", source=str(path))
    return key
