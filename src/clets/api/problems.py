"""RFC 9457 problem details: every refusal of the API, and the switch's error codes in HTTP.

Why one module: a client generated from the OpenAPI document reads one error shape for
everything (a malformed body, a missing token, a switch ``.21. INVALID FIELD DOB``), with the
switch's ``code`` and the canonical ``field`` path when there is one.  Nothing here raises a
5xx for bad input; an unexpected exception becomes a bare 500 problem without a traceback.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.responses import Response

from clets.errors import (
    DUPLICATE_MESSAGE,
    INVALID_DESTINATION,
    INVALID_FIELD,
    INVALID_FORMAT,
    INVALID_ORIGIN_ORI,
    MESSAGE_TOO_LONG,
    MISSING_FIELD,
    NOT_AUTHORIZED,
    STORE_UNAVAILABLE,
    UNKNOWN_MESSAGE_KEY,
)

__all__ = ["PROBLEM_JSON", "SWITCH_STATUS", "ApiProblem", "field_path", "problem_response",
           "switch_problem"]

PROBLEM_JSON = "application/problem+json"
#: problem types are relative URIs documented in docs/api.md (#errors)
TYPE_BASE = "/problems/"

#: the switch's reject codes (spec/switch.md) as HTTP statuses
SWITCH_STATUS: dict[int, int] = {
    UNKNOWN_MESSAGE_KEY: 422,
    INVALID_ORIGIN_ORI: 403,
    NOT_AUTHORIZED: 403,
    INVALID_DESTINATION: 422,
    MISSING_FIELD: 422,
    INVALID_FIELD: 422,
    INVALID_FORMAT: 400,
    MESSAGE_TOO_LONG: 413,
    DUPLICATE_MESSAGE: 409,
    STORE_UNAVAILABLE: 503,
}


class ApiProblem(Exception):
    """A refusal: raised anywhere in a route, answered as ``application/problem+json``."""

    def __init__(self, status: int, kind: str, title: str, detail: str | None = None, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": TYPE_BASE + self.kind, "title": self.title,
                               "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        if instance:
            out["instance"] = instance
        out.update(self.extra)
        return out


def problem_response(problem: ApiProblem, instance: str | None = None) -> Response:
    return Response(msgspec.json.encode(problem.body(instance)), status_code=problem.status,
                    media_type=PROBLEM_JSON, headers=problem.headers)


_TAG = re.compile(r"^(?:MISSING MANDATORY FIELD|INVALID FIELD) ([A-Z0-9/ ]+?)\s*$")


def field_path(reason: str, mke: str = "") -> str | None:
    """The canonical path (``person.dob``) of the field a switch reason names by its tag
    (``INVALID FIELD DOB``), from the field dictionary; None when it names none."""
    m = _TAG.match(reason.strip())
    if not m:
        return None
    from clets.model.dictionary import default_dictionary

    tag = m.group(1).strip()
    row = default_dictionary().row_for(tag, mke)
    if row is not None and row.path:
        return row.path
    return tag.lower()


def switch_problem(code: int, reason: str, mke: str = "", msn: int | None = None
                   ) -> ApiProblem:
    """The switch's refusal ``.NN. REASON`` as a problem: status by code, with the code,
    the reason and the field path."""
    status = SWITCH_STATUS.get(code, 422)
    headers = {"Retry-After": "5"} if code == STORE_UNAVAILABLE else None
    return ApiProblem(status, f"switch-{code:02d}", reason, f".{code:02d}. {reason}",
                      headers=headers, code=code, field=field_path(reason, mke), msn=msn)
