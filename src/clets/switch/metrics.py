"""Plain metric counters of the switch (an HTTP ``/metrics`` endpoint reads ``snapshot()``).

Counters only count events the engine also audits; queue depths come from the journal when
asked, so they are never out of step with what is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: upper bounds (seconds) of the request -> first-answer latency histogram; +Inf is implied
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(slots=True)
class Metrics:
    #: ``clets_messages_total{outcome}``: received, accepted, rejected, duplicate_ignored,
    #: forwarded, forward_failed, responded, delivered, delivery_failed, timeout, dead_letter,
    #: late, unsolicited, acked, bad_response
    messages: Counter[str] = field(default_factory=Counter)
    #: ``clets_rejects_total{code}``
    rejects: Counter[int] = field(default_factory=Counter)
    #: cumulative histogram counts per bucket upper bound, plus count and sum
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    latency_count: int = 0
    latency_sum: float = 0.0
    #: observers of every latency sample ``(kind, seconds)``: ``kind`` is ``answer`` (request
    #: received -> first answer), ``forward`` (request received -> forwarded to a destination,
    #: first attempt) or ``deliver`` (answer received -> written to the origin link); the
    #: daemon feeds these into Prometheus histograms with finer buckets than ours
    observers: list[Callable[[str, float], None]] = field(default_factory=list)

    def count(self, outcome: str, n: int = 1) -> None:
        self.messages[outcome] += n

    def observe_latency(self, seconds: float) -> None:
        self.latency_count += 1
        self.latency_sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_buckets[i] += 1
        self.observe("answer", seconds)

    def observe(self, kind: str, seconds: float) -> None:
        """One latency sample for the observers (the switch-added stages, and answers)."""
        for fn in self.observers:
            fn(kind, seconds)

    def snapshot(self, *, depths: dict[str, dict[str, int]],
                 links: dict[str, str]) -> dict[str, Any]:
        return {
            "messages": dict(self.messages),
            "rejects": {f"{k:02d}": v for k, v in sorted(self.rejects.items())},
            "latency": {
                "buckets": {f"{b:g}": c for b, c in zip(LATENCY_BUCKETS, self.latency_buckets,
                                                       strict=True)},
                "count": self.latency_count,
                "sum": round(self.latency_sum, 6),
            },
            "queue_depth": {t: s.get("queued", 0) + s.get("in_flight", 0)
                            for t, s in depths.items()},
            "queue_states": depths,
            "links": links,
        }
