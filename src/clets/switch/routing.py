"""The routing table: message key (and field presence / home state) -> destinations.

Why data: every state draws these lines differently (which file takes a QW, when a registration
goes out of state), so the built-in CLETS-like profile is ``routes.toml`` and an agency edits or
replaces that file instead of code.  This module only reads the table and evaluates it on a
canonical message; it never does I/O.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from clets.errors import INVALID_DESTINATION, MISSING_FIELD, ConfigError, ValidationError
from clets.model import Message, default_dictionary
from clets.model.dictionary import get_path

__all__ = [
    "Condition",
    "Route",
    "RouteProblem",
    "RouteTable",
    "RouteTo",
    "Target",
    "builtin_table",
    "parse_routes",
]

_PATH_RE = re.compile(r"[a-z_]+(\.[a-z_]+)*")
_STATE_RE = re.compile(r"[A-Z]{2}")
_ORI_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")


@dataclass(frozen=True, slots=True)
class RouteProblem:
    """One problem in a routes table: where (route index, key) and why."""

    index: int | None
    key: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Condition:
    present: tuple[str, ...] = ()
    home_state: str | None = None
    not_home_state: str | None = None

    def holds(self, msg: Message, home: str) -> bool:
        if any(_absent(get_path(msg, p)) for p in self.present):
            return False
        if self.home_state is not None:
            value = get_path(msg, self.home_state)
            if not _absent(value) and value != home:
                return False
        if self.not_home_state is not None:
            value = get_path(msg, self.not_home_state)
            if _absent(value) or value == home:
                return False
        return True


@dataclass(frozen=True, slots=True)
class RouteTo:
    destination: str
    when: Condition | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    mkes: tuple[str, ...]
    to: tuple[RouteTo, ...] = ()
    require: tuple[str, ...] = ()
    require_any: tuple[tuple[str, ...], ...] = ()
    by_header: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """Where one copy goes: a configured destination, or a local peer (AM to one of its ORIs).

    ``address`` replaces the forwarded message's ``destinations`` (Nlets state codes / ORIs).
    """

    kind: str  # "destination" | "peer"
    name: str
    address: tuple[str, ...] = ()


def _absent(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@dataclass(slots=True)
class RouteTable:
    """Routes by message key plus the access classes."""

    routes: dict[str, Route] = field(default_factory=dict)
    inquiry: tuple[str, ...] = ()
    full: tuple[str, ...] = ()

    def knows(self, mke: str) -> bool:
        return mke in self.routes

    def destinations_named(self) -> set[str]:
        """Every logical destination name the table can route to."""
        return {t.destination for r in self.routes.values() for t in r.to}

    def allowed(self, mke: str, access: str) -> bool:
        """Whether a peer with ``access`` ("inquiry" | "full") may send ``mke``."""
        patterns = self.inquiry + (self.full if access == "full" else ())
        return any(_match(p, mke) for p in patterns)

    def override(self, other: RouteTable) -> RouteTable:
        """A copy with ``other``'s routes replacing ours key by key (access too, if given)."""
        routes = dict(self.routes)
        routes.update(other.routes)
        return RouteTable(routes, other.inquiry or self.inquiry, other.full or self.full)

    def check_required(self, msg: Message) -> None:
        """Raise ValidationError(code 20) naming the first missing mandatory field's tag."""
        route = self.routes.get(msg.mke)
        if route is None:
            return
        for path in route.require:
            if _absent(get_path(msg, path)):
                raise _missing(path)
        if route.require_any and not any(
            all(not _absent(get_path(msg, p)) for p in group) for group in route.require_any
        ):
            first = next(
                (p for p in route.require_any[0] if _absent(get_path(msg, p))),
                route.require_any[0][0],
            )
            raise _missing(first)

    def route(
        self,
        msg: Message,
        *,
        home_state: str,
        configured: Iterable[str],
        ori_owner: Mapping[str, str],
        network: str = "NLETS",
    ) -> list[Target]:
        """The targets of one message.

        Destinations of the table that the config does not define are skipped (an adapter box
        defines few); if nothing is left, ValidationError code 12 INVALID DESTINATION.
        ``ori_owner`` maps an ORI to the mnemonic of the local peer that owns it (AM and
        unsolicited delivery); ``network`` is the destination that reaches other states.
        """
        route = self.routes.get(msg.mke)
        if route is None:
            return []
        have = set(configured)
        out: list[Target] = []
        if route.by_header:
            return _route_header(msg, home_state, have, ori_owner, network)
        for to in route.to:
            if to.when is not None and not to.when.holds(msg, home_state):
                continue
            if to.destination not in have:
                continue
            address: tuple[str, ...] = ()
            if to.address is not None:
                value = get_path(msg, to.address)
                if not _absent(value):
                    address = (str(value),)
            out.append(Target("destination", to.destination, address))
        if not out:
            raise ValidationError(
                "INVALID DESTINATION", field="destinations", code=INVALID_DESTINATION,
                value=sorted({t.destination for t in route.to}),
            )
        return out


