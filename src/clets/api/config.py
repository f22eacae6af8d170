"""The ``[api]`` table of the switch config: where the HTTP API listens, its TLS, its limits.

Why here and not in ``switch/config.py``: the switch keeps the table as written
(``SwitchConfig.api``) and never reads it; this module checks it with the same checker, so a
mistake is reported as ``FILE:LINE: REASON`` like every other config problem.

::

    [api]
    listen = "0.0.0.0:8443"
    cert = "api.pem"          # the server's certificate chain
    key = "api.key"
    ca = "clients-ca.pem"     # client certificates (mutual TLS) are checked against it
    clients = "api-clients.db"  # OAuth clients (clets api client add|list|revoke)
    # plain = true            # plain HTTP: only on a loopback address, only when asked
    # peer = "CAD"            # the peer of unauthenticated requests (plain only, tests)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clets.switch.config import (
    NAME_RE,
    ConfigProblems,
    SwitchConfig,
    _Checker,
    parse_host_port,
)

__all__ = ["API_KEYS", "ApiConfig", "api_config", "is_loopback"]

API_KEYS = {"name", "listen", "cert", "key", "ca", "plain", "peer", "clients", "max_body_bytes",
            "max_header_bytes", "max_wait", "token_ttl", "rate", "burst", "issuer",
            "signing_key", "webhook"}


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """One HTTP API endpoint of the switch."""

    #: the switch link's name (``api``); its per-codec links are ``<name>-<codec>``
    name: str
    host: str
    port: int
    cert: Path | None = None
    key: Path | None = None
    #: CA of client certificates: mutual TLS when set (a certificate is then optional:
    #: clients without one use OAuth tokens)
    ca: Path | None = None
    plain: bool = False
    #: the peer of a request that carries no credential (plain HTTP on loopback only)
    peer: str | None = None
    #: the OAuth client store (``clets api client``)
    clients: Path | None = None
    #: a request body larger than this is refused (413) before it is read
    max_body_bytes: int = 65536
    #: request heads larger than this are refused (431) by the HTTP parser
    max_header_bytes: int = 16384
    #: the longest ``?wait=`` a client may ask for, seconds
    max_wait: float = 30.0
    #: lifetime of an access token, seconds
    token_ttl: float = 300.0
    #: requests per second per client (token bucket), and the bucket's size
    rate: float = 50.0
    burst: int = 100
    #: the ``iss`` of the tokens this box signs
    issuer: str = "clets"
    #: the HMAC key tokens are signed with (default: beside the client store, made once)
    signing_key: Path | None = None
    #: ``[[api.webhook]]``: where each client's deliveries are POSTed (webhook_client)
    webhooks: tuple[Any, ...] = ()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_config(cfg: SwitchConfig, text: str | None = None) -> ApiConfig | None:
    """``[api]`` of a parsed switch config (None when it has none); ``ConfigProblems`` lists
    every problem, with lines when ``text`` (the config's text) is given or its source file
    can be read."""
    raw = cfg.api
    if raw is None:
        return None
    if text is None:
        try:
            text = Path(cfg.source).read_text("utf-8")
        except OSError:
            text = ""
    c = _Checker(text, cfg.source)
    base = Path(cfg.source).parent if cfg.source != "<config>" else Path.cwd()
    out = _parse(c, raw, cfg, base)
    if c.problems:
        raise ConfigProblems(c.problems, cfg.source)
    return out


def _parse(c: _Checker, raw: Any, cfg: SwitchConfig, base: Path) -> ApiConfig | None:
    t = "api"
    if not isinstance(raw, dict):
        c.add("[api] must be a table", t)
        return None
    c.unknown(raw, API_KEYS, t, None)
    name = c.get(raw, "name", str, t, None, default="api")
    if not NAME_RE.fullmatch(name) or name in cfg.links:
        c.add("[api]: name must be 1-32 letters, digits, _ or - and not a [[link]] name", t,
              None, "name")
    listen = c.get(raw, "listen", str, t, None, required=True, default="127.0.0.1:0")
    hp = parse_host_port(listen)
    if hp is None:
        c.add('[api]: listen must be HOST:PORT (e.g. "0.0.0.0:8443")', t, None, "listen")
        hp = ("127.0.0.1", 0)
    plain = c.get(raw, "plain", bool, t, None, default=False)

    def path(key: str) -> Path | None:
        value = c.get(raw, key, str, t, None)
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else base / p

    cert, key, ca = path("cert"), path("key"), path("ca")
    if plain:
        if not is_loopback(hp[0]):
            c.add("[api]: plain HTTP only on a loopback address (127.0.0.1, ::1)", t, None,
                  "plain")
    elif cert is None or key is None:
        c.add("[api]: HTTPS needs cert and key (plain = true only on loopback)", t, None,
              "cert")
    peer = c.get(raw, "peer", str, t, None)
    if peer is not None and peer not in cfg.peers:
        c.add(f"[api]: peer {peer!r} is not a [[peer]] mnemonic", t, None, "peer")
    if peer is not None and not plain:
        c.add("[api]: peer (requests without credentials) only with plain = true", t, None,
              "peer")
    clients = path("clients") or cfg.switch.journal.with_name("api-clients.db")
    signing = path("signing_key") or clients.with_name(clients.name + ".key")
    max_body = c.get(raw, "max_body_bytes", int, t, None, default=65536)
    if not 1024 <= max_body <= 16 << 20:
        c.add("[api]: max_body_bytes must be between 1024 and 16777216", t, None,
              "max_body_bytes")
    max_head = c.get(raw, "max_header_bytes", int, t, None, default=16384)
    if not 1024 <= max_head <= 1 << 20:
        c.add("[api]: max_header_bytes must be between 1024 and 1048576", t, None,
              "max_header_bytes")
    max_wait = c.number(raw, "max_wait", t, None, 30.0, maximum=300.0)
    ttl = c.number(raw, "token_ttl", t, None, 300.0, maximum=86400.0)
    rate = c.number(raw, "rate", t, None, 50.0)
    burst = c.get(raw, "burst", int, t, None, default=100)
    if burst < 1:
        c.add("[api]: burst must be >= 1", t, None, "burst")
    issuer = c.get(raw, "issuer", str, t, None, default="clets")
    from .webhook_client import parse_webhooks

    webhooks = parse_webhooks(c, raw.get("webhook"), cfg.peers, base)
    return ApiConfig(name, hp[0], hp[1], cert, key, ca, bool(plain), peer, clients,
                     max_body, max_head, max_wait, ttl, rate, max(1, burst), issuer, signing,
                     webhooks=webhooks)


def api_problems(cfg: SwitchConfig, text: str) -> list[Any]:
    """What would stop the API from serving, found without serving (``check-config``): the
    table's problems, then its TLS files (loaded, so a key that does not match its
    certificate is found too)."""
    from clets.errors import ConfigError
    from clets.switch.config import Problem, _LineIndex

    try:
        api = api_config(cfg, text)
    except ConfigProblems as exc:
        return list(exc.problems)
    if api is None or api.plain:
        return []
    from .server import tls_context

    try:
        tls_context(api)
    except ConfigError as exc:
        return [Problem(cfg.source, _LineIndex(text).line("api", None, "cert"),
                        f"[api]: {exc.reason}")]
    return []
