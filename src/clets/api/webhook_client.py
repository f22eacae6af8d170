"""Webhooks: where a client's deliveries are POSTed (``[[api.webhook]]``), and the poster.

::

    [[api.webhook]]
    peer = "CAD"                              # the client (a [[peer]] mnemonic)
    url = "https://cad.example.org/clets"     # http:// only to a loopback address
    secret_file = "cad-webhook.secret"        # whsec_<base64>: clets api webhook-secret FILE
    # ca = "cad-ca.pem"                       # a private CA of the receiver's certificate
    # timeout = 10                            # seconds for one POST

Each delivery is one POST of ``application/json`` -- ``{"type": "clets.delivery",
"timestamp": ..., "data": <the event>}`` -- signed as Standard Webhooks does (``webhooks``).
Anything but a 2xx answer (a refused connection, a timeout, a 5xx, a redirect) is a
:class:`~clets.errors.LinkError`: the switch keeps the delivery queued in the journal and
retries it by ``[switch.retry]`` (backoff, then a dead letter, audited), so a receiver that is
down gets everything when it is back, at least once: ``webhook-id`` is the same on every
attempt, and a receiver drops the ids it has seen.

Or on an API client (``clets api client add --webhook URL``, kept in the client store and
read again while the switch runs): deliveries belong to a peer (every client of a peer shares
them), so each client with a webhook gets every delivery of its peer, signed with its own
secret.  Both forms may be used together.
"""

from __future__ import annotations

import logging
import math
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from clets.errors import LinkError

from . import webhooks
from .events import encode

log = logging.getLogger("clets.api")

__all__ = ["WEBHOOK_KEYS", "ClientWebhooks", "WebhookPoster", "WebhookTarget",
           "parse_webhooks", "url_problem"]

WEBHOOK_KEYS = {"peer", "url", "secret_file", "ca", "timeout"}
#: the event type of every POST (one kind: a delivery; its message says what it is)
EVENT_TYPE = "clets.delivery"
#: bytes of a receiver's answer read at most (its status is what counts)
MAX_ANSWER_BYTES = 65536


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """One client's webhook: where, signed with what, trusting which CA."""

    peer: str
    url: str
    secret: str
    ca: Path | None = None
    timeout: float = 10.0

    def __repr__(self) -> str:  # the secret stays out of logs
        return f"WebhookTarget(peer={self.peer!r}, url={self.url!r})"


def _loopback(host: str) -> bool:
    from .config import is_loopback

    return is_loopback(host)


