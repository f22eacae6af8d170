"""``POST /v1/decode``, ``/v1/encode``, ``/v1/convert``, ``/v1/validate``: the codec library
as a service, for integrators who do not write Python (the same codecs as ``clets formats``
and the same results as ``clets decode|encode|convert|validate``).

Why the same code paths as the CLI: an integrator who checks a message here and a tester who
checks it with the command line must get one answer.  Nothing here touches the switch.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from fastapi import FastAPI, Query, Request
from starlette.responses import JSONResponse, Response

from clets.codecs import available, get_codec
from clets.codecs.base import Codec
from clets.errors import CletsError, DecodeError, EncodeError, ValidationError
from clets.model import Message, check, from_dict
from clets.model.jsonform import dump

from .problems import ApiProblem

__all__ = ["add_codec_routes", "media_of"]

#: the media type a codec's output is given in (records are bytes)
TEXT_MEDIA = {"json": "application/json", "ncic": "text/x-ncic",
              "ncic-lenient": "text/x-ncic", "nlets": "application/x-nlets",
              "niem": "application/niem+xml"}
ENCODINGS = ("ascii", "cp037", "cp500", "cp1140", "cp273", "cp1047")


NDJSON = "application/x-ndjson"


def media_of(codec: str, count: int = 1) -> str:
    if codec == "json" and count > 1:
        return NDJSON
    return TEXT_MEDIA.get(codec, "application/octet-stream")


def _codec(name: str, encoding: str | None, *, edits: bool = True) -> Codec:
    names = available()
    if name not in names:
        raise ApiProblem(400, "unknown-codec", "Bad Request",
                         f"codec {name!r} is not one of {', '.join(names)}", codecs=names)
    options: dict[str, object] = {}
    if encoding:
        if encoding not in ENCODINGS:
            raise ApiProblem(400, "unknown-encoding", "Bad Request",
                             f"encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
        options["encoding"] = encoding
    if not edits:
        options["edits"] = False
    try:
        return get_codec(name, **options)
    except (TypeError, ValueError, LookupError, CletsError) as exc:
        raise ApiProblem(400, "codec-option", "Bad Request",
                         f"codec {name} does not take these options ({exc})") from None


def decode_problem(exc: CletsError, codec: str) -> ApiProblem:
    """A codec's refusal, with the switch's code and where it is (field, offset, line)."""
    code = getattr(exc, "code", None) or 22
    return ApiProblem(422, "undecodable", "Unprocessable Content",
                      exc.one_line()[:500], codec=codec, code=code,
                      field=getattr(exc, "field", None), offset=getattr(exc, "offset", None),
                      line=getattr(exc, "line", None))


def _decode_all(codec: Codec, data: bytes) -> list[Message]:
    try:
        out = list(codec.decode_stream(data))
        if not out:
            raise ApiProblem(422, "undecodable", "Unprocessable Content",
                             "the body holds no message", codec=codec.name, code=22)
        return out
    except (DecodeError, ValidationError) as exc:
        raise decode_problem(exc, codec.name) from None
    except (ValueError, RecursionError) as exc:  # a codec bug must still be a 4xx here
        raise ApiProblem(422, "undecodable", "Unprocessable Content", str(exc)[:300],
                         codec=codec.name, code=22) from None


def _from_json(data: bytes) -> list[Message]:
    """Canonical JSON: one object or a list of them (as ``clets encode`` reads)."""
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return _decode_all(get_codec("json"), data)  # JSON Lines
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items or len(items) > 1000:
        raise ApiProblem(422, "undecodable", "Unprocessable Content",
                         "expected 1 to 1000 messages", codec="json", code=22)
    out = []
    for item in items:
        try:
            out.append(from_dict(item))
        except (DecodeError, ValidationError) as exc:
            raise decode_problem(exc, "json") from None
        except (TypeError, ValueError) as exc:
            raise ApiProblem(422, "undecodable", "Unprocessable Content", str(exc)[:300],
                             codec="json", code=22) from None
    return out


def _encode_all(codec: Codec, messages: list[Message]) -> bytes:
    text_like = codec.name in TEXT_MEDIA
    parts = []
    for msg in messages:
        try:
            parts.append(codec.encode(msg))
        except (EncodeError, ValidationError) as exc:
            raise ApiProblem(422, "unencodable", "Unprocessable Content",
                             exc.one_line()[:500], codec=codec.name,
                             field=getattr(exc, "field", None)) from None
    return (b"\n" if text_like else b"").join(parts)


def _messages_json(messages: list[Message]) -> bytes:
    return b'{"messages":[' + b",".join(dump(m) for m in messages) + b"]}"


def add_codec_routes(app: FastAPI, body: Any, identify: Any) -> None:
    """The four routes on ``app``; ``body(request)`` reads a size-limited body,
    ``identify(request)`` authenticates and rate-limits."""
    names = available()
    codec_q = {"enum": names}
    enc_q = {"enum": list(ENCODINGS)}
    any_body = {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "text/plain": {"schema": {"type": "string"}},
        "text/x-ncic": {"schema": {"type": "string"}},
        "application/x-nlets": {"schema": {"type": "string"}},
        "application/niem+xml": {"schema": {"type": "string"}},
        "application/json": {"schema": {}}}}
    json_body = {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}}}
    messages = {"200": {"description": "The canonical messages", "content": {
        "application/json": {"schema": {"type": "object", "required": ["messages"],
                                        "properties": {"messages": {
                                            "type": "array",
                                            "items": {"type": "object"}}}}}}}}
    wire_media: dict[str, Any] = {
        m: {"schema": {"type": "string"}} for m in sorted({*TEXT_MEDIA.values(),
                                                             "application/octet-stream",
                                                             NDJSON})}
    wire_media["application/json"] = {"schema": {"$ref": "#/components/schemas/Message"}}
    wire = {"200": {"description": "The wire form (json: one message as an object, several "
                                   "as JSON Lines)", "content": wire_media}}

    @app.post("/v1/decode", summary="Wire form in, canonical JSON out",
              openapi_extra={"requestBody": any_body, "responses": messages})
    async def decode(request: Request,
                     codec: str = Query(..., json_schema_extra=codec_q),
                     encoding: str | None = Query(None, json_schema_extra=enc_q),
                     edits: bool = True) -> Response:
        identify(request)
        c = _codec(codec, encoding, edits=edits)
        data = await body(request)
        return Response(_messages_json(_decode_all(c, data)), media_type="application/json")

    @app.post("/v1/encode", summary="Canonical JSON in, wire form out",
              openapi_extra={"requestBody": json_body, "responses": wire})
    async def encode(request: Request,
                     codec: str = Query(..., json_schema_extra=codec_q),
                     encoding: str | None = Query(None, json_schema_extra=enc_q)
                     ) -> Response:
        identify(request)
        c = _codec(codec, encoding)
        data = await body(request)
        msgs = _from_json(data)
        return Response(_encode_all(c, msgs), media_type=media_of(c.name, len(msgs)))

    @app.post("/v1/convert", summary="One wire form to another, through the canonical model",
              openapi_extra={"requestBody": any_body, "responses": wire})
    async def convert(request: Request,
                      from_: str = Query(..., alias="from", json_schema_extra=codec_q),
                      to: str = Query(..., json_schema_extra=codec_q),
                      from_encoding: str | None = Query(None, json_schema_extra=enc_q),
                      to_encoding: str | None = Query(None, json_schema_extra=enc_q)
                      ) -> Response:
        identify(request)
        src, dst = _codec(from_, from_encoding), _codec(to, to_encoding)
        data = await body(request)
        msgs = _decode_all(src, data)
        return Response(_encode_all(dst, msgs), media_type=media_of(dst.name, len(msgs)))

    findings = {"200": {"description": "Every reject and warning, by field", "content": {
        "application/json": {"schema": {"type": "object", "required": ["valid", "messages"],
                                        "properties": {"valid": {"type": "boolean"},
                                                       "messages": {"type": "array"}}}}}}}

    @app.post("/v1/validate", summary="The field edits' findings (as clets validate)",
              openapi_extra={"requestBody": any_body, "responses": findings})
    async def validate(request: Request,
                       codec: str = Query(..., json_schema_extra=codec_q),
                       encoding: str | None = Query(None, json_schema_extra=enc_q)
                       ) -> Response:
        identify(request)
        c = _codec(codec, encoding, edits=False)
        data = await body(request)
        out: list[dict[str, Any]] = []
        valid = True
        try:
            decoded = list(c.decode_stream(data))
        except ValidationError as exc:
            # a value that cannot even be parsed (a date that is no date) is a reject too,
            # as ``clets validate`` reports it
            return JSONResponse({"valid": False, "messages": [{"mke": None, "origin": None,
                                 "findings": [{"path": exc.field, "tag": None,
                                               "severity": "reject", "reason": exc.reason,
                                               "code": exc.code or 21,
                                               "value": _plain(exc.value)}]}]})
        except DecodeError as exc:
            raise decode_problem(exc, c.name) from None
        for msg in decoded:
            found = check(msg)
            valid = valid and not any(f.severity == "reject" for f in found)
            out.append({"mke": msg.mke, "origin": msg.origin, "findings": [
                {"path": f.path, "tag": f.tag, "severity": f.severity, "reason": f.reason,
                 "code": f.code, "value": _plain(f.value)} for f in found]})
        return JSONResponse({"valid": valid, "messages": out})


def _plain(value: Any) -> Any:
    try:
        msgspec.json.encode(value)
    except (TypeError, msgspec.EncodeError):
        return str(value)
    return value
