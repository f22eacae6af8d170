"""The FastAPI application of the switch's HTTP API (``create_app``).

Why FastAPI: the OpenAPI 3.1 document that integrators generate their clients from is made
from the same declarations that route and check the requests, so the contract cannot drift
from the code.  Bodies of ``POST /v1/messages`` are read by hand (size-limited, any of the
codecs' media types) and declared in the document with ``openapi_extra``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi import Path as FastApiPath
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from clets.codecs.base import Codec, get_codec
from clets.errors import LinkBusy
from clets.switch.engine import Switch

from .auth import Authenticator
from .codecs_service import add_codec_routes
from .config import ApiConfig
from .events import EventHub
from .link import ApiLink
from .messages import (
    MEDIA_CODECS,
    LogReads,
    codec_of_media,
    destinations,
    message_view,
    read_message,
    read_reply,
    refusal,
    wait_settled,
)
from .openapi import install as install_openapi
from .problems import ApiProblem, problem_response

__all__ = ["ApiContext", "create_app"]

log = logging.getLogger("clets.api")

API_VERSION = "1.0.0"
#: seconds a request body may take to arrive
BODY_DEADLINE = 30.0
#: message numbers are SQLite integers
MAX_MSN = (1 << 63) - 1


@dataclass
class ApiContext:
    """What the routes need: the config, the running switch, the API's links by codec, the
    hub answers are published to, and who is calling."""

    api: ApiConfig
    switch: Switch
    hub: EventHub
    #: codec name -> the switch link of that codec
    links: dict[str, ApiLink]
    auth: Authenticator
    codecs: dict[str, Codec] = field(default_factory=dict)
    #: reads of messages back from the log journal (GET /v1/messages/{msn})
    log_reads: LogReads = field(default_factory=LogReads)
    _media: dict[str, str] | None = None

    def codec(self, name: str) -> Codec:
        codec = self.codecs.get(name)
        if codec is None:
            codec = self.codecs[name] = get_codec(name)
        return codec

    def media(self) -> dict[str, str]:
        """The request media types of the API's links (made once: the links are fixed)."""
        if self._media is None:
            self._media = {m: c for m, c in MEDIA_CODECS.items() if c in self.links}
        return self._media


