"""schemathesis against the served API: requests generated from the OpenAPI document alone
(valid and invalid) to a real uvicorn in front of a real switch and the simulator; every
response must be no server error and must keep the contract (documented status, media type,
headers and schema).

Bounded for ``make test`` (``CLETS_SCHEMATHESIS_EXAMPLES``, default 15 per operation and
mode, a third of it for the stateful workflows); ``make api-fuzz`` runs it with 500.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from clets.daemon import Daemon
from clets.sim import SimNetwork
from clets.switch import load_config
from tests._api_kit import DESTS, api_config_text

EXAMPLES = int(os.environ.get("CLETS_SCHEMATHESIS_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]

pytestmark = pytest.mark.timeout(600)


class ServedSwitch:
    """``clets run``'s Daemon (switch + API on plain loopback HTTP) with the simulator, in an
    event loop of its own thread, so the test's synchronous HTTP client can call it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ready = threading.Event()
        self.address = ""
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="served switch", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with SimNetwork(backends=list(DESTS), base_port=0) as net:
            path = self.tmp / "switch.toml"
            path.write_text(api_config_text(self.tmp / "journal.db",
                                            {d: net.url(d) for d in DESTS}), "utf-8")
            daemon = Daemon(load_config(path))
            await daemon.start()
            assert daemon.api is not None
            self.address = daemon.api.address()
            self.ready.set()
            try:
                await self._stop.wait()
            finally:
                await daemon.stop()

    def __enter__(self) -> ServedSwitch:
        self._thread.start()
        self.ready.wait(30)
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSwitch]:
    with ServedSwitch(tmp_path_factory.mktemp("schemathesis")) as s:
        yield s


def _cases() -> list[tuple[str, str]]:
    """(operation, mode): invalid requests only where there is something to make invalid."""
    from clets.api.openapi import document

    out = []
    for path, item in document()["paths"].items():
        if path == "/v1/events":
            # a stream that stays open (it ends only when the client hangs up): a generated
            # request would wait for its end; tests/test_api_events.py and test_sse.py
            # cover it (its refusals, its framing, Last-Event-ID)
            continue
        for method, op in item.items():
            name = f"{method.upper()} {path}"
            out.append((name, "positive"))
            if op.get("parameters") or op.get("requestBody"):
                out.append((name, "negative"))
    return out


@pytest.mark.parametrize(("operation", "mode"), _cases())
def test_api_keeps_its_contract(served: ServedSwitch, operation: str, mode: str) -> None:
    """Cases of one operation from the schema the server serves (schemathesis' strategies
    run by hypothesis here: its pytest plugin does not run on this pytest)."""
    base = f"http://{served.address}"
    api = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")
    method, path = operation.split(" ", 1)
    op = api[path][method].ok() if hasattr(api[path][method], "ok") else api[path][method]
    strategy = op.as_strategy(generation_mode=GenerationMode(mode))

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base, checks=CHECKS, timeout=30)

    run()


def test_api_workflows_keep_the_contract(served: ServedSwitch) -> None:
    """Stateful: sequences that follow the document's links (a ``202`` of ``POST
    /v1/messages`` -> ``GET /v1/messages/{msn}`` of its msn), checked the same way."""
    base = f"http://{served.address}"
    api = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")

    class Workflow(api.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base, "timeout": 30}

        def validate_response(self, response: Any, case: Any,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Workflow.run(settings=settings(max_examples=max(5, EXAMPLES // 3), deadline=None,
                                   derandomize=True,
                                   database=None, stateful_step_count=6,
                                   suppress_health_check=list(HealthCheck)))
