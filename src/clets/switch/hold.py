"""Messages held for a supervisor: a quality check with policy ``hold`` (docs/quality.md).

A held message is journaled like any accepted one -- message, dedup key, ``received`` and
``journaled`` audit records, one queue row per destination and delivery -- but its queue rows
are in state ``held`` instead of ``queued``, and one more row, the error answer to its
origin already encoded in the origin's format, waits in state ``held_reply``.

Why queue rows and no table of its own: both journal backends (``journal.Journal`` and
``logjournal.LogJournal``) already keep every row whatever its state, across restarts and
snapshots, and their workers, timers, expiry and retention look only at ``queued``,
``in_flight``, ``done`` and ``dead``.  A ``held`` row is therefore never sent, never times
out, never expires and is never purged, and its message stays with it.  Holding, releasing
and rejecting are made of the journal's public operations (``set_state``, ``retry``,
``add_delivery``, ``list_rows``, ``audit``), so the same code runs in the switch (inside a
group commit, asked on the admin socket) and in ``clets quality release|reject`` on a stopped
journal.

- **release**: the held rows become ``queued`` as ``clets queue retry`` makes them (attempts
  0; answer deadline and time to live counted again from the release), so the message is
  forwarded as any other, on the routes it was given at intake, with its switch controls;
  the prepared error answer is set ``done`` unsent.
- **reject**: the held rows are set ``done`` unsent (with the reason in ``last_error``) and
  the prepared error answer is queued to the origin.

Each is one transaction with a ``quality`` audit record naming who did it (``operator``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from clets.errors import ConfigError

from .audit import AuditEvent
from .journal import OutRow, StoredMessage

__all__ = ["HELD", "HELD_REPLY", "HeldMessage", "held_messages", "hold", "reject", "release"]

#: state of a held message's forwards and deliveries
HELD = "held"
#: state of the error answer prepared for its origin (sent only if a supervisor rejects)
HELD_REPLY = "held_reply"
#: most held rows read at once (holds are for the exceptional message)
_LIMIT = 10**6


class _Journal(Protocol):
    """What this module uses of a journal (both backends offer it)."""

    def set_state(self, oid: int, state: str, now: float, *, error: str | None = None,
                  next_attempt_at: float | None = None, attempts: int | None = None
                  ) -> None: ...

    def retry(self, oid: int, now: float, ttl: float) -> OutRow: ...

    def add_delivery(self, msn: int, link: str, peer: str | None, mke: str | None,
                     frame: bytes, now: float, expires_at: float) -> int: ...

    def list_rows(self, *, state: str | None = None, target: str | None = None,
                  limit: int = 1000) -> list[OutRow]: ...

    def message(self, msn: int) -> StoredMessage | None: ...

    def audit(self, ev: AuditEvent, now: float) -> None: ...


@dataclass(slots=True)
class HeldMessage:
    """One held message as ``clets quality held`` lists it."""

    msn: int
    held_at: float
    reason: str
    targets: list[str] = field(default_factory=list)
    reply_to: str | None = None
    origin: str | None = None
    mke: str | None = None
    control: str | None = None
    operator: str | None = None
    flags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"msn": self.msn, "held_at": self.held_at, "reason": self.reason,
                "targets": self.targets, "reply_to": self.reply_to, "origin": self.origin,
                "mke": self.mke, "control": self.control, "operator": self.operator,
                "flags": self.flags}


def hold(j: _Journal, msn: int, oids: list[int], reason: str,
         reply: tuple[str, str | None, bytes] | None, now: float, reply_ttl: float) -> None:
    """Hold message ``msn`` (caller holds the transaction that journaled it): its queue rows
    ``oids`` become ``held``; ``reply`` (origin link, peer, encoded error answer) waits as
    ``held_reply``."""
    note = f"held: {reason}"[:200]
    for oid in oids:
        j.set_state(oid, HELD, now, error=note)
    if reply is not None:
        link, peer, frame = reply
        rid = j.add_delivery(msn, link, peer, "ER", frame, now, now + reply_ttl)
        j.set_state(rid, HELD_REPLY, now, error=note)


def _rows_of(j: _Journal, msn: int) -> tuple[list[OutRow], list[OutRow]]:
    held = [r for r in j.list_rows(state=HELD, limit=_LIMIT) if r.msn == msn]
    replies = [r for r in j.list_rows(state=HELD_REPLY, limit=_LIMIT) if r.msn == msn]
    return held, replies


def held_messages(j: _Journal) -> list[HeldMessage]:
    """Every message held now, oldest first."""
    out: dict[int, HeldMessage] = {}
    rows = j.list_rows(state=HELD, limit=_LIMIT) + j.list_rows(state=HELD_REPLY, limit=_LIMIT)
    for r in sorted(rows, key=lambda r: r.id):
        h = out.get(r.msn)
        if h is None:
            reason = (r.last_error or "")
            h = out[r.msn] = HeldMessage(r.msn, r.created_at,
                                         reason.removeprefix("held: "))
        if r.state == HELD:
            h.targets.append(r.target)
        else:
            h.reply_to = r.target
    for h in out.values():
        m = j.message(h.msn)
        if m is None:
            continue
        h.origin, h.mke, h.control, h.operator = m.origin, m.mke, m.control, m.operator
        h.held_at = m.received_at
        try:
            warnings = json.loads(m.canonical).get("warnings") or []
        except (ValueError, AttributeError):
            warnings = []
        h.flags = [w for w in warnings if isinstance(w, str) and w.startswith("QUALITY ")]
    return sorted(out.values(), key=lambda h: h.msn)


def _not_held(msn: int, source: str) -> ConfigError:
    return ConfigError(f"message {msn} is not held (released, rejected, or never held)",
                       source=source)


def release(j: _Journal, msn: int, now: float, operator: str | None, *,
            source: str = "journal") -> list[OutRow]:
    """Forward held message ``msn`` now (caller holds the transaction); its queue rows."""
    held, replies = _rows_of(j, msn)
    if not held and not replies:
        raise _not_held(msn, source)
    out = []
    for r in held:
        j.set_state(r.id, "queued", now, next_attempt_at=now)
        out.append(j.retry(r.id, now, max(r.expires_at - r.created_at, 0.0)))
    for r in replies:
        j.set_state(r.id, "done", now, error="not sent: released by a supervisor")
    j.audit(AuditEvent("quality", msn=msn, operator=operator, outcome="released",
                       destination=",".join(r.target for r in held)[:100],
                       reason=f"quality release {msn}"), now)
    return out


def reject(j: _Journal, msn: int, now: float, operator: str | None, *,
           source: str = "journal") -> list[OutRow]:
    """Refuse held message ``msn`` (caller holds the transaction): nothing is forwarded and
    the prepared error answer goes to its origin; the rows queued (that answer)."""
    held, replies = _rows_of(j, msn)
    if not held and not replies:
        raise _not_held(msn, source)
    reason = next((r.last_error for r in held + replies if r.last_error), "") or ""
    for r in held:
        j.set_state(r.id, "done", now, error="not sent: rejected by a supervisor")
    out = []
    for r in replies:
        j.set_state(r.id, "queued", now, next_attempt_at=now)
        out.append(j.retry(r.id, now, max(r.expires_at - r.created_at, 0.0)))
    j.audit(AuditEvent("quality", msn=msn, operator=operator, outcome="rejected",
                       error_code=21, destination=",".join(r.target for r in out)[:100] or None,
                       reason=f"quality reject {msn}: {reason.removeprefix('held: ')}"[:200]),
            now)
    return out