def _route_header(
    msg: Message, home: str, have: set[str], ori_owner: Mapping[str, str], network: str
) -> list[Target]:
    if not msg.destinations:
        raise ValidationError("INVALID DESTINATION", field="destinations",
                              code=INVALID_DESTINATION, value=[])
    peers: dict[str, list[str]] = {}
    remote: list[str] = []
    for dest in msg.destinations:
        owner = ori_owner.get(dest)
        if owner is not None:
            peers.setdefault(owner, []).append(dest)
            continue
        state = dest[:2] if (_ORI_RE.fullmatch(dest) or _STATE_RE.fullmatch(dest)) else None
        if state is None or state == home or network not in have:
            raise ValidationError("INVALID DESTINATION", field="destinations",
                                  code=INVALID_DESTINATION, value=dest)
        remote.append(dest)
    out = [Target("peer", name, tuple(oris)) for name, oris in peers.items()]
    if remote:
        out.append(Target("destination", network, tuple(remote)))
    return out


def _missing(path: str) -> ValidationError:
    fd = default_dictionary().by_path.get(path)
    tag = fd.tag if fd is not None else path.rsplit(".", 1)[-1].upper()
    return ValidationError(f"MISSING MANDATORY FIELD {tag}", field=tag, code=MISSING_FIELD)


def _match(pattern: str, mke: str) -> bool:
    if pattern.endswith("*"):
        return mke.startswith(pattern[:-1])
    return mke == pattern


# --------------------------------------------------------------------------- parsing


