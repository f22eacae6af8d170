"""The switch configuration: one TOML format for a state switch and a one-agency adapter box.

``load_config`` validates the whole file and reports EVERY problem with its line, because a
config is fixed by a person reading the list, and one-error-per-run costs them an evening.
tomllib gives line numbers only for syntax errors, so semantic problems are located by scanning
the text for the table header and key (:class:`_LineIndex`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from clets.errors import ConfigError

from .routing import RouteProblem, RouteTable, builtin_table, parse_routes

__all__ = [
    "ConfigProblems",
    "DestinationConfig",
    "LinkConfig",
    "PeerConfig",
    "Problem",
    "RetryPolicy",
    "SwitchConfig",
    "SwitchSettings",
    "load_config",
    "parse_config",
]

ORI_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")
NAME_RE = re.compile(r"[A-Za-z0-9_\-]{1,32}")
SCHEMES = ("tcp", "tcp+tls", "tls", "serial", "sftp", "spool", "memory")
IDENTITY_KEYS = ("cert_subject", "ssh_key_fingerprint", "serial_port", "spool_dir")


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}" if self.line else \
            f"{self.source}: {self.reason}"


class ConfigProblems(ConfigError):
    """Every problem of one config file (``str`` is one ``file:line: reason`` per line)."""

    def __init__(self, problems: list[Problem], source: str) -> None:
        first = problems[0]
        super().__init__(first.reason, source=source, line=first.line)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def one_line(self) -> str:
        extra = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"{self.problems[0]}{extra}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a destination is retried."""

    retries: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    jitter: float = 0.2

    def delay(self, attempt: int, rnd: float) -> float:
        """Backoff before attempt ``attempt + 1`` (attempt counts from 1); ``rnd`` in [0, 1)."""
        base = min(self.backoff_max, self.backoff_initial * (2.0 ** max(0, attempt - 1)))
        return max(0.0, base * (1.0 - self.jitter * rnd))


@dataclass(frozen=True, slots=True)
class SwitchSettings:
    name: str
    home_state: str
    journal: Path
    ori: str
    deadline: float = 30.0
    ttl: float = 3600.0
    max_message_bytes: int = 16384
    dedup_window: float = 600.0
    retry: RetryPolicy = RetryPolicy()
    #: ``HOST:PORT`` of the daemon's /metrics and /healthz endpoint (``clets run``)
    metrics_listen: str | None = None
    #: test-only weakened durability (``UNSAFE_TEST_MODES``); the engine refuses to start
    #: with it unless ``CLETS_ALLOW_UNSAFE_TEST_MODE=1`` is in its environment
    unsafe_test_mode: str | None = None
    #: days a delivered queue row and its message stay in the journal (0: forever); the
    #: audit trail is never purged by this
    retain_days: float = 30.0
    #: refuse in step 2 what NCIC refuses for its transactions (model/transactions.toml:
    #: mandatory fields and identifying sets), with ``.20. MISSING MANDATORY FIELD <TAG>``;
    #: on by default (issue 17: step 2 rejects what NCIC would reject), ``false`` turns it off
    #: for a switch that is not in front of NCIC (a test bench of partial messages)
    ncic_transactions: bool = True
    #: ``log`` (append-only blocks, state in memory: logjournal.py; the default) or
    #: ``sqlite`` (tables); an existing journal file is opened in the format it has
    journal_format: str = "log"
    #: seconds a group commit waits for more steps before it writes (0: at the end of the
    #: event-loop turn, as before) -- a database's commit delay
    commit_delay: float = 0.0
    #: the log journal appends its blocks on a writer thread (one in flight): the event loop
    #: is not held by the fsync
    commit_thread: bool = False
    #: event-loop turns a group commit waits, polling the sockets, before it writes (with no
    #: ``commit_delay``): frames that had already arrived join it (batch.GroupCommit.gather)
    commit_gather: int = 2
    #: with ``commit_thread``: the interpreter's thread switch interval, seconds
    #: (``sys.setswitchinterval``; Python's default 0.005 made the writer thread wait up to
    #: 5 ms for the loop to hand it the GIL back after each fsync)
    switch_interval: float = 0.0005
    #: seconds the entering agency has to confirm a hit (switch/hitconfirm.py): NCIC's policy,
    #: 10 minutes when urgent (YQ ``PRI/U``), one hour when routine (``PRI/R``)
    hit_confirm_urgent: float = 600.0
    hit_confirm_routine: float = 3600.0