def url_problem(url: str) -> str | None:
    """What is wrong with a webhook URL, or None: https, or plain http to a loopback
    address only (deliveries are CJI)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "url must be https://HOST[:PORT]/PATH"
    if parts.scheme not in ("https", "http") or not host:
        return "url must be https://HOST[:PORT]/PATH"
    if parts.scheme == "http" and not _loopback(host):
        return "plain http:// only to a loopback address (deliveries are CJI)"
    return None


class ClientWebhooks:
    """The webhooks of a client (``webhooks(peer)``, what ``EventHub`` asks at each
    delivery): the config's ``[[api.webhook]]`` of the peer, and those set on the active
    API clients of the peer in the client store (``clets api client add --webhook``).

    Why the store is read again only when its file changed (its size and mtime), looked at
    once per ``interval`` seconds at most: a client added, changed or revoked while the
    switch runs takes effect within a second, and a delivery costs neither a query nor a
    ``stat`` (three deliveries per inquiry)."""

    #: seconds between two looks at the store file
    interval = 1.0

    def __init__(self, configured: tuple[WebhookTarget, ...], store: Path | None) -> None:
        self.by_peer: dict[str, list[WebhookTarget]] = {}
        for target in configured:
            self.by_peer.setdefault(target.peer, []).append(target)
        self.store = store
        self._stamp: tuple[int, int] | None = None
        self._clients: dict[str, list[WebhookTarget]] = {}
        self._looked = -math.inf

    def __call__(self, peer: str) -> list[WebhookTarget]:
        clients = self._from_store().get(peer)
        configured = self.by_peer.get(peer)
        if clients is None:
            return configured or []
        return [*(configured or ()), *clients]

    def _from_store(self) -> dict[str, list[WebhookTarget]]:
        if self.store is None:
            return self._clients
        now = time.monotonic()
        if now - self._looked < self.interval:
            return self._clients
        self._looked = now
        try:
            st = self.store.stat()
        except OSError:
            self._stamp, self._clients = None, {}
            return self._clients
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            from .clients import ClientStore

            found: dict[str, list[WebhookTarget]] = {}
            try:
                rows = ClientStore(self.store).webhooks()
            except Exception:  # a store being written: the last good read, again next time
                return self._clients
            if rows and st.st_mode & 0o077:
                log.warning("the API client store %s holds webhook secrets in clear and is "
                            "readable by others (mode %o): chmod 600 it (docs/api.md, "
                            "Webhooks)", self.store, st.st_mode & 0o777)
            for _cid, peer, url, secret, ca in rows:
                found.setdefault(peer, []).append(
                    WebhookTarget(peer, url, secret, Path(ca) if ca else None))
            self._stamp, self._clients = stamp, found
        return self._clients


def parse_webhooks(c: Any, raw: Any, peers: Any, base: Path) -> tuple[WebhookTarget, ...]:
    """``[[api.webhook]]`` entries, checked (``c``: the config's checker, problems with lines).
    The secret file is read here: a missing or malformed one stops the start, not the first
    delivery."""
    if raw is None:
        return ()
    t = "api.webhook"
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        c.add("[[api.webhook]] must be a list of tables", "api")
        return ()
    out: list[WebhookTarget] = []
    seen: set[tuple[str, str]] = set()
    for i, e in enumerate(raw):
        c.unknown(e, WEBHOOK_KEYS, t, i)
        where = c.where(t, i)
        peer = c.get(e, "peer", str, t, i, required=True, default="")
        if peer and peer not in peers:
            c.add(f"{where}: peer {peer!r} is not a [[peer]] mnemonic", t, i, "peer")
        url = c.get(e, "url", str, t, i, required=True, default="")
        problem = url_problem(url) if url else None
        if problem is not None:
            c.add(f"{where}: {problem}", t, i, "url")
        secret = ""
        sf = c.get(e, "secret_file", str, t, i, required=True)
        if sf is not None:
            path = Path(sf) if Path(sf).is_absolute() else base / sf
            try:
                secret = path.read_text("utf-8").strip()
                webhooks.secret_bytes(secret)
                if not secret.startswith(webhooks.PREFIX):
                    raise webhooks.WebhookVerificationError("no whsec_ prefix")
            except (OSError, UnicodeDecodeError, webhooks.WebhookVerificationError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                c.add(f"{where}: secret_file {str(path)!r}: {why} (a whsec_ secret: "
                      "clets api webhook-secret FILE)", t, i, "secret_file")
        ca = c.get(e, "ca", str, t, i)
        ca_path = None if ca is None else (Path(ca) if Path(ca).is_absolute() else base / ca)
        if ca_path is not None and not ca_path.is_file():
            c.add(f"{where}: ca {str(ca_path)!r} is not a file", t, i, "ca")
        timeout = c.number(e, "timeout", t, i, 10.0, maximum=120.0)
        if (peer, url) in seen:
            c.add(f"{where}: the same webhook twice", t, i, "url")
        seen.add((peer, url))
        out.append(WebhookTarget(peer, url, secret, ca_path, timeout))
    return tuple(out)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class WebhookPoster:
    """POSTs signed deliveries (one httpx client per CA, kept open: connections are reused).
    TLS as the links: certificate verified, TLS 1.2 or later."""

    def __init__(self) -> None:
        self._clients: dict[Path | None, httpx.AsyncClient] = {}

    def _client(self, target: WebhookTarget) -> httpx.AsyncClient:
        client = self._clients.get(target.ca)
        if client is None:
            ctx = ssl.create_default_context(
                cafile=str(target.ca) if target.ca is not None else None)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            client = httpx.AsyncClient(verify=ctx, follow_redirects=False, trust_env=False)
            self._clients[target.ca] = client
        return client

    @staticmethod
    def body(event_id: int, data: dict[str, Any], now: float) -> bytes:
        return encode({"type": EVENT_TYPE, "timestamp": _iso(now), "data": data})

    async def post(self, target: WebhookTarget, event_id: int, data: dict[str, Any],
                   now: float) -> None:
        """One signed POST; LinkError unless the receiver answered 2xx."""
        body = self.body(event_id, data, now)
        headers = webhooks.headers(target.secret, str(event_id), int(now), body)
        headers["content-type"] = "application/json"
        try:
            async with self._client(target).stream("POST", target.url, content=body,
                                                   headers=headers,
                                                   timeout=target.timeout) as r:
                status = r.status_code
                read = 0  # the answer's body means nothing: read a little (the connection
                async for chunk in r.aiter_raw():  # is reused), never a hostile gigabyte
                    read += len(chunk)
                    if read > MAX_ANSWER_BYTES:
                        break
        except httpx.HTTPError as exc:
            raise LinkError(f"webhook {target.url}: {type(exc).__name__}: {exc}"[:200],
                            link="webhook", peer=target.peer) from None
        if not 200 <= status < 300:
            raise LinkError(f"webhook {target.url}: HTTP {status}", link="webhook",
                            peer=target.peer)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
