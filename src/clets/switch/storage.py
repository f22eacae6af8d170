"""Which of the switch's stores cannot be written now, since when and why (``/healthz``).

Why a small registry: a full disk or a failing one is not an event but a state that lasts, and
the operator needs the state ("the journal has been full since 02:14", "the spool of link dmv
cannot write its ledger") more than a count of the errors it caused.  The engine reports every
storage failure and every write that succeeded again; ``/healthz`` and ``/metrics`` read
:meth:`StoreHealth.status` and :attr:`StoreHealth.errors`.

Stores are named by what they hold: ``journal``, ``link <name>`` (a spool or SFTP drop: its
ledger or its files) and ``capture <name>``.  A capture that cannot write degrades the box
(``critical`` False) but does not make it unhealthy: traffic flows without it.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from clets.errors import StorageError

__all__ = ["Problem", "StoreHealth"]

log = logging.getLogger("clets.switch")


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


@dataclass(slots=True)
class Problem:
    """One store that failed and has not written since."""

    store: str
    kind: str
    reason: str
    since: float
    errors: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason, "since": _iso(self.since),
                "errors": self.errors}


class StoreHealth:
    """Open storage problems by store, with error and recovery counts (one event loop)."""

    def __init__(self) -> None:
        self.problems: dict[str, Problem] = {}
        #: ``clets_storage_errors_total{store, kind}``
        self.errors: Counter[tuple[str, str]] = Counter()
        #: ``clets_storage_recoveries_total{store}``
        self.recoveries: Counter[str] = Counter()

    def failed(self, store: str, err: StorageError, now: float) -> bool:
        """Record a failure; True when the store was fine until now (log it once)."""
        self.errors[(store, err.kind)] += 1
        p = self.problems.get(store)
        if p is not None:
            p.errors += 1
            p.kind, p.reason = err.kind, str(err)
            return False
        self.problems[store] = Problem(store, err.kind, str(err), now)
        log.error("storage failed", extra={"store": store, "kind": err.kind,
                                           "error": str(err)})
        return True

    def recovered(self, store: str, now: float) -> Problem | None:
        """A write to ``store`` succeeded: the problem it had (None when it had none)."""
        p = self.problems.pop(store, None)
        if p is not None:
            self.recoveries[store] += 1
            log.warning("storage recovered", extra={
                "store": store, "kind": p.kind, "seconds": round(max(0.0, now - p.since), 3),
                "errors": p.errors})
        return p

    def ok(self, store: str) -> bool:
        return store not in self.problems

    @staticmethod
    def critical(store: str) -> bool:
        """Whether a failure of ``store`` stops traffic (a capture's does not)."""
        return not store.startswith("capture ")

    def status(self) -> dict[str, Any]:
        """``{"ok", "reason", "failing": {store: {...}}, "degraded": {...}}`` for /healthz."""
        failing = {s: p.to_dict() for s, p in sorted(self.problems.items())
                   if self.critical(s)}
        degraded = {s: p.to_dict() for s, p in sorted(self.problems.items())
                    if not self.critical(s)}
        reasons = [f"{s} {'full' if p['kind'] == 'full' else 'I/O error'} since {p['since']}"
                   f": {p['reason']}" for s, p in {**failing, **degraded}.items()]
        return {"ok": not failing, "reason": "; ".join(reasons) or None,
                "failing": failing, "degraded": degraded}
