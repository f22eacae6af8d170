"""``clets run``: the switch as a long-running service.

What a service manager needs and the engine alone does not give: one config file in, one
"ready" log line out (scripts and tests wait for it), Prometheus ``/metrics`` and ``/healthz``,
JSON logs on stderr, and a clean stop on SIGTERM/SIGINT (stop reading, drain what is due,
close the journal, exit 0).  Everything durable stays in the engine and its journal: a SIGKILL
at any instant loses nothing that was acknowledged, so this file holds no state worth saving.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from clets.ops.http import OpsServer
from clets.ops.metrics import DaemonMetrics
from clets.switch.config import SwitchConfig, parse_host_port
from clets.switch.engine import Switch
from clets.switch.links import ServerLink

__all__ = ["Daemon", "serve"]

log = logging.getLogger("clets.daemon")

class Daemon:
    """A Switch plus its operations endpoint.  ``metrics_listen`` (``HOST:PORT``) overrides
    ``[switch] metrics_listen``; with neither there is no HTTP endpoint."""

    def __init__(self, config: SwitchConfig, *, metrics_listen: str | None = None,
                 drain_timeout: float = 10.0) -> None:
        self.config = config
        #: the HTTP API (``[api]``, clets.api): its links are given to the switch, its app
        #: is served in this loop once the switch runs
        self.api = _api_server(config)
        self.switch = Switch(self.api.with_links(config), self.api.given_links()) \
            if self.api is not None else Switch(config)
        self.drain_timeout = drain_timeout
        self.state = "starting"
        self.started_at = time.time()
        listen = metrics_listen or config.switch.metrics_listen
        self._listen = parse_host_port(listen) if listen else None
        self.ops: OpsServer | None = None
        self.metrics = DaemonMetrics(self._families)
        self._last_scrape: tuple[float, int] | None = None
        self.switch.metrics_data.observers.append(self._observe)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.switch.start()
        if self.api is not None:
            try:
                await self.api.start(self.switch, self._ops_routes)
            except OSError:
                await self.switch.stop(drain=False)
                raise
        if self._listen is not None:
            host, port = self._listen
            self.ops = OpsServer(self.render_metrics, self.health, host, port)
            try:
                await self.ops.start()
            except OSError:
                await self.switch.stop(drain=False)
                raise
        self.state = "running"
        _freeze_start()
        log.info("ready", extra={"pid": os.getpid(), "switch": self.config.switch.name,
                                 "listen": self.addresses(), "metrics": self.metrics_address(),
                                 "api": self.api.address() if self.api is not None else None,
                                 "journal": str(self.config.switch.journal)})

    async def stop(self) -> None:
        """Stop reading, drain what is due (bounded), close links and the journal."""
        if self.state in ("stopping", "stopped"):
            return
        self.state = "stopping"
        t0 = time.monotonic()
        try:
            if self.api is not None:  # no new requests; the switch drains what it took
                await self.api.stop()
            await self.switch.stop(drain=True, timeout=self.drain_timeout)
        finally:
            if self.ops is not None:
                await self.ops.close()
            self.state = "stopped"
        log.info("stopped", extra={"drain_seconds": round(time.monotonic() - t0, 3)})

    # ------------------------------------------------------------------ reporting

    def addresses(self) -> dict[str, str]:
        """``link name -> host:port`` of the links that listen (origin TCP/TLS servers)."""
        out: dict[str, str] = {}
        for name, link in self.switch.links.items():
            if isinstance(link, ServerLink):
                out[name] = f"{link.server.host}:{link.server.port}"
        return out

    def metrics_address(self) -> str | None:
        if self.ops is None or self._listen is None:
            return None
        return f"{self._listen[0]}:{self.ops.port}"

    def health(self) -> dict[str, Any]:
        """``ok`` and, when not, ``reason``: the daemon is not running, or a store the
        traffic needs (the journal, a drop) cannot be written (``storage.failing``)."""
        running = self.switch.running
        links = {n: lk.state.value for n, lk in self.switch.links.items()} if running else {}
        storage = self.switch.health()
        ok = running and self.state == "running" and bool(storage["ok"])
        reason = None
        if not (running and self.state == "running"):
            reason = f"switch {self.state}"
        elif not ok:
            reason = storage["reason"]
        return {"ok": ok, "state": self.state, "reason": reason,
                "journal": "open" if running else "closed", "links": links,
                "down": sorted(n for n, s in links.items() if s != "up"),
                "storage": storage}

    def _ops_routes(self, app: Any) -> None:
        """/metrics and /healthz on the API's app too (the same as the ops endpoint)."""
        from clets.api.app import add_ops_routes

        add_ops_routes(app, self.render_metrics, self.health)

    def _observe(self, kind: str, seconds: float) -> None:
        self.metrics.observe(kind, seconds)

    def render_metrics(self) -> str:
        """The Prometheus text exposition (prometheus_client) of this scrape."""
        return self.metrics.render()

    def _families(self) -> list[Metric]:
        """``Switch.metrics()`` and the storage health as metric families (each scrape)."""
        running = self.switch.running
        snap = self.switch.metrics() if running else {}
        messages = CounterMetricFamily(
            "clets_messages_total", "Messages by outcome (received, accepted, rejected, ...)",
            labels=["outcome"])
        for outcome, value in sorted(snap.get("messages", {}).items()):
            messages.add_metric([outcome], value)
        rejects = CounterMetricFamily("clets_rejects_total", "Rejected messages by error code",
                                      labels=["code"])
        for code, value in sorted(snap.get("rejects", {}).items()):
            rejects.add_metric([str(code)], value)
        depth = GaugeMetricFamily("clets_queue_depth",
                                  "Queued + in-flight rows per destination / origin link",
                                  labels=["target"])
        for target, n in sorted(snap.get("queue_depth", {}).items()):
            depth.add_metric([target], n)
        rows = GaugeMetricFamily("clets_queue_rows", "Queue rows per target and state",
                                 labels=["state", "target"])
        for target, states in sorted(snap.get("queue_states", {}).items()):
            for state, n in sorted(states.items()):
                rows.add_metric([state, target], n)
        link_up = GaugeMetricFamily("clets_link_up", "1 when the link is up, 0 otherwise",
                                    labels=["link"])
        for link, state in sorted(snap.get("links", {}).items()):
            link_up.add_metric([link], 1 if state == "up" else 0)
        out: list[Metric] = [messages, rejects, depth, rows, link_up, GaugeMetricFamily(
            "clets_journal_open", "1 while the journal is open", value=1 if running else 0)]
        jm = snap.get("journal")
        if jm is not None:
            out.append(CounterMetricFamily(
                "clets_journal_fsyncs_total",
                "Journal commits that wrote: one fsync each (synchronous=FULL)",
                value=jm["fsyncs"]))
            out.append(CounterMetricFamily(
                "clets_journal_commit_steps_total",
                "Steps (accepts, claims, answers, deliveries) in those commits",
                value=jm["steps"]))
            now = time.monotonic()
            rate = 0.0
            if self._last_scrape is not None and now > self._last_scrape[0]:
                rate = round((jm["fsyncs"] - self._last_scrape[1])
                             / (now - self._last_scrape[0]), 3)
            self._last_scrape = (now, jm["fsyncs"])
            out.append(GaugeMetricFamily("clets_journal_fsyncs_per_second",
                                         "Journal fsyncs per second since the previous scrape",
                                         value=rate))
        store = self.switch.storage
        ok = GaugeMetricFamily(
            "clets_storage_ok", "1 while the store (journal, link <drop>, capture <link>) "
            "can be written, 0 while it is full or failing", labels=["store"])
        for name in sorted({"journal", *(n for n, _k in store.errors)}):
            ok.add_metric([name], 1 if store.ok(name) else 0)
        errors = CounterMetricFamily("clets_storage_errors",
                                     "Failed writes by store and kind (full, io)",
                                     labels=["kind", "store"])
        for (name, kind), value in sorted(store.errors.items()):
            errors.add_metric([kind, name], value)
        recoveries = CounterMetricFamily("clets_storage_recoveries",
                                         "Times a failing store wrote again", labels=["store"])
        for name, value in sorted(store.recoveries.items()):
            recoveries.add_metric([name], value)
        out += [ok, errors, recoveries, GaugeMetricFamily(
            "clets_uptime_seconds", "Seconds since the daemon started",
            value=round(time.time() - self.started_at, 3))]
        if self.api is not None:  # event streams, webhooks (issue 15)
            out += self.api.metric_families(snap)
        return out


