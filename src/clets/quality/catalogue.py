"""The catalogue of checks (``checks.toml``) and the flags they raise.

A check is data: its id, kind, the fields it reads, its default policy and its thresholds.
The code behind an id lives in ``rules`` (per message) and ``crossrecord`` (against the
index); a row without code, or a policy that is not warn|hold|reject, is a ConfigError when
the catalogue loads, not a surprise on the first message.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from clets.errors import ConfigError

__all__ = ["KINDS", "POLICIES", "Check", "Flag", "catalogue", "load_catalogue", "table"]

POLICIES = ("warn", "hold", "reject")
KINDS = ("identifier", "plausibility", "mismatch", "duplicate", "sealed", "stale")
#: how strong a policy is: the strongest flag on a message decides what the switch does
POLICY_RANK = {"warn": 0, "hold": 1, "reject": 2}


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    kind: str
    fields: tuple[str, ...]
    policy: str
    doc: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Flag:
    """One finding: which check, on which path, why, the value it read, and its policy."""

    check: str
    kind: str
    policy: str
    path: str
    reason: str
    value: str | None = None
    score: float | None = None  # linkage weight, where a match decided it

    def text(self) -> str:
        """The line that goes into a message's ``warnings`` and the ACK (never the operator's
        own text: that is not altered)."""
        return f"QUALITY {self.check} {self.path}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "kind": self.kind, "policy": self.policy,
                               "path": self.path, "reason": self.reason, "value": self.value}
        if self.score is not None:
            out["score"] = round(self.score, 3)
        return out


def _read(name: str) -> dict[str, Any]:
    text = resources.files("clets.quality").joinpath(name).read_text("utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(exc), source=name) from None


@cache
def table(name: str) -> dict[str, Any]:
    """A data table shipped in ``clets/quality/tables`` (TOML)."""
    return _read(f"tables/{name}.toml")


def load_catalogue(data: dict[str, Any], known: frozenset[str] | None = None,
                   source: str = "checks.toml") -> dict[str, Check]:
    """Checks from a parsed TOML document, validated."""
    out: dict[str, Check] = {}
    for i, row in enumerate(data.get("check", [])):
        where = f"{source} check #{i + 1}"
        cid = row.get("id")
        if not isinstance(cid, str) or not cid:
            raise ConfigError("a check needs an id", source=where)
        if cid in out:
            raise ConfigError(f"check {cid!r} twice", source=where)
        if known is not None and cid not in known:
            raise ConfigError(f"check {cid!r} has no code behind it", source=where)
        kind, policy = row.get("kind"), row.get("policy", "warn")
        if kind not in KINDS:
            raise ConfigError(f"check {cid!r}: kind {kind!r} is not one of {KINDS}",
                              source=where)
        if policy not in POLICIES:
            raise ConfigError(f"check {cid!r}: policy {policy!r} is not one of {POLICIES}",
                              source=where)
        out[cid] = Check(cid, kind, tuple(row.get("fields", ())), policy, row.get("doc", ""),
                         dict(row.get("params", {})))
    return out


@cache
def catalogue() -> dict[str, Check]:
    """The shipped catalogue (checks.toml)."""
    from . import crossrecord, rules  # the ids with code behind them

    return load_catalogue(_read("checks.toml"),
                          frozenset(rules.RULES) | frozenset(crossrecord.CROSS_CHECKS))


def with_policies(base: Mapping[str, Check], policies: Mapping[str, str]) -> dict[str, Check]:
    """The catalogue with policies overridden (the switch config's ``[quality.policy]``)."""
    out = dict(base)
    for cid, policy in policies.items():
        if cid not in out:
            raise ConfigError(f"quality policy for unknown check {cid!r}")
        if policy not in POLICIES:
            raise ConfigError(f"quality policy {policy!r} for {cid!r} is not one of {POLICIES}")
        c = out[cid]
        out[cid] = Check(c.id, c.kind, c.fields, policy, c.doc, c.params)
    return out
