"""The FastAPI application: :func:`create_app`.

``tianwang serve`` runs ``uvicorn api.app:create_app --factory``; tests call
:func:`create_app` with a service they opened. The lifespan opens the service (store,
pipeline, operational database: the heavy objects) once per process and closes it on
shutdown; routers only translate HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import install_error_handlers
from api.examples import APPLICATION_EXAMPLE
from api.middleware import BodyLimit, RequestContext
from api.routers import MODULES
from api.web import mount as mount_workbench
from tianwang import __version__
from tianwang.application import Application, parse_application
from tianwang.service import Service, open_service
from tianwang.service.heap import settle_heap
from tianwang.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)

DESCRIPTION = """\
Graph-based anti-fraud for auto-loan applications.

* **Approval systems** (role `scorer`) score applications and read decisions back.
* **Investigators** work cases and rings and send verdicts and outcomes.
* **Analysts** propose configuration changes, which another analyst or an approver activates.

Authenticate with an API key in `X-API-Key` (systems) or a login token from
`POST /v1/auth/login` in `Authorization: Bearer` (people). Errors are
`{"error": {"code", "message", "field"}}`; lists are
`{"data": [...], "pagination": {"has_more", "next"}}` with `?cursor=<next>`.
"""


def _warm_up(service: Service) -> None:
    """Compile the graph store's queries with the OpenAPI example (rolled back) before the first request."""
    try:
        seconds = service.runtime.pipeline.warm_up(parse_application(APPLICATION_EXAMPLE))
    except Exception as exc:  # a store down at start: scoring degrades, the gate drains later
        log.warning("graph store warm-up failed", extra={"error": type(exc).__name__})
    else:
        log.info("graph store warmed up", extra={"seconds": round(seconds, 3)})


def create_app(settings: Settings | None = None, *, service: Service | None = None) -> FastAPI:
    """The application. With ``service`` it serves that one (and leaves closing it to the caller)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.service = service if service is not None else open_service(settings)
        started = []
        try:
            for module in MODULES:
                start = getattr(module, "on_start", None)
                if start is not None:
                    start(app.state.service)
                started.append(module)
            if owned:  # a serving process: its loaded models out of the collector's full passes
                settle_heap()
                _warm_up(app.state.service)
            yield
        finally:
            for module in reversed(started):
                stop = getattr(module, "on_stop", None)
                if stop is not None:
                    stop(app.state.service)
            if owned:
                app.state.service.close()

    app = FastAPI(title="Tianwang (天网)", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    # pure ASGI middleware; the last added runs first: the request id and access log see every answer
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestContext)
    for module in MODULES:
        app.include_router(module.router)
    mount_workbench(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            application = Application.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(application.pop("$defs", {}))
            components["Application"] = application
            for operations in schema.get("paths", {}).values():  # every body is capped (api.middleware.BodyLimit)
                for operation in operations.values():
                    if "security" in operation:  # every caller is rate limited (tianwang.service.limits)
                        operation.setdefault("responses", {}).setdefault("429", {
                            "description": "Over the caller's rate: retry after `Retry-After` seconds.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}})
                    if "requestBody" in operation:
                        operation.setdefault("responses", {}).setdefault("413", {
                            "description": "The body is larger than the service takes (`limit` bytes).",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