def _api_server(config: SwitchConfig) -> Any:
    """The API server of ``[api]``, or None (ConfigProblems when the table is wrong)."""
    if config.api is None:
        return None
    from clets.api.config import api_config
    from clets.api.server import ApiServer

    api = api_config(config)
    return ApiServer(api, config) if api is not None else None


#: the cyclic garbage collector's thresholds while the switch runs (CPython's: 700, 10, 10)
GC_THRESHOLDS = (10_000, 10, 10)


def _freeze_start() -> None:
    """Move every object the start made (modules, config, the field edits' generated code,
    the journal's fold) out of the cyclic garbage collector's reach, and collect the young
    generation less often.

    Why: those objects live as long as the process, and each full collection walked all of
    them again -- tens of milliseconds of stalled event loop every second or two at 1,000
    inquiries/s (docs/performance.md, "The tail at 1,000/s").  Collected first, so no
    garbage of the start is kept for good; frozen objects are still freed by reference
    counting when they go.  The switch makes almost no cyclic garbage (per inquiry: none),
    so a young collection every 700 allocations mostly examined objects that reference
    counting was about to free; every 10,000 it finds fewer alive, and fewer reach the
    older generations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve(config: SwitchConfig, *, metrics_listen: str | None = None,
                drain_timeout: float = 10.0) -> int:
    """Run until SIGTERM or SIGINT; return the exit status (0 after a clean stop)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("already stopping", extra={"signal": signal.Signals(signum).name})
            return
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    daemon = Daemon(config, metrics_listen=metrics_listen, drain_timeout=drain_timeout)
    log.info("starting", extra={"switch": config.switch.name, "config": config.source,
                                "config_sha256": config.sha256[:16]})
    try:
        try:
            await daemon.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await daemon.stop()
            raise
        await stop.wait()
        await daemon.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0
