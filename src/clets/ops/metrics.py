"""Metrics in the Prometheus text exposition format, with no third-party client.

Why our own: the daemon needs a handful of counters, gauges and histograms, and the exposition
format is small and stable; a dependency would be larger than this file.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["DEFAULT_LATENCY_BUCKETS", "Counter", "Gauge", "Histogram", "Registry"]

DEFAULT_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                           5.0, 10.0, 30.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def _fmt_labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in items)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


@dataclass
class Counter:
    name: str
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(_labels(labels), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for key, v in sorted(self.values.items()):
            yield f"{self.name}{_fmt_labels(key)} {_num(v)}"


@dataclass
class Gauge:
    name: str
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def set(self, value: float, **labels: str) -> None:
        self.values[_labels(labels)] = value

    def get(self, **labels: str) -> float:
        return self.values.get(_labels(labels), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for key, v in sorted(self.values.items()):
            yield f"{self.name}{_fmt_labels(key)} {_num(v)}"


@dataclass
class _HistState:
    counts: list[int]
    total: float = 0.0
    n: int = 0


@dataclass
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS
    states: dict[Labels, _HistState] = field(default_factory=dict)

    def observe(self, value: float, **labels: str) -> None:
        key = _labels(labels)
        st = self.states.get(key)
        if st is None:
            st = self.states[key] = _HistState([0] * len(self.buckets))
        i = bisect.bisect_left(self.buckets, value)
        if i < len(self.buckets):
            st.counts[i] += 1
        st.total += value
        st.n += 1

    def count(self, **labels: str) -> int:
        st = self.states.get(_labels(labels))
        return st.n if st else 0

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for key, st in sorted(self.states.items()):
            cumulative = 0
            for bound, c in zip(self.buckets, st.counts, strict=True):
                cumulative += c
                yield f"{self.name}_bucket{_fmt_labels(key, (('le', _num(bound)),))} {cumulative}"
            yield f"{self.name}_bucket{_fmt_labels(key, (('le', '+Inf'),))} {st.n}"
            yield f"{self.name}_sum{_fmt_labels(key)} {_num(st.total)}"
            yield f"{self.name}_count{_fmt_labels(key)} {st.n}"


class Registry:
    """A named set of metrics, rendered in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, Counter | Gauge | Histogram] = {}

    def counter(self, name: str, help: str) -> Counter:
        m = self._metrics.setdefault(name, Counter(name, help))
        assert isinstance(m, Counter)
        return m

    def gauge(self, name: str, help: str) -> Gauge:
        m = self._metrics.setdefault(name, Gauge(name, help))
        assert isinstance(m, Gauge)
        return m

    def histogram(self, name: str, help: str,
                  buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS) -> Histogram:
        m = self._metrics.setdefault(name, Histogram(name, help, buckets))
        assert isinstance(m, Histogram)
        return m

    def render(self) -> str:
        lines: list[str] = []
        for m in self._metrics.values():
            lines.extend(m.render())
        return "\n".join(lines) + "\n"
