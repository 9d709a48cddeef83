"""Pure ASGI middleware: request ids, the access log, latency metrics and the body size limit.

* :class:`RequestContext` (outermost) gives every request an id — the caller's
  ``X-Request-ID`` when it is sane (1-64 characters of ``[A-Za-z0-9._-]``), a new one
  otherwise — sets ``request.state.request_id``, echoes it in the answer's
  ``X-Request-ID``, writes one access line per request on the ``tianwang.access`` logger
  (message ``request``; fields method, route template, status, duration_ms, request_id,
  principal: never the query string, a path parameter or a body; one JSON object under
  the service's log configuration, :data:`tianwang.logs.SERVICE_LOG_CONFIG`), observes the
  latency histogram, and sets :data:`tianwang.logs.REQUEST_ID` so that every line logged
  while the request is served carries its id. Every answer also carries the security
  headers (:data:`SECURITY_HEADERS`): a Content-Security-Policy that allows scripts,
  styles, images and connections from the service itself only (no inline script, no
  CDN; the workbench's assets are vendored; one inline stylesheet of Cytoscape's, by its
  hash), no framing, no MIME sniffing, no referrer.
  FastAPI's ``/docs`` and ``/redoc`` pages load Swagger UI and ReDoc from a CDN with
  inline script, so they get the other headers but not the policy. Over TLS (``https``,
  also as a trusted proxy reports it) answers add ``Strict-Transport-Security``. No
  ``Access-Control-Allow-*`` header is ever sent: other origins cannot call the API from
  a browser (CORS closed).
* :class:`BodyLimit` answers ``413`` (``body_too_large``) to a body over
  ``settings.max_body_bytes`` — by its ``Content-Length`` before the route runs, and by
  counting the bytes as they stream in (chunked bodies). ``POST /v1/applications/batch``
  has its own, larger limit, ``settings.max_batch_bytes``.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import orjson
from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLarge, error_body
from api.metrics import REQUEST_SECONDS
from tianwang.ids import new_id
from tianwang.logs import REQUEST_ID
from tianwang.settings import Settings

__all__ = ["BATCH_PATH", "CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "BodyLimit", "BodyTooLarge",
           "RequestContext"]

access_log = logging.getLogger("tianwang.access")

BATCH_PATH = "/v1/applications/batch"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
UNMATCHED = "<unmatched>"


#: the one inline stylesheet the vendored Cytoscape.js adds to a graph's container (its hash; the browser test
#: fails on the policy's console error if a new Cytoscape version changes it)
CYTOSCAPE_STYLE_HASH = "sha256-pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8="
#: what a page served here may load: its own scripts, styles and images, and calls to this service
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; "
                           f"style-src 'self' '{CYTOSCAPE_STYLE_HASH}'; img-src 'self' data: blob:; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
_CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
_CDN_PAGES = ("/docs", "/redoc")
_HSTS = (b"strict-transport-security", b"max-age=31536000")


class _DEFAULTS:  # before the lifespan opened the service: the settings' defaults
    max_body_bytes = Settings.model_fields["max_body_bytes"].default
    max_batch_bytes = Settings.model_fields["max_batch_bytes"].default


def route_template(scope: Scope) -> str:
    """The template of the route that served (or would serve) the request, never the raw path."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    # answered before routing (a 413 by Content-Length) or by no route (404, 405): find its template
    for context in iter_route_contexts(getattr(scope.get("app"), "routes", ())):
        regex = getattr(context, "path_regex", None)
        if regex is not None and regex.match(scope["path"]):
            return str(context.path_format or context.path)
    return UNMATCHED


class RequestContext:
    """Request id, one JSON access log line and the latency histogram, for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _SANE_ID.fullmatch(incoming) else new_id("req")
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
                headers = message["headers"] = list(message.get("headers", ()))
                headers.extend(_HEADERS)
                if not scope["path"].startswith(_CDN_PAGES):
                    headers.append(_CSP)
                if scope.get("scheme") == "https":  # browsers come back over TLS only
                    headers.append(_HSTS)
            await send(message)

        token = REQUEST_ID.set(request_id)
        failed = True
        try:
            await self.app(scope, receive, send_with_id)
            failed = False
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            REQUEST_SECONDS.labels(scope["method"], route, f"{status // 100}xx").observe(elapsed)
            principal = scope["state"].get("principal")
            access_log.info("request", extra={
                "method": scope["method"], "route": route, "status": status, "duration_ms": round(elapsed * 1000, 2),
                "request_id": request_id, "principal": getattr(principal, "id", None)})
            if not failed:  # an unhandled error keeps it: the 500 handler outside logs and answers with it
                REQUEST_ID.reset(token)


class BodyLimit:
    """413 for a request body over the service's limit (``Content-Length`` first, then streamed bytes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def limit(scope: Scope) -> int:
        service = getattr(scope["app"].state, "service", None)  # read per request: the settings may change
        settings = service.settings if service is not None else _DEFAULTS
        return int(settings.max_batch_bytes if scope["path"] == BATCH_PATH else settings.max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _too_large(send, limit)
                    return
                break
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:  # read outside the routes' error handlers
            if started:
                raise
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps(error_body("body_too_large", f"the request body is larger than {limit} bytes", "body",
                                   limit=limit))
    headers: list[tuple[bytes, Any]] = [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