@dataclass(frozen=True, slots=True)
class PeerConfig:
    mnemonic: str
    oris: frozenset[str]
    access: str = "inquiry"
    cert_subject: str | None = None
    ssh_key_fingerprint: str | None = None
    serial_port: str | None = None
    spool_dir: str | None = None


@dataclass(frozen=True, slots=True)
class LinkConfig:
    name: str
    url: str
    codec: str
    role: str
    encoding: str | None = None
    peer: str | None = None
    #: False, True (``<journal dir>/captures/<link>-<UTC time>.jsonl`` per start) or a file
    #: path (absolute, resolved against the config file's directory)
    capture: bool | Path = False
    ack: bool = False
    #: a link of many peers that also takes the unsolicited and administrative messages of
    #: every peer (the HTTP API's: each peer may be one of its clients); not in the TOML
    any_peer: bool = False

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme


@dataclass(frozen=True, slots=True)
class DestinationConfig:
    name: str
    link: str
    codec: str
    encoding: str | None
    deadline: float
    ttl: float
    retry: RetryPolicy
    #: outbound message key translation (e.g. QV -> RGQ1 for a DMV record)
    mke_out: dict[str, str] = field(default_factory=dict)
    #: inbound message key translation (e.g. RGR1 -> RR)
    mke_in: dict[str, str] = field(default_factory=dict)
    #: per-message-key outbound codec (e.g. DQ -> dmv-dl-request)
    encode: dict[str, str] = field(default_factory=dict)
    #: codecs tried in order on inbound frames (default: [codec])
    decode: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    switch: SwitchSettings
    peers: dict[str, PeerConfig]
    links: dict[str, LinkConfig]
    destinations: dict[str, DestinationConfig]
    routes: RouteTable
    source: str = "<config>"
    sha256: str = ""
    #: ``[quality]``: the data-quality step (clets.quality.gate.QualityConfig), or None
    quality: Any = None
    #: ``[api]`` as written (a table, or a list of them): parsed and checked by
    #: ``clets.api.config`` -- the switch knows nothing of HTTP
    api: Any = None

    def ori_owner(self) -> dict[str, str]:
        """ORI -> mnemonic of the peer it is assigned to."""
        return {ori: p.mnemonic for p in self.peers.values() for ori in p.oris}

    def links_of_peer(self, mnemonic: str) -> list[LinkConfig]:
        """The origin links a peer's unsolicited and administrative messages go to: its
        own, and those that serve any peer (``any_peer``)."""
        return [lk for lk in self.links.values()
                if lk.role == "origin" and (lk.peer == mnemonic or lk.any_peer)]

    def summary(self) -> str:
        unrouted = sorted(self.routes.destinations_named() - set(self.destinations))
        lines = [
            f"switch {self.switch.name} ({self.switch.ori}, home state {self.switch.home_state})",
            f"journal {self.switch.journal}",
            f"{len(self.peers)} peers, {len(self.links)} links, "
            f"{len(self.destinations)} destinations, {len(self.routes.routes)} message keys",
        ]
        for d in self.destinations.values():
            lines.append(f"  destination {d.name}: link {d.link}, codec {d.codec}, "
                         f"deadline {d.deadline:g}s, retries {d.retry.retries}, ttl {d.ttl:g}s")
        if unrouted:
            lines.append("routes name destinations this config does not define (skipped): "
                         + ", ".join(unrouted))
        return "\n".join(lines)


# --------------------------------------------------------------------------- line lookup


