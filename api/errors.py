"""Errors as JSON: ``{"error": {"code": ..., "message": ..., "field": ...}}``.

Every error answer has a stable ``code`` a client can branch on, a message a person
can read and, where one field is to blame, its ``field`` (a schema path). Nothing in an
error ever echoes a submitted value: validation errors name fields, never inputs.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tianwang.errors import (
    ApplicationConflictError,
    ApplicationValidationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StateConflictError,
    StoreUnavailableError,
)
from tianwang.logs import REQUEST_ID

__all__ = ["BodyTooLarge", "error_body", "install_error_handlers"]

log = logging.getLogger("tianwang.api")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "body_too_large",
               415: "unsupported_media_type", 422: "invalid_request", 429: "too_many_requests",
               500: "internal_error", 503: "unavailable"}


class BodyTooLarge(StarletteHTTPException):
    """A request body over its limit, found while it streams in (answered 413 ``body_too_large``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"code": code, "message": message, "field": field, **extra}}


def _answer(status: int, code: str, message: str, field: str | None = None, *,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(code, message, field, **extra), status_code=status, headers=headers)


def _loc(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into JSON error bodies."""

    @app.exception_handler(ApplicationValidationError)
    async def invalid_application(_: Request, exc: ApplicationValidationError) -> JSONResponse:
        fields = [{"field": e.field, "message": e.message} for e in exc.errors]
        first = exc.errors[0] if exc.errors else None
        return _answer(422, "invalid_application", str(exc), first.field if first else None, fields=fields)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": _loc(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
        first = fields[0] if fields else {"field": None, "message": "invalid request"}
        return _answer(422, "invalid_request", f"{first['field']}: {first['message']}", first["field"],
                       fields=fields)

    @app.exception_handler(InvalidRequestError)
    async def invalid_parameter(_: Request, exc: InvalidRequestError) -> JSONResponse:
        return _answer(422, "invalid_request", str(exc), exc.field)

    @app.exception_handler(ApplicationConflictError)
    async def conflict(_: Request, exc: ApplicationConflictError) -> JSONResponse:
        return _answer(409, "application_conflict", str(exc), exc.fields[0] if exc.fields else "application_id",
                       fields=exc.fields)

    @app.exception_handler(StateConflictError)
    async def state_conflict(_: Request, exc: StateConflictError) -> JSONResponse:
        return _answer(409, exc.code, str(exc))

    @app.exception_handler(PayloadTooLargeError)
    async def too_large(_: Request, exc: PayloadTooLargeError) -> JSONResponse:
        return _answer(413, "body_too_large", str(exc), "body", limit=exc.limit)

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _answer(404, "not_found", str(exc))

    @app.exception_handler(PermissionDeniedError)
    async def denied(_: Request, exc: PermissionDeniedError) -> JSONResponse:
        return _answer(403, "forbidden", str(exc))

    @app.exception_handler(StoreUnavailableError)
    async def unavailable(_: Request, exc: StoreUnavailableError) -> JSONResponse:
        log.error("store unavailable", extra={"error": type(exc).__name__})
        return _answer(503, "store_unavailable", str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(ConfigurationError)
    async def misconfigured(_: Request, exc: ConfigurationError) -> JSONResponse:
        return _answer(500, "configuration_error", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
            # FastAPI's JSON decoder gave up on a body nested thousands deep
            return _answer(422, "invalid_request", "body: JSON nested too deep", "body")
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # FastAPI could not decode a JSON body (not UTF-8): invalid like any other malformed body
            return _answer(422, "invalid_request", "body: not a JSON document in UTF-8", "body")
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        extra = {"limit": exc.limit} if isinstance(exc, BodyTooLarge) else {}
        field = "body" if isinstance(exc, BodyTooLarge) else None
        return _answer(exc.status_code, code, message, field, headers=getattr(exc, "headers", None), **extra)

    @app.exception_handler(DataError)
    async def refused_value(_: Request, exc: DataError) -> JSONResponse:
        # the operational database refused a value the request carried: PostgreSQL takes no NUL character in
        # text (SQLite does). Its transaction is rolled back, so nothing is half-written.
        if "NUL" in str(exc.orig):
            return _answer(422, "invalid_request", "a text value contains a NUL character (\\u0000)", "body")
        return await unexpected(_, exc)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # the type only: a message may carry anything
        request_id = REQUEST_ID.get()
        log.error("unhandled error", extra={"error": type(exc).__name__, "request_id": request_id,
                                            "where": "".join(traceback.format_tb(exc.__traceback__)[-3:])})
        return _answer(500, "internal_error", "the service failed; the error is logged",
                       headers={"X-Request-ID": request_id} if request_id else None)
