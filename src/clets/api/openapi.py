"""The OpenAPI 3.1 document of the API: FastAPI's, completed with what it cannot know.

Why completed here: requests of ``POST /v1/messages`` are read by hand (any codec's media
type), every refusal is an RFC 9457 problem rather than FastAPI's validation error, and the
canonical message's schema is the model's own (msgspec), so a client generated from the
document reads exactly what the switch writes.  ``docs/openapi.json`` is this document for
the default ``[api]`` settings (``clets api openapi``; a test keeps it current).
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from clets.model import Message

from .problems import PROBLEM_JSON

__all__ = ["document", "install"]

_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; refusals by the switch carry its code, the "
                   "field (canonical path) and the message number when there is one.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "code": {"type": "integer", "description": "the switch's error code (.NN.)"},
        "field": {"type": ["string", "null"], "description": "canonical path, person.dob"},
        "error": {"type": ["string", "null"],
                  "description": "OAuth 2.0 error code (RFC 6749 / RFC 6750)"},
        "msn": {"type": ["integer", "null"]},
    },
}
_ANSWER = {
    "type": "object", "required": ["id", "state", "delivered"],
    "properties": {
        "id": {"type": "integer", "description": "the journal's id of the delivery"},
        "mke": {"type": ["string", "null"]}, "state": {"type": "string"},
        "delivered": {"type": "boolean"}, "at": {"type": "string"},
        "message": {"$ref": "#/components/schemas/Message",
                    "description": "the answer (json clients)"},
        "text": {"type": "string", "description": "the answer (clients of a text codec)"},
    },
}
_STATE = {
    "type": "object", "required": ["destination", "state"],
    "properties": {"destination": {"type": "string"},
                   "state": {"type": "string", "description": "queued, in_flight, done, dead,"
                             " not_responding (.02.), not_available (.04.)"},
                   "attempts": {"type": "integer"}, "answers": {"type": "integer"},
                   "status": {"type": ["string", "null"]},
                   "error": {"type": ["string", "null"]}},
}
_ACCEPTED = {
    "type": "object", "required": ["msn", "location", "destinations"],
    "properties": {
        "msn": {"type": "integer", "description": "the switch's message number"},
        "location": {"type": "string"},
        "destinations": {"type": "array", "items": {"type": "string"}},
        "complete": {"type": "boolean", "description": "?wait=: every answer or status in"},
        "answers": {"type": "array", "items": {"$ref": "#/components/schemas/Answer"}},
        "states": {"type": "array", "items": {"$ref": "#/components/schemas/DestinationState"}},
    },
}
_VIEW = {
    "type": "object",
    "required": ["msn", "destinations", "answers", "complete"],
    "properties": {
        "msn": {"type": "integer"}, "received_at": {"type": "string"},
        "mke": {"type": ["string", "null"]}, "origin": {"type": ["string", "null"]},
        "control": {"type": ["string", "null"]}, "operator": {"type": ["string", "null"]},
        "codec": {"type": ["string", "null"]},
        "message": {"anyOf": [{"$ref": "#/components/schemas/Message"}, {"type": "null"}]},
        "destinations": {"type": "array",
                         "items": {"$ref": "#/components/schemas/DestinationState"}},
        "answers": {"type": "array", "items": {"$ref": "#/components/schemas/Answer"}},
        "complete": {"type": "boolean"},
    },
}
_TOKEN = {"type": "object", "required": ["access_token", "token_type", "expires_in"],
          "properties": {"access_token": {"type": "string"},
                         "token_type": {"type": "string", "enum": ["Bearer"]},
                         "expires_in": {"type": "integer"}}}

#: (path, method) -> the success responses FastAPI does not describe itself
_SUCCESS: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/messages", "post"): {"202": {
        "description": "Accepted: in the journal, forwarded to its destinations",
        "headers": {"Location": {"schema": {"type": "string"},
                                 "description": "/v1/messages/{msn}"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
        "links": {"GetMessage": {
            "operationId": "get_message_v1_messages__msn__get",
            "parameters": {"msn": "$response.body#/msn"},
            "description": "the message, its destinations' states and its answers"}}}},
    ("/v1/messages/{msn}", "get"): {"200": {
        "description": "The message, each destination's state, every answer so far",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MessageView"}}}}},
    ("/v1/token", "post"): {"200": {
        "description": "An access token",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Token"}}}}},
    ("/healthz", "get"): {"200": {"description": "ok", "content": {
        "application/json": {"schema": {"type": "object"}}}}, "503": {
        "description": "not ok (the reason says why)", "content": {
            "application/json": {"schema": {"type": "object"}}}}},
}

_PUBLIC = {("/v1/token", "post"), ("/healthz", "get"), ("/v1/openapi.json", "get")}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def build(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, openapi_version="3.1.0",
                      description=app.description, routes=app.routes)
    _schemas, models = msgspec.json.schema_components(
        [Message], ref_template="#/components/schemas/{name}")
    comps = doc.setdefault("components", {})
    schemas = comps.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(copy.deepcopy(models))
    schemas.update(Problem=_PROBLEM, Answer=_ANSWER, DestinationState=_STATE,
                   Accepted=_ACCEPTED, MessageView=_VIEW, Token=_TOKEN)
    comps["securitySchemes"] = {
        "oauth2": {"type": "oauth2", "description": "client credentials; the token is bound "
                   "to the client certificate when one is presented (RFC 8705)",
                   "flows": {"clientCredentials": {"tokenUrl": "/v1/token", "scopes": {}}}},
        "mutualTLS": {"type": "mutualTLS",
                      "description": "a client certificate a [[peer]] cert_subject names"},
        "clientBasic": {"type": "http", "scheme": "basic",
                        "description": "client_id:client_secret at the token endpoint"},
    }
    doc["security"] = [{"oauth2": []}, {"mutualTLS": []}]
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            if (path, method) in _SUCCESS:
                for status in [s for s in responses if s.startswith("2")]:
                    responses.pop(status)
                responses.update(copy.deepcopy(_SUCCESS[(path, method)]))
            responses["4XX"] = _problem("Refused: RFC 9457 problem details (docs/api.md)")
            responses["5XX"] = _problem("The switch cannot take it now (Retry-After)")
            if (path, method) == ("/v1/token", "post"):
                op["security"] = [{"clientBasic": []}, {}]
            elif (path, method) in _PUBLIC:
                op["security"] = []
            if (path, method) == ("/v1/messages", "post"):
                body = op["requestBody"]["content"]["application/json"]
                body["schema"] = {"$ref": "#/components/schemas/Message"}
                op.setdefault("parameters", []).append({
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "the dedup key of a message without a control or "
                                   "sequence: a repeat returns the first outcome, other "
                                   "content under it is 409",
                    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"}})
    return doc


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/v1/openapi.json``) return the completed document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(api: Any = None) -> dict[str, Any]:
    """The document of an API with ``api``'s settings (default ``[api]`` ones), as served."""
    from .app import add_ops_routes, create_app
    from .config import ApiConfig

    app = create_app(None, api=api or ApiConfig("api", "127.0.0.1", 8443))
    add_ops_routes(app, lambda: "", lambda: {})
    return app.openapi()