class _LineIndex:
    """Finds the line of ``[table]`` / ``[[array]]`` headers and of keys inside them."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, text: str) -> None:
        self.headers: dict[tuple[str, int | None], int] = {}
        self.keys: dict[tuple[str, int | None, str], int] = {}
        counts: dict[str, int] = {}
        current: tuple[str, int | None] = ("", None)
        parent_index: dict[str, int] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            m = self._HEADER.match(line)
            if m:
                name = m.group(2)
                top = name.split(".")[0]
                if "." in name and top in parent_index:
                    # [[route.to]] / [destination.x]: part of the current array element
                    current = (top, parent_index[top])
                elif m.group(1) == "[[":
                    idx = counts.get(name, 0)
                    counts[name] = idx + 1
                    parent_index[name] = idx
                    current = (name, idx)
                else:
                    current = (name, None)
                self.headers.setdefault(current, lineno)
                continue
            k = self._KEY.match(line)
            if k:
                self.keys.setdefault((current[0], current[1], k.group(1)), lineno)

    def line(self, table: str, index: int | None = None, key: str | None = None) -> int | None:
        if key is not None:
            hit = self.keys.get((table, index, key))
            if hit is not None:
                return hit
        return self.headers.get((table, index))


# --------------------------------------------------------------------------- validation


class _Checker:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = _LineIndex(text)
        self.problems: list[Problem] = []

    def add(self, reason: str, table: str, index: int | None = None,
            key: str | None = None) -> None:
        self.problems.append(Problem(self.source, self.lines.line(table, index, key), reason))

    def where(self, table: str, index: int | None) -> str:
        return f"[{table}]" if index is None else f"[[{table}]] #{index + 1}"

    def unknown(self, raw: dict[str, Any], allowed: set[str], table: str,
                index: int | None) -> None:
        for k in raw:
            if k not in allowed:
                self.add(f"{self.where(table, index)}: unknown key {k!r}", table, index, k)

    def get(self, raw: dict[str, Any], key: str, kind: type | tuple[type, ...], table: str,
            index: int | None, *, required: bool = False, default: Any = None) -> Any:
        if key not in raw:
            if required:
                self.add(f"{self.where(table, index)}: missing {key!r}", table, index)
            return default
        value = raw[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            self.add(f"{self.where(table, index)}: {key} must be {names}", table, index, key)
            return default
        return value

    def number(self, raw: dict[str, Any], key: str, table: str, index: int | None,
               default: float, *, minimum: float = 0.0, strict: bool = True,
               maximum: float | None = None) -> float:
        value = self.get(raw, key, (int, float), table, index, default=default)
        value = float(value)
        if (strict and value <= minimum) or (not strict and value < minimum) or \
                (maximum is not None and value > maximum):
            bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
            if maximum is not None:
                bound += f" and <= {maximum:g}"
            self.add(f"{self.where(table, index)}: {key} must be {bound}", table, index, key)
            return default
        return value

    def retry(self, raw: dict[str, Any], table: str, index: int | None,
              base: RetryPolicy) -> RetryPolicy:
        retries = self.get(raw, "retries", int, table, index, default=base.retries)
        if retries < 0:
            self.add(f"{self.where(table, index)}: retries must be >= 0", table, index, "retries")
            retries = base.retries
        initial = self.number(raw, "backoff_initial", table, index, base.backoff_initial)
        maximum = self.number(raw, "backoff_max", table, index, base.backoff_max)
        if maximum < initial:
            self.add(f"{self.where(table, index)}: backoff_max must be >= backoff_initial",
                     table, index, "backoff_max")
        jitter = self.number(raw, "jitter", table, index, base.jitter, strict=False,
                             maximum=1.0)
        return RetryPolicy(retries, initial, maximum, jitter)


_SWITCH_KEYS = {"name", "home_state", "journal", "ori", "deadline", "ttl", "max_message_bytes",
                "dedup_window", "retry", "metrics_listen", "unsafe_test_mode", "retain_days",
                "ncic_transactions", "journal_format", "commit_delay", "commit_thread",
                "commit_gather", "switch_interval",
                "hit_confirm_urgent", "hit_confirm_routine"}
#: negative controls of the crash tests: ``ack-before-commit`` (the ACK leaves before the
#: commit, which is not synced either: a kill -9 loses it), ``synchronous-normal`` and
#: ``synchronous-off`` (the ACK follows the commit, but the commit is not synced: only a power
#: cut loses it, tests/test_powercut.py)
JOURNAL_FORMATS = ("sqlite", "log")
UNSAFE_TEST_MODES = ("ack-before-commit", "synchronous-normal", "synchronous-off")
_RETRY_KEYS = {"retries", "backoff_initial", "backoff_max", "jitter"}
_PEER_KEYS = {"mnemonic", "oris", "access", *IDENTITY_KEYS}
_LINK_KEYS = {"name", "url", "codec", "encoding", "role", "peer", "capture", "ack"}
_DEST_KEYS = {"name", "link", "codec", "encoding", "deadline", "ttl", "mke_out", "mke_in",
              "encode", "decode", *_RETRY_KEYS}
_TOP_KEYS = {"switch", "peer", "link", "destination", "routes", "route", "access", "quality",
             "api"}


def _codec_names() -> set[str]:
    from clets.codecs.base import available

    return set(available())


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None,
                 *, check_codecs: bool = True) -> SwitchConfig:
    """Parse and validate config text; raise :class:`ConfigProblems` listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigProblems([Problem(source, int(m.group(1)) if m else None,
                                      f"TOML syntax: {exc}")], source) from exc
    c = _Checker(text, source)
    base_dir = base_dir or Path.cwd()
    c.unknown(data, _TOP_KEYS, "", None)
    codecs = _codec_names() if check_codecs else None

    # [switch]
    sw_raw = data.get("switch")
    if not isinstance(sw_raw, dict):
        c.add("missing [switch] table", "switch")
        sw_raw = {}
    c.unknown(sw_raw, _SWITCH_KEYS, "switch", None)
    name = c.get(sw_raw, "name", str, "switch", None, required=True, default="switch")
    home = c.get(sw_raw, "home_state", str, "switch", None, required=True, default="XX")
    if not re.fullmatch(r"[A-Z]{2}", home):
        c.add("[switch]: home_state must be a 2-letter state code", "switch", None, "home_state")
    journal = c.get(sw_raw, "journal", str, "switch", None, required=True, default="journal.db")
    ori = c.get(sw_raw, "ori", str, "switch", None, default=f"{home}0000000")
    if "ori" in sw_raw and not ORI_RE.fullmatch(ori):
        c.add("[switch]: ori must match [A-Z]{2}[A-Z0-9]{7}", "switch", None, "ori")
    retry_raw = sw_raw.get("retry", {})
    if not isinstance(retry_raw, dict):
        c.add("[switch]: retry must be a table", "switch", None, "retry")
        retry_raw = {}
    c.unknown(retry_raw, _RETRY_KEYS, "switch.retry", None)
    default_retry = c.retry(retry_raw, "switch.retry", None, RetryPolicy())
    deadline = c.number(sw_raw, "deadline", "switch", None, 30.0)
    ttl = c.number(sw_raw, "ttl", "switch", None, 3600.0)
    max_bytes = c.get(sw_raw, "max_message_bytes", int, "switch", None, default=16384)
    if max_bytes <= 0:
        c.add("[switch]: max_message_bytes must be > 0", "switch", None, "max_message_bytes")
    window = c.number(sw_raw, "dedup_window", "switch", None, 600.0, strict=False)
    retain = c.number(sw_raw, "retain_days", "switch", None, 30.0, strict=False)
    metrics_listen = c.get(sw_raw, "metrics_listen", str, "switch", None)
    if metrics_listen is not None and parse_host_port(metrics_listen) is None:
        c.add("[switch]: metrics_listen must be HOST:PORT (e.g. \"127.0.0.1:9464\")", "switch",
              None, "metrics_listen")
    unsafe = c.get(sw_raw, "unsafe_test_mode", str, "switch", None)
    if unsafe is not None and unsafe not in UNSAFE_TEST_MODES:
        c.add(f"[switch]: unsafe_test_mode must be one of {', '.join(UNSAFE_TEST_MODES)}",
              "switch", None, "unsafe_test_mode")
    ncic_tx = c.get(sw_raw, "ncic_transactions", bool, "switch", None, default=True)
    # CLETS_JOURNAL_FORMAT sets the default (runs the whole test suite on either format)
    jformat = c.get(sw_raw, "journal_format", str, "switch", None,
                    default=os.environ.get("CLETS_JOURNAL_FORMAT", "log"))
    if jformat not in JOURNAL_FORMATS:
        c.add(f"[switch]: journal_format must be one of {', '.join(JOURNAL_FORMATS)}",
              "switch", None, "journal_format")
    commit_delay = c.number(sw_raw, "commit_delay", "switch", None, 0.0, strict=False)
    if not 0.0 <= commit_delay <= 0.1:
        c.add("[switch]: commit_delay must be between 0 and 0.1 seconds", "switch", None,
              "commit_delay")
    commit_thread = c.get(sw_raw, "commit_thread", bool, "switch", None,
                          default=os.environ.get("CLETS_COMMIT_THREAD") == "1")
    commit_gather = c.get(sw_raw, "commit_gather", int, "switch", None,
                          default=int(os.environ.get("CLETS_COMMIT_GATHER") or 2))
    if not 0 <= commit_gather <= 16:
        c.add("[switch]: commit_gather must be between 0 and 16 loop turns", "switch", None,
              "commit_gather")
    switch_interval = c.number(sw_raw, "switch_interval", "switch", None, 0.0005,
                               strict=False)
    if not 0.0001 <= switch_interval <= 0.1:
        c.add("[switch]: switch_interval must be between 0.0001 and 0.1 seconds", "switch",
              None, "switch_interval")
    jpath = Path(journal)
    settings = SwitchSettings(name, home, jpath if jpath.is_absolute() else base_dir / jpath,
                              ori, deadline, ttl, max_bytes, window, default_retry,
                              metrics_listen, unsafe, retain, bool(ncic_tx), jformat,
                              commit_delay, commit_thread, commit_gather, switch_interval,
                              hit_confirm_urgent=c.number(sw_raw, "hit_confirm_urgent", "switch",
                                                          None, 600.0),
                              hit_confirm_routine=c.number(sw_raw, "hit_confirm_routine",
                                                           "switch", None, 3600.0))

    # [[peer]]
    peers: dict[str, PeerConfig] = {}
    owner: dict[str, str] = {}
    for i, raw in enumerate(_array(c, data, "peer")):
        c.unknown(raw, _PEER_KEYS, "peer", i)
        mn = c.get(raw, "mnemonic", str, "peer", i, required=True)
        oris = c.get(raw, "oris", list, "peer", i, required=True, default=[])
        access = c.get(raw, "access", str, "peer", i, default="inquiry")
        if access not in ("inquiry", "full"):
            c.add(f"[[peer]] #{i + 1}: access must be \"inquiry\" or \"full\"", "peer", i,
                  "access")
        good: set[str] = set()
        for o in oris:
            if not isinstance(o, str) or not ORI_RE.fullmatch(o):
                c.add(f"[[peer]] #{i + 1}: {o!r} is not a valid ORI", "peer", i, "oris")
                continue
            if o in owner and owner[o] != mn:
                c.add(f"[[peer]] #{i + 1}: ORI {o} already assigned to peer {owner[o]}",
                      "peer", i, "oris")
            owner[o] = mn or "?"
            good.add(o)
        ident = {k: c.get(raw, k, str, "peer", i) for k in IDENTITY_KEYS}
        if mn is None:
            continue
        if mn in peers:
            c.add(f"[[peer]] #{i + 1}: duplicate mnemonic {mn}", "peer", i, "mnemonic")
        peers[mn] = PeerConfig(mn, frozenset(good), access, **ident)

    # [[link]]
    links: dict[str, LinkConfig] = {}
    for i, raw in enumerate(_array(c, data, "link")):
        c.unknown(raw, _LINK_KEYS, "link", i)
        lname = c.get(raw, "name", str, "link", i, required=True)
        url = c.get(raw, "url", str, "link", i, required=True, default="")
        codec = c.get(raw, "codec", str, "link", i, required=True, default="json")
        role = c.get(raw, "role", str, "link", i, required=True, default="origin")
        peer = c.get(raw, "peer", str, "link", i)
        encoding = c.get(raw, "encoding", str, "link", i)
        capture = c.get(raw, "capture", (bool, str), "link", i, default=False)
        if isinstance(capture, str):
            if not capture.strip():
                c.add(f"[[link]] #{i + 1}: capture must be true, false or a file path", "link",
                      i, "capture")
                capture = False
            else:
                cpath = Path(capture)
                capture = cpath if cpath.is_absolute() else base_dir / cpath
        ack = c.get(raw, "ack", bool, "link", i, default=False)
        if lname is not None and not NAME_RE.fullmatch(lname):
            c.add(f"[[link]] #{i + 1}: name must be 1-32 letters, digits, _ or -", "link", i,
                  "name")
        try:
            scheme = urlsplit(url).scheme if url else ""
        except ValueError as exc:  # "Invalid IPv6 URL": an unbalanced [ or ] in the host
            c.add(f"[[link]] #{i + 1}: url {url!r}: {exc}", "link", i, "url")
            scheme = url = ""
        if url and scheme not in SCHEMES:
            c.add(f"[[link]] #{i + 1}: url scheme {scheme!r} unknown ({', '.join(SCHEMES)})",
                  "link", i, "url")
        elif url and scheme != "memory":
            why = _url_problem(url)
            if why:
                c.add(f"[[link]] #{i + 1}: {why}", "link", i, "url")
        if codecs is not None and codec not in codecs:
            c.add(f"[[link]] #{i + 1}: codec {codec!r} not available "
                  f"({', '.join(sorted(codecs))})", "link", i, "codec")
        if role not in ("origin", "destination"):
            c.add(f"[[link]] #{i + 1}: role must be \"origin\" or \"destination\"", "link", i,
                  "role")
        if peer is not None and peer not in peers:
            c.add(f"[[link]] #{i + 1}: peer {peer!r} is not a [[peer]] mnemonic", "link", i,
                  "peer")
        if role == "origin" and peer is None and scheme not in ("tcp+tls", "tls", "sftp"):
            c.add(f"[[link]] #{i + 1}: an origin link over {scheme or '?'} needs peer = "
                  "(only TLS / SSH links identify their peer themselves)", "link", i)
        if lname is None:
            continue
        if lname in links:
            c.add(f"[[link]] #{i + 1}: duplicate link name {lname}", "link", i, "name")
        links[lname] = LinkConfig(lname, _resolve_url_paths(url, base_dir), codec, role,
                                  encoding, peer, capture, ack)

    # [[destination]]
    dests: dict[str, DestinationConfig] = {}
    for i, raw in enumerate(_array(c, data, "destination")):
        c.unknown(raw, _DEST_KEYS, "destination", i)
        dname = c.get(raw, "name", str, "destination", i, required=True)
        lk = c.get(raw, "link", str, "destination", i, required=True)
        link = links.get(lk) if lk else None
        if lk is not None and link is None:
            c.add(f"[[destination]] #{i + 1}: link {lk!r} is not a [[link]]", "destination", i,
                  "link")
        elif link is not None and link.role != "destination":
            c.add(f"[[destination]] #{i + 1}: link {lk!r} has role {link.role!r}, "
                  "not \"destination\"", "destination", i, "link")
        codec = c.get(raw, "codec", str, "destination", i,
                      default=link.codec if link else "json")
        encoding = c.get(raw, "encoding", str, "destination", i,
                         default=link.encoding if link else None)
        maps: dict[str, dict[str, str]] = {}
        for key in ("mke_out", "mke_in", "encode"):
            table = c.get(raw, key, dict, "destination", i, default={})
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
                c.add(f"[[destination]] #{i + 1}: {key} must map strings to strings",
                      "destination", i, key)
                table = {}
            maps[key] = table
        decode = c.get(raw, "decode", list, "destination", i, default=[codec])
        for cname in {codec, *maps["encode"].values(), *decode}:
            if codecs is not None and (not isinstance(cname, str) or cname not in codecs):
                c.add(f"[[destination]] #{i + 1}: codec {cname!r} not available",
                      "destination", i, "codec")
        dl = c.number(raw, "deadline", "destination", i, settings.deadline)
        dttl = c.number(raw, "ttl", "destination", i, settings.ttl)
        retry = c.retry(raw, "destination", i, settings.retry)
        if dname is None or lk is None:
            continue
        if dname in dests:
            c.add(f"[[destination]] #{i + 1}: duplicate destination {dname}", "destination",
                  i, "name")
        dests[dname] = DestinationConfig(dname, lk, codec, encoding, dl, dttl, retry,
                                         maps["mke_out"], maps["mke_in"], maps["encode"],
                                         tuple(str(d) for d in decode))

    # routes
    routes = builtin_table()
    rsec = data.get("routes", {})
    if not isinstance(rsec, dict):
        c.add("[routes] must be a table", "routes")
        rsec = {}
    c.unknown(rsec, {"file"}, "routes", None)
    if isinstance(rsec.get("file"), str):
        rpath = Path(rsec["file"])
        rpath = rpath if rpath.is_absolute() else base_dir / rpath
        try:
            rdata = tomllib.loads(rpath.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            c.add(f"[routes] file {rpath}: {exc}", "routes", None, "file")
        else:
            table, rprobs = parse_routes(rdata)
            for p in rprobs:
                c.problems.append(Problem(str(rpath), None, p.reason))
            routes = table
    if "route" in data or "access" in data:
        table, rprobs = parse_routes({"route": data.get("route", []),
                                      "access": data.get("access", {})})
        _route_problems(c, rprobs)
        routes = routes.override(table)

    quality = _quality(c, data.get("quality"), settings.journal)

    if c.problems:
        c.problems.sort(key=lambda p: (p.source != source, p.line or 0))
        raise ConfigProblems(c.problems, source)
    return SwitchConfig(settings, peers, links, dests, routes, source,
                        hashlib.sha256(text.encode("utf-8")).hexdigest(), quality,
                        data.get("api"))


def _quality(c: _Checker, raw: Any, journal: Path) -> Any:
    """``[quality]`` (docs/quality.md): ``index`` (default ``quality.db`` beside the
    journal), ``policy`` (check id -> warn | reject)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        c.add("[quality] must be a table", "quality")
        return None
    from clets.quality.catalogue import catalogue, with_policies
    from clets.quality.gate import QualityConfig

    c.unknown(raw, {"enabled", "index", "policy"}, "quality", None)
    if not c.get(raw, "enabled", bool, "quality", None, default=True):
        return None
    index = Path(c.get(raw, "index", str, "quality", None, default="") or
                 journal.with_name("quality.db"))
    if not index.is_absolute():
        index = journal.parent / index
    policy = c.get(raw, "policy", dict, "quality", None, default={})
    try:
        with_policies(catalogue(), policy)
    except ConfigError as exc:
        c.add(f"[quality]: {exc.reason}", "quality", None, "policy")
        return None
    return QualityConfig(index, dict(policy))


def parse_host_port(text: str) -> tuple[str, int] | None:
    """``"127.0.0.1:9464"`` / ``"[::1]:9464"`` -> (host, port); None when malformed."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    return host, int(port)


#: link URL parameters that name files: relative ones are relative to the config file
_PATH_PARAMS = frozenset({"ca", "cert", "key", "known_hosts", "ledger"})


def _resolve_url_paths(url: str, base_dir: Path) -> str:
    """Make the file parameters of a link URL absolute against the config file's directory,
    as every other relative path in the config is (a daemon's working directory is ``/``)."""
    head, sep, query = url.partition("?")
    if not sep:
        return url
    parts = []
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        path = unquote(value)
        if eq and key in _PATH_PARAMS and path and not Path(path).is_absolute():
            item = f"{key}={quote(str(base_dir / path), safe='/')}"
        parts.append(item)
    return f"{head}?{'&'.join(parts)}"


def _url_problem(url: str) -> str | None:
    """The link URL parser's complaint, when that module is installed."""
    import importlib.util

    if importlib.util.find_spec("clets.adapters.url") is None:
        return None
    from clets.adapters.url import parse_link_url

    try:
        parse_link_url(url.replace("tls://", "tcp+tls://", 1) if url.startswith("tls://")
                       else url)
    except ConfigError as exc:
        return str(exc)
    return None


def _route_problems(c: _Checker, problems: list[RouteProblem]) -> None:
    for p in problems:
        if p.index is None:
            c.add(p.reason, "access", None, p.key)
        else:
            c.add(p.reason, "route", p.index, p.key)


def _array(c: _Checker, data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    raw = data.get(name, [])
    if not isinstance(raw, list):
        c.add(f"{name} must be written [[{name}]]", name)
        return []
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, dict):
            out.append(item)
        else:
            c.add(f"[[{name}]] #{i + 1} must be a table", name, i)
    return out


def link_problems(config: SwitchConfig, text: str, source: str) -> list[Problem]:
    """What would stop each link from opening (``switch.links.check_link``: framing, TLS and
    key files, drop and serial options), found without opening anything; for check-config."""
    from .links import check_link

    lines = _LineIndex(text)
    out = []
    for index, link in enumerate(config.links.values()):
        reason = check_link(link)
        if reason is not None:
            out.append(Problem(source, lines.line("link", index, "url"), reason))
    return out


def load_config(path: str | Path, *, check_codecs: bool = True) -> SwitchConfig:
    """Read and validate a config file (paths in it are relative to its directory)."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", source=str(p)) from exc
    return parse_config(text, str(p), p.parent, check_codecs=check_codecs)
