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
import logging
import os
import signal
import time
from typing import Any

from clets.ops.http import OpsServer
from clets.ops.metrics import Registry
from clets.switch.config import SwitchConfig, parse_host_port
from clets.switch.engine import Switch
from clets.switch.links import ServerLink

__all__ = ["Daemon", "serve"]

log = logging.getLogger("clets.daemon")

#: finer than the engine's own histogram: the switch adds milliseconds, not seconds
ADDED_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                 10.0, 30.0)
ANSWER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


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
        self.registry = Registry()
        r = self.registry
        self._messages = r.counter("clets_messages_total",
                                   "Messages by outcome (received, accepted, rejected, ...)")
        self._rejects = r.counter("clets_rejects_total", "Rejected messages by error code")
        self._depth = r.gauge("clets_queue_depth",
                              "Queued + in-flight rows per destination / origin link")
        self._rows = r.gauge("clets_queue_rows", "Queue rows per target and state")
        self._link_up = r.gauge("clets_link_up", "1 when the link is up, 0 otherwise")
        self._journal_open = r.gauge("clets_journal_open", "1 while the journal is open")
        self._uptime = r.gauge("clets_uptime_seconds", "Seconds since the daemon started")
        self._fsyncs = r.counter("clets_journal_fsyncs_total",
                                 "Journal commits that wrote: one fsync each (synchronous=FULL)")
        self._steps = r.counter("clets_journal_commit_steps_total",
                                "Steps (accepts, claims, answers, deliveries) in those commits")
        self._fsync_rate = r.gauge("clets_journal_fsyncs_per_second",
                                   "Journal fsyncs per second since the previous scrape")
        self._last_scrape: tuple[float, int] | None = None
        self._storage_ok = r.gauge(
            "clets_storage_ok", "1 while the store (journal, link <drop>, capture <link>) "
            "can be written, 0 while it is full or failing")
        self._storage_errors = r.counter(
            "clets_storage_errors_total", "Failed writes by store and kind (full, io)")
        self._storage_recoveries = r.counter(
            "clets_storage_recoveries_total", "Times a failing store wrote again")
        self._answer = r.histogram("clets_answer_latency_seconds",
                                   "Request received -> first answer from a destination",
                                   ANSWER_BUCKETS)
        self._added = r.histogram(
            "clets_switch_added_latency_seconds",
            "Time the switch adds: stage=forward (request received -> sent to a destination),"
            " stage=deliver (answer received -> sent to the origin)", ADDED_BUCKETS)
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
        if kind == "answer":
            self._answer.observe(seconds)
        else:
            self._added.observe(seconds, stage=kind)

    def render_metrics(self) -> str:
        """Map ``Switch.metrics()`` into the registry (counters move by their delta, so they
        stay monotonic), then render the exposition text."""
        running = self.switch.running
        snap = self.switch.metrics() if running else {}
        for outcome, value in snap.get("messages", {}).items():
            self._messages.inc(value - self._messages.get(outcome=outcome), outcome=outcome)
        for code, value in snap.get("rejects", {}).items():
            self._rejects.inc(value - self._rejects.get(code=code), code=code)
        self._depth.values.clear()
        for target, depth in snap.get("queue_depth", {}).items():
            self._depth.set(depth, target=target)
        self._rows.values.clear()
        for target, states in snap.get("queue_states", {}).items():
            for state, n in states.items():
                self._rows.set(n, target=target, state=state)
        for link, state in snap.get("links", {}).items():
            self._link_up.set(1 if state == "up" else 0, link=link)
        self._journal_open.set(1 if running else 0)
        jm = snap.get("journal")
        if jm is not None:
            self._fsyncs.inc(jm["fsyncs"] - self._fsyncs.get())
            self._steps.inc(jm["steps"] - self._steps.get())
            now = time.monotonic()
            if self._last_scrape is not None and now > self._last_scrape[0]:
                self._fsync_rate.set(round((jm["fsyncs"] - self._last_scrape[1])
                                           / (now - self._last_scrape[0]), 3))
            self._last_scrape = (now, jm["fsyncs"])
        store = self.switch.storage
        for (name, kind), value in store.errors.items():
            self._storage_errors.inc(value - self._storage_errors.get(store=name, kind=kind),
                                     store=name, kind=kind)
        for name, value in store.recoveries.items():
            self._storage_recoveries.inc(value - self._storage_recoveries.get(store=name),
                                         store=name)
        for name in {"journal", *(n for n, _k in store.errors)}:
            self._storage_ok.set(1 if store.ok(name) else 0, store=name)
        self._uptime.set(round(time.time() - self.started_at, 3))
        return self.registry.render()


def _api_server(config: SwitchConfig) -> Any:
    """The API server of ``[api]``, or None (ConfigProblems when the table is wrong)."""
    if config.api is None:
        return None
    from clets.api.config import api_config
    from clets.api.server import ApiServer

    api = api_config(config)
    return ApiServer(api, config) if api is not None else None


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