async def read_body(request: Request, limit: int, declared: str | bool | None = True
                    ) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` -- by its
    ``Content-Length`` (``declared``: its value when the caller read it, None when there
    is none) before a byte of it is read, else while it streams in."""
    if declared is True:
        declared = request.headers.get("content-length")
    if isinstance(declared, str):
        if not declared.isdigit():
            raise ApiProblem(400, "bad-request", "Bad Request", "Content-Length is not a number")
        if int(declared) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    try:
        async with asyncio.timeout(BODY_DEADLINE):  # a body sent a byte a minute is cut
            # ASGI's receive read as ``Request.stream`` does, without its async generator
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "http.request":
                    chunk = message.get("body", b"")
                    if chunk:
                        size += len(chunk)
                        if size > limit:
                            raise too_large(limit)
                        chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
                elif kind == "http.disconnect":
                    raise ClientDisconnect()
    except TimeoutError:
        raise ApiProblem(408, "body-timeout", "Request Timeout",
                         f"the body did not arrive within {BODY_DEADLINE:g} s",
                         headers={"Connection": "close"}) from None
    return b"".join(chunks)


_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def idempotency_key(request: Request) -> str | None:
    """``Idempotency-Key``: 1-255 visible ASCII characters; it becomes the message's dedup
    key when the message carries no control or sequence (switch.md's order)."""
    return idempotency_value(request.headers.get("idempotency-key"))


def idempotency_value(key: str | None) -> str | None:
    """An ``Idempotency-Key`` header's value checked (``idempotency_key``)."""
    if key is not None and not _KEY.fullmatch(key):
        raise ApiProblem(400, "bad-idempotency-key", "Bad Request",
                         "Idempotency-Key must be 1-255 visible ASCII characters")
    return key


def wait_param(request: Request, limit: float) -> float | None:
    """``?wait=SECONDS``, 0 to ``limit`` (as the document declares it), else a 400."""
    return wait_value(request.query_params.get("wait"), limit)


#: query strings of ``POST /v1/messages`` seen -> their valid ``wait`` (a client sends the
#: same one each time: Starlette's query parsing, ``parse_qsl``, was a tenth of the HTTP
#: layer's cost per inquiry); bounded, and only well-formed ones are kept
_WAITS: dict[tuple[bytes, float], float | None] = {}
_WAITS_MAX = 256


def wait_of_query(query: bytes, limit: float) -> float | None:
    """``wait_param`` from the raw query string (the scope's ``query_string``): the same
    value or the same 400, parsed once per distinct query string."""
    if not query:
        return None
    key = (query, limit)
    try:
        return _WAITS[key]
    except KeyError:
        pass
    value = wait_value(QueryParams(query).get("wait"), limit)  # raises on a bad one
    if len(_WAITS) >= _WAITS_MAX:
        _WAITS.clear()
    _WAITS[key] = value
    return value


def wait_value(raw: str | None, limit: float) -> float | None:
    """A ``wait`` parameter's text as its value, or the 400."""
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= limit:  # NaN too
        reason = f"must be a number from 0 to {limit:g}"
        raise ApiProblem(400, "invalid-request", "Bad Request", f"query.wait: {reason}",
                         errors=[{"where": "query.wait", "reason": reason}])
    return value


def too_large(limit: int) -> ApiProblem:
    return ApiProblem(413, "body-too-large", "Content Too Large",
                      f"the body is larger than {limit} bytes", limit=limit)


#: the header fields ``POST /v1/messages`` reads (ASGI gives their names in lower case)
_MESSAGE_HEADERS = frozenset((b"content-type", b"content-length", b"idempotency-key"))


def message_headers(scope: Scope) -> dict[bytes, str]:
    """The header fields of ``POST /v1/messages``, each its first value as Starlette's
    ``headers.get`` gives it, read in one pass over the scope (a ``headers.get`` of a field
    that is absent raised and caught a ``KeyError``)."""
    out: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _MESSAGE_HEADERS and name not in out:
            out[name] = value.decode("latin-1")
    return out


class Accepted:
    """The ``202`` of ``POST /v1/messages`` as the dispatcher sends it: the head and body
    Starlette's ``Response(body, 202, media_type="application/json", headers={"Location":
    ...})`` sends (the same fields in the same order), without building one."""

    __slots__ = ("body", "location")

    def __init__(self, body: bytes, location: str) -> None:
        self.body, self.location = body, location

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": [
            (b"location", self.location.encode("latin-1")),
            (b"content-length", b"%d" % len(self.body)),
            (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self.body})

    def response(self) -> Response:
        return Response(self.body, status_code=202, media_type="application/json",
                        headers={"Location": self.location})


def _header_bytes(scope: Scope) -> int:
    """The size of the header fields as ``HeaderLimit`` counts them (name, value, ": " and
    CRLF of each)."""
    headers = scope.get("headers", ())
    size = 4 * len(headers)
    for name, value in headers:
        size += len(name) + len(value)
    return size


class HeaderLimit:
    """Refuse a request whose header lines together pass ``limit`` bytes (431), before any
    route sees it.  The HTTP parser refuses a head that arrives incomplete past its own bound
    (400); a whole head read at once is caught here."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = _header_bytes(scope)
            if size > self.limit:
                response = problem_response(ApiProblem(
                    431, "headers-too-large", "Request Header Fields Too Large",
                    f"the header fields are larger than {self.limit} bytes",
                    limit=self.limit), scope.get("path"))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ApiApp(FastAPI):
    """The API's FastAPI app with a dispatcher in front for ``POST /v1/messages``, the hot
    path: that request goes straight to its handler (``fast``), past FastAPI's and
    Starlette's middleware and routing (seven ASGI layers and a route search, about a third
    of the HTTP cost per inquiry); every other request takes the ordinary way.  What those
    layers do for it is done here: the header limit (431), problems for ``ApiProblem``, a
    500 problem (logged) for anything else."""

    fast: Any = None
    header_limit: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.fast is not None and scope["type"] == "http"
                and scope["path"] == "/v1/messages" and scope["method"] == "POST"
                and not self.root_path and _header_bytes(scope) <= self.header_limit):
            scope["app"] = self
            request = Request(scope, receive, send)
            try:
                response = await self.fast(request)
            except ClientDisconnect:  # gone before its body came: nobody to answer
                return
            except ApiProblem as exc:
                response = problem_response(exc, scope["path"])
            except Exception:  # never a traceback (as the app's own handler)
                log.exception("API internal error on %s", scope["path"])
                response = problem_response(ApiProblem(500, "internal",
                                                       "Internal Server Error"), scope["path"])
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(context: ApiContext | None, *, api: ApiConfig | None = None) -> FastAPI:
    """The app of a running switch's API (``context``); with None, an app whose only use is
    its OpenAPI document (``api`` gives the limits it states)."""
    settings = api or (context.api if context is not None else None)
    assert settings is not None
    app = ApiApp(title="clets switch API", version=API_VERSION,
                  openapi_url="/v1/openapi.json", docs_url=None, redoc_url=None,
                  description="The HTTP API of a clets message switch (docs/api.md).")
    app.state.ctx = context
    _problem_handlers(app)
    app.add_middleware(HeaderLimit, limit=settings.max_header_bytes)
    install_openapi(app)
    ctx = cast(ApiContext, context)  # routes run only in an app that has one

    message_body = {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/x-ncic": {"schema": {"type": "string"}},
            "application/x-nlets": {"schema": {"type": "string"}},
            "application/niem+xml": {"schema": {"type": "string"}},
        },
    }

    async def send_message(request: Request, wait: float | None) -> Response:
        heads = message_headers(request.scope)
        return (await accept_message(request, wait, heads)).response()

    async def accept_message(request: Request, wait: float | None,
                             heads: dict[bytes, str]) -> Accepted:
        caller = ctx.auth.identify(request)
        codec_name = codec_of_media(heads.get(b"content-type"), ctx.media())
        body = await read_body(request, settings.max_body_bytes,
                               heads.get(b"content-length"))
        key = idempotency_value(heads.get(b"idempotency-key"))
        link = ctx.links[codec_name]
        try:
            reply = await link.submit(body, caller.peer, key)
        except LinkBusy as exc:
            raise ApiProblem(503, "unavailable", "Service Unavailable", str(exc),
                             headers={"Retry-After": "1"}) from None
        except TimeoutError:
            raise ApiProblem(503, "unavailable", "Service Unavailable",
                             "the switch did not answer in time",
                             headers={"Retry-After": "1"}) from None
        codec = ctx.codec(codec_name)
        outcome = read_reply(reply, codec)
        if outcome.msn is None:
            raise refusal(outcome, body, codec)
        msn = outcome.msn
        journal = ctx.switch.journal

        def rows() -> list[Any]:
            return journal.message_rows(msn)

        if wait:
            client = caller.peer.mnemonic or ""
            waiter = ctx.hub.hold(client, msn, outcome.control)
            try:
                found = await wait_settled(rows, waiter, wait)
            finally:
                ctx.hub.release(client, waiter)
        else:
            found = rows()
        location = f"/v1/messages/{msn}"
        out: dict[str, Any] = {"msn": msn, "location": location,
                               "destinations": destinations(found)}
        if wait:
            stored = journal.message(msn)
            if stored is not None:
                view = message_view(stored, found, codec)
                out.update(complete=view["complete"], answers=view["answers"],
                           states=view["destinations"])
        return Accepted(msgspec.json.encode(out), location)

    async def post_message_fast(request: Request) -> Accepted:
        """``POST /v1/messages`` as ``ApiApp`` dispatches it (FastAPI's parameter handling
        cost as much as the switch's own work per inquiry); the FastAPI route below
        declares the same operation for the OpenAPI document."""
        scope = request.scope
        return await accept_message(
            request, wait_of_query(scope["query_string"], settings.max_wait),
            message_headers(scope))

    if context is not None:
        app.fast, app.header_limit = post_message_fast, settings.max_header_bytes

    @app.post("/v1/messages", status_code=202, openapi_extra={"requestBody": message_body},
              summary="Send a message into the switch")
    async def post_message(request: Request,
                           wait: float | None = Query(None, ge=0, le=settings.max_wait)
                           ) -> Response:
        return await send_message(request, wait)

    token_body = {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["grant_type"],
            "properties": {"grant_type": {"type": "string", "enum": ["client_credentials"]},
                           "client_id": {"type": "string", "maxLength": 64},
                           "client_secret": {"type": "string", "maxLength": 256}}}}},
    }

    @app.post("/v1/token", openapi_extra={"requestBody": token_body},
              summary="An access token (OAuth 2.0 client credentials, RFC 6749 4.4)")
    async def token(request: Request) -> Response:
        media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise ApiProblem(415, "unsupported-media-type", "Unsupported Media Type",
                             "the token request is application/x-www-form-urlencoded",
                             accepted=["application/x-www-form-urlencoded"])
        body = await read_body(request, 4096)
        try:
            pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True,
                              strict_parsing=False, max_num_fields=10)
        except (UnicodeDecodeError, ValueError):
            raise ApiProblem(400, "oauth", "Bad Request", "malformed form",
                             error="invalid_request") from None
        out = await ctx.auth.client_credentials(request, dict(pairs))
        return JSONResponse(out, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def body(request: Request) -> bytes:
        return await read_body(request, settings.max_body_bytes)

    def identify(request: Request) -> Any:
        return ctx.auth.identify(request)

    add_codec_routes(app, body, identify)

    @app.get("/v1/messages/{msn}", summary="A message, its destinations and its answers")
    async def get_message(request: Request,
                          msn: int = FastApiPath(..., ge=1, le=MAX_MSN)) -> Response:
        caller = ctx.auth.identify(request)
        stored, rows = await read_message(ctx.switch.journal, msn, ctx.log_reads)
        # another peer's message is not this caller's to read: the same 404 as none
        if stored is None or stored.kind != "request" or stored.peer != caller.peer.mnemonic:
            raise ApiProblem(404, "not-found", "Not Found", f"no message {msn} of this client")
        codec = ctx.codec(stored.codec or "json") if stored.codec in ctx.links else None
        return Response(msgspec.json.encode(message_view(stored, rows, codec)),
                        media_type="application/json")

    from .stream import add_event_routes

    add_event_routes(app, ctx)  # GET /v1/events (api-events)
    return app


def _problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def on_problem(request: Request, exc: ApiProblem) -> Response:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        with contextlib.suppress(Exception):
            for e in exc.errors():
                errors.append({"where": ".".join(str(p) for p in e.get("loc", ())),
                               "reason": str(e.get("msg", ""))[:200]})
        first = errors[0] if errors else {"where": "", "reason": "invalid request"}
        return problem_response(ApiProblem(
            400, "invalid-request", "Bad Request", f"{first['where']}: {first['reason']}",
            errors=errors), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "Error")
        return problem_response(ApiProblem(
            exc.status_code, title.lower().replace(" ", "-"), title,
            str(exc.detail) if exc.detail else None,
            headers=dict(exc.headers or {})), request.url.path)

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> Response:  # never a traceback
        log.exception("API internal error on %s", request.url.path)
        return problem_response(ApiProblem(500, "internal", "Internal Server Error"),
                                request.url.path)


def add_ops_routes(app: FastAPI, render_metrics: Any, health: Any) -> None:
    """``/metrics`` (Prometheus text) and ``/healthz`` (200 or 503) on the API's app."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Loopback scrapers as on the ops port; anyone else must be an API client (the
        queues and links of the switch are not the platforms' business otherwise)."""
        from clets.ops.metrics import CONTENT_TYPE

        from .config import is_loopback

        ctx = request.app.state.ctx
        if ctx is not None and not is_loopback(request.client.host if request.client else ""):
            ctx.auth.identify(request)
        return Response(render_metrics(), headers={"Content-Type": CONTENT_TYPE})

    @app.get("/healthz", summary="Health of the switch (200 ok, 503 not)")
    async def healthz() -> Response:
        state = health()
        return JSONResponse(state, status_code=200 if state.get("ok") else 503)
