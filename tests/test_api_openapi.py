"""The OpenAPI 3.1 document: the committed ``docs/openapi.json`` is the one the app serves
(regenerate it with ``clets api openapi > docs/openapi.json``), and it is a valid 3.1
document with a schema for every response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clets.api.openapi import document
from tests._api_kit import running_api
from tests._switch_kit import run_async

pytestmark = pytest.mark.timeout(60)

COMMITTED = Path(__file__).parent.parent / "docs" / "openapi.json"


def test_committed_document_is_current() -> None:
    current = document()
    committed = json.loads(COMMITTED.read_text("utf-8"))
    assert committed == current, ("docs/openapi.json is out of date: run "
                                  "`clets api openapi > docs/openapi.json`")


def test_document_is_openapi_3_1_with_problems_and_security() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    assert {"/v1/messages", "/v1/messages/{msn}", "/v1/token", "/v1/decode", "/v1/encode",
            "/v1/convert", "/v1/validate", "/healthz"} <= set(doc["paths"])
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert "4XX" in op["responses"], (path, method)
            assert "422" not in op["responses"] or path == "/none"
    schemes = doc["components"]["securitySchemes"]
    assert schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/v1/token"
    assert schemes["mutualTLS"]["type"] == "mutualTLS"
    message = doc["components"]["schemas"]["Message"]
    assert message["additionalProperties"] is False  # unknown fields are refused


@run_async
async def test_the_app_serves_the_document(tmp_path: Path) -> None:
    async with running_api(tmp_path) as h:
        r = await h.http.get("/v1/openapi.json")
        assert r.status_code == 200
        assert r.json() == document()
