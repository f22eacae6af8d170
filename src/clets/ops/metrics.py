"""The daemon's Prometheus metrics, made with ``prometheus_client``.

Why a collector over the switch's own counts: the engine counts what happens
(``Switch.metrics()``: messages by outcome, rejects by code, queue depths, link states, journal
commits, storage faults), and a scrape reads that snapshot as it is -- nothing is counted twice
and nothing drifts.  The two latency histograms are observed as the engine reports each
latency.  The registry is the daemon's own (not the process-wide default), so two switches in
one process (tests) never share a metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["ADDED_BUCKETS", "ANSWER_BUCKETS", "CONTENT_TYPE", "DaemonMetrics"]

#: finer than the engine's own histogram: the switch adds milliseconds, not seconds
ADDED_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                 10.0, 30.0)
ANSWER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: the text exposition's media type
CONTENT_TYPE = CONTENT_TYPE_LATEST


class _Snapshot(Collector):
    def __init__(self, families: Callable[[], Iterable[Metric]]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return list(self._families())


class DaemonMetrics:
    """The registry: the families ``families()`` builds at each scrape, and the latency
    histograms (``observe``)."""

    def __init__(self, families: Callable[[], Iterable[Metric]]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.answer = Histogram("clets_answer_latency_seconds",
                                "Request received -> first answer from a destination",
                                buckets=ANSWER_BUCKETS, registry=self.registry)
        self.added = Histogram(
            "clets_switch_added_latency_seconds",
            "Time the switch adds: stage=forward (request received -> sent to a destination),"
            " stage=deliver (answer received -> sent to the origin)", ["stage"],
            buckets=ADDED_BUCKETS, registry=self.registry)
        self.registry.register(_Snapshot(families))

    def observe(self, kind: str, seconds: float) -> None:
        if kind == "answer":
            self.answer.observe(seconds)
        else:
            self.added.labels(stage=kind).observe(seconds)

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