def _paths(value: Any, where: str, problems: list[RouteProblem], index: int | None,
           key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        problems.append(RouteProblem(index, key, f"{where}: {key} must be a list of paths"))
        return ()
    for p in value:
        if not _PATH_RE.fullmatch(p):
            problems.append(RouteProblem(index, key, f"{where}: {p!r} is not a canonical path"))
    return tuple(value)


def _path(value: Any, where: str, problems: list[RouteProblem], index: int | None,
          key: str) -> str | None:
    if not isinstance(value, str) or not _PATH_RE.fullmatch(value):
        problems.append(RouteProblem(index, key, f"{where}: {key} must be a canonical path"))
        return None
    return value


def _condition(value: Any, where: str, problems: list[RouteProblem], index: int) -> Condition:
    if not isinstance(value, dict):
        problems.append(RouteProblem(index, "when", f"{where}: when must be a table"))
        return Condition()
    unknown = set(value) - {"present", "home_state", "not_home_state"}
    for k in sorted(unknown):
        problems.append(RouteProblem(index, "when", f"{where}: unknown condition {k!r}"))
    present = _paths(value.get("present", []), where, problems, index, "when")
    home = value.get("home_state")
    not_home = value.get("not_home_state")
    return Condition(
        present,
        _path(home, where, problems, index, "when") if home is not None else None,
        _path(not_home, where, problems, index, "when") if not_home is not None else None,
    )


def parse_routes(data: Mapping[str, Any], start: int = 0) -> tuple[RouteTable,
                                                                   list[RouteProblem]]:
    """A RouteTable from parsed TOML (``[access]`` + ``[[route]]``) and every problem found.

    ``start`` offsets the route indexes in problems (for routes appended to a config).
    """
    problems: list[RouteProblem] = []
    table = RouteTable()
    access = data.get("access", {})
    if not isinstance(access, dict):
        problems.append(RouteProblem(None, "access", "[access] must be a table"))
        access = {}
    for level in ("inquiry", "full"):
        pats = access.get(level, [])
        if not isinstance(pats, list) or not all(isinstance(p, str) and p for p in pats):
            problems.append(RouteProblem(None, level, f"[access] {level} must be a list of keys"))
            continue
        setattr(table, level, tuple(pats))
    for k in sorted(set(access) - {"inquiry", "full"}):
        problems.append(RouteProblem(None, k, f"[access]: unknown key {k!r}"))
    routes = data.get("route", [])
    if not isinstance(routes, list):
        problems.append(RouteProblem(None, "route", "route must be an array of tables"))
        routes = []
    for i, raw in enumerate(routes):
        index = start + i
        where = f"route #{i + 1}"
        if not isinstance(raw, dict):
            problems.append(RouteProblem(index, None, f"{where} must be a table"))
            continue
        for k in sorted(set(raw) - {"mke", "to", "require", "require_any", "by_header"}):
            problems.append(RouteProblem(index, k, f"{where}: unknown key {k!r}"))
        mkes = raw.get("mke")
        if (not isinstance(mkes, list) or not mkes
                or not all(isinstance(m, str) and re.fullmatch(r"[A-Z0-9$.\-]{1,4}", m)
                           for m in mkes)):
            problems.append(RouteProblem(index, "mke",
                                         f"{where}: mke must be a list of 1-4 character keys"))
            mkes = []
        to_list: list[RouteTo] = []
        raw_to = raw.get("to", [])
        if not isinstance(raw_to, list):
            problems.append(RouteProblem(index, "to", f"{where}: to must be an array of tables"))
            raw_to = []
        for t in raw_to:
            if not isinstance(t, dict) or not isinstance(t.get("destination"), str):
                problems.append(RouteProblem(index, "to",
                                             f"{where}: each to needs a destination name"))
                continue
            for k in sorted(set(t) - {"destination", "when", "address"}):
                problems.append(RouteProblem(index, "to", f"{where}: unknown key {k!r} in to"))
            when = _condition(t["when"], where, problems, index) if "when" in t else None
            address = (_path(t["address"], where, problems, index, "address")
                       if "address" in t else None)
            to_list.append(RouteTo(t["destination"], when, address))
        by_header = raw.get("by_header", False)
        if not isinstance(by_header, bool):
            problems.append(RouteProblem(index, "by_header", f"{where}: by_header must be bool"))
            by_header = False
        if not to_list and not by_header:
            problems.append(RouteProblem(index, "to",
                                         f"{where}: needs at least one [[route.to]] or by_header"))
        require = _paths(raw.get("require", []), where, problems, index, "require")
        req_any_raw = raw.get("require_any", [])
        req_any: list[tuple[str, ...]] = []
        if not isinstance(req_any_raw, list):
            problems.append(RouteProblem(index, "require_any",
                                         f"{where}: require_any must be a list of lists"))
        else:
            for group in req_any_raw:
                req_any.append(_paths(group, where, problems, index, "require_any"))
        route = Route(tuple(mkes), tuple(to_list), require, tuple(req_any), by_header)
        for m in mkes:
            if m in table.routes:
                problems.append(RouteProblem(index, "mke", f"{where}: key {m} routed twice"))
            table.routes[m] = route
    return table, problems


def load_routes(text: str, source: str) -> RouteTable:
    """Parse a routes file; raise ConfigError naming every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(exc), source=source) from exc
    table, problems = parse_routes(data)
    if problems:
        raise ConfigError("; ".join(p.reason for p in problems), source=source)
    return table


@cache
def builtin_table() -> RouteTable:
    """The shipped CLETS-like profile (``routes.toml``)."""
    text = resources.files("clets.switch").joinpath("routes.toml").read_text("utf-8")
    return load_routes(text, "routes.toml")
