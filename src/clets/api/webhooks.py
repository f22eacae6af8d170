"""Webhook signatures as Standard Webhooks defines them (https://www.standardwebhooks.com).

A delivery is POSTed with three headers: ``webhook-id`` (the journal's id of the delivery, the
same on every retry, so a receiver drops repeats by it), ``webhook-timestamp`` (Unix seconds
of this attempt) and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of
``{id}.{timestamp}.{body}`` under the client's secret.  The secret is written ``whsec_`` and
the base64 of its bytes; a header may carry several signatures separated by spaces (a secret
being rotated), and a receiver accepts the message when one of them matches.

Why this scheme: receivers already have libraries for it in every language (the Standard
Webhooks ones, Svix's), the id and timestamp are signed with the body so a captured request
cannot be replayed later or under another id, and verifying needs the standard library only
(docs/api.md shows it in a few lines of Python).

Pure: no clock (``now`` is an argument), no I/O; ``new_secret`` alone draws random bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from clets.errors import SecurityError

__all__ = ["PREFIX", "TOLERANCE", "WebhookVerificationError", "headers", "new_secret",
           "secret_bytes", "sign", "verify"]

#: how a secret is written: ``whsec_`` + base64 of its bytes
PREFIX = "whsec_"
#: seconds a timestamp may be off the receiver's clock, either way (the spec's five minutes)
TOLERANCE = 300
#: the secret's size when clets makes one (the spec asks for 24 to 64 bytes)
SECRET_BYTES = 32
#: signatures one header may carry at most (a hostile header of thousands is refused)
MAX_SIGNATURES = 16


class WebhookVerificationError(SecurityError):
    """A webhook request refused: a header missing or malformed, a timestamp out of the
    tolerance, or no signature that matches (the reason says which)."""


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The key of a secret written ``whsec_<base64>`` (the prefix is optional, as the
    Standard Webhooks libraries accept it)."""
    text = secret[len(PREFIX):] if secret.startswith(PREFIX) else secret
    try:
        key = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise WebhookVerificationError("webhook secret is not whsec_ and base64") from None
    if not key:
        raise WebhookVerificationError("webhook secret is empty")
    return key


def _mac(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of
    ``{msg_id}.{timestamp}.{body}``."""
    mac = _mac(secret_bytes(secret), msg_id, timestamp, body)
    return "v1," + base64.b64encode(mac).decode("ascii")


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a signed delivery."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body)}


def verify(secret: str, header: Mapping[str, str], body: bytes, now: float,
           tolerance: float = TOLERANCE) -> str:
    """Check a received webhook; its ``webhook-id`` when one signature matches, else
    :class:`WebhookVerificationError` naming what is wrong.  ``header`` is looked up in
    lower case (HTTP header names are case-insensitive; pass them lower-cased)."""
    msg_id = header.get("webhook-id")
    stamp = header.get("webhook-timestamp")
    sigs = header.get("webhook-signature")
    for name, value in (("webhook-id", msg_id), ("webhook-timestamp", stamp),
                        ("webhook-signature", sigs)):
        if not value:
            raise WebhookVerificationError(f"missing header {name}")
    assert msg_id is not None and stamp is not None and sigs is not None
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise WebhookVerificationError(f"webhook-timestamp is not Unix seconds: {stamp[:40]!r}")
    ts = int(stamp)
    if abs(now - ts) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp {ts} is more than {tolerance:g} s from now ({int(now)})")
    want = _mac(secret_bytes(secret), msg_id, ts, body)
    parts = sigs.split(" ")
    if len(parts) > MAX_SIGNATURES:
        raise WebhookVerificationError(f"webhook-signature has {len(parts)} signatures "
                                       f"(at most {MAX_SIGNATURES})")
    for part in parts:
        version, sep, value = part.partition(",")
        if version != "v1" or not sep:
            continue  # another scheme (v1a: asymmetric) or a stray space
        try:
            got = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            continue
        if hmac.compare_digest(got, want):
            return msg_id
    raise WebhookVerificationError("no webhook-signature matches")
