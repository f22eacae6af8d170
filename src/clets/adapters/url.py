"""Link URLs: one string that names a transport and its options.

``tcp://host:port?framing=len2&plain=1``, ``tcp+tls://host:port?ca=...&cert=...&key=...``,
``serial:///dev/ttyS0?baud=9600&framing=stx-etx+lrc``, ``sftp://user@host:22/inbox?key=...``,
``spool:///var/spool/clets``.  Parsing is strict: a typo in a URL is a :class:`ConfigError`
at start-up, not a surprise at 3 a.m.  Passwords are refused outright (keys and certificates only).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from clets.errors import ConfigError

__all__ = ["SCHEMES", "LinkURL", "parse_link_url"]

SCHEMES = ("tcp", "tcp+tls", "serial", "sftp", "spool")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class LinkURL:
    scheme: str
    host: str | None = None
    port: int | None = None
    path: str = ""
    user: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    text: str = ""

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return default
        low = raw.lower()
        if low in _TRUE or low == "":
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"{self.text}: parameter {name}={raw!r} is not a boolean")

    def integer(self, name: str, default: int, *, minimum: int = 1) -> int:
        """An integer parameter, at least ``minimum`` (sizes, speeds: 1; counts: 0)."""
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{self.text}: parameter {name}={raw!r} is not an integer") from None
        if value < minimum:
            raise ConfigError(f"{self.text}: parameter {name}={raw!r} must be at least {minimum}")
        return value

    def number(self, name: str, default: float | None) -> float | None:
        """A positive, finite number (every number a link takes is a time or a count of
        stop bits): ``-1``, ``0``, ``nan`` and ``inf`` are refused, never replaced."""
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{self.text}: parameter {name}={raw!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{self.text}: parameter {name}={raw!r} must be a positive number")
        return value

    def check_params(self, allowed: set[str]) -> None:
        """Refuse parameters this link does not know (typos must not be silently ignored)."""
        unknown = sorted(set(self.params) - allowed)
        if unknown:
            raise ConfigError(
                f"{self.text}: unknown parameter(s) {', '.join(unknown)} for {self.scheme}://; "
                f"known: {', '.join(sorted(allowed))}"
            )

    def __str__(self) -> str:
        return self.text


#: Longest link URL read.  A real one (host, port, a few file paths) is a few hundred
#: characters; a longer one is a mistake, and refusing it keeps the work bounded: with tens of
#: thousands of parameters, checking them grew faster than the URL (sorting, sets).
MAX_URL_CHARS = 8192

#: ``user:secret@`` in a URL's authority: the secret is never repeated in an error
_USERINFO_SECRET = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^/?#@:]*):[^/?#@]*@")


def _shown(text: str) -> str:
    """The URL as errors may show it: a password in it replaced by ``***``."""
    return _USERINFO_SECRET.sub(r"\1:***@", text)


def parse_link_url(text: str) -> LinkURL:
    """Parse and check the shape of a link URL (per-scheme parameters are checked by the link)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("empty link URL")
    text = text.strip()
    if len(text) > MAX_URL_CHARS:
        raise ConfigError(f"{_shown(text)[:60]!r}...: link URL of {len(text)} characters, "
                          f"more than {MAX_URL_CHARS}")
    shown = _shown(text)
    if "://" not in text:
        raise ConfigError(f"{shown!r}: not a link URL (expected scheme://...)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{shown!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(f"{shown!r}: unknown scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    if parts.password is not None:
        raise ConfigError(f"{shown!r}: passwords in URLs are refused; use key=/cert= files")
    if parts.fragment:
        raise ConfigError(f"{shown!r}: URL fragments (#...) are not used by links")
    params: dict[str, str] = {}
    # Not parse_qsl: it reads "+" as a space (HTML form encoding), which would turn
    # framing=stx-etx+lrc into "stx-etx lrc" and break base64 keys.  In a URI "+" is "+".
    pairs: list[tuple[str, str]] = []
    for item in parts.query.split("&") if parts.query else ():
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise ConfigError(f"{shown!r}: bad query string: {item!r} is not name=value")
        pairs.append((unquote(key), unquote(value)))
    for key, value in pairs:
        if key in params:
            raise ConfigError(f"{shown!r}: parameter {key!r} given twice")
        params[key] = value
    host = parts.hostname
    path = unquote(parts.path)
    if scheme in ("tcp", "tcp+tls", "sftp"):
        if not host:
            raise ConfigError(f"{shown!r}: {scheme}:// needs a host")
        if port is None and scheme != "sftp":
            raise ConfigError(f"{shown!r}: {scheme}:// needs a port")
    if scheme in ("serial", "spool"):
        if host:
            raise ConfigError(f"{shown!r}: {scheme}:// takes a path ({scheme}:///...), not a host")
        if not path:
            raise ConfigError(f"{shown!r}: {scheme}:// needs a path")
    if scheme == "sftp" and port is None:
        port = 22
    return LinkURL(
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        user=unquote(parts.username) if parts.username else None,
        params=params,
        text=text,
    )
