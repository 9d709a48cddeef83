"""Operations: liveness, readiness, metrics and the audit log.

| method | path | roles |
| --- | --- | --- |
| GET | ``/healthz`` | none: the process answers |
| GET | ``/readyz`` | none: the graph store, the operational database and the configuration |
| GET | ``/metrics`` | none: Prometheus text (scrape it on an internal network only) |
| GET | ``/v1/audit`` | admin |

``/metrics`` is unauthenticated as Prometheus scrapers usually are: it holds counts and
timings by route template, band and detector, never an id or a personal value. Expose the
service's port to the scraper's network only (or block ``/metrics`` at the proxy).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import metrics
from api.deps import Allow, ServiceDep, request_id
from api.schemas import ErrorOut, Page
from api.schemas_operations import AuditEntryOut, HealthOut, ReadyOut
from tianwang import __version__
from tianwang.scoring.outbox import GraphUnavailable
from tianwang.service import Service
from tianwang.service.accounts import Principal
from tianwang.service.audit import list_audit

router = APIRouter(tags=["operations"])

_PROBE_ID = "__readyz_probe__"


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    """Liveness: the process answers (nothing else is checked)."""
    return HealthOut(status="ok", version=__version__)


def _checks(service: Service) -> dict[str, str]:
    gate = service.runtime.pipeline.gate
    try:
        gate.call(partial(service.runtime.store.get_application, _PROBE_ID))
        store = "ok"
    except GraphUnavailable:  # scoring goes on without the graph when an outbox keeps its writes
        store = "degraded" if gate.enabled else "failed"
    except Exception:  # any other failure of the store means not ready
        store = "failed"
    try:
        config_ok = service.runtime.pipeline.config_error is None
    except Exception:
        config_ok = False
    return {"graph_store": store, "operational_db": "ok" if service.ops.ping() else "failed",
            "configuration": "ok" if config_ok else "failed"}


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut, "description": "Not ready: "
                                                                  "`failed` names the checks that failed."}})
async def readyz(service: ServiceDep) -> Any:
    """Readiness: the graph store and the operational database answer and the configuration loaded. A graph
    store that cannot be reached is `degraded`, not failed, while its writes wait in the graph outbox."""
    checks = await run_in_threadpool(_checks, service)
    failed = [name for name, state in checks.items() if state == "failed"]
    outbox = service.runtime.pipeline.gate.outbox
    body = ReadyOut(status="not_ready" if failed else "ready", checks=checks, failed=failed,  # type: ignore[arg-type]
                    graph_outbox_pending=outbox.pending if outbox is not None else None)
    return JSONResponse(body.model_dump(), status_code=503 if failed else 200)


@router.get("/metrics", response_class=Response, responses={200: {
    "description": "Prometheus text exposition format 0.0.4.",
    "content": {"text/plain": {"schema": {"type": "string"}, "example": "tianwang_open_cases 3.0\n"}}}})
async def prometheus_metrics(service: ServiceDep) -> Response:
    """Metrics in Prometheus' text format: request latency by route, decisions by band, detector time and
    failures, open cases and the webhook backlog. No authentication: scrape it on an internal network."""
    body = await run_in_threadpool(metrics.render, service)
    return Response(body, media_type=metrics.CONTENT_TYPE)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@router.get("/v1/audit", response_model=Page[AuditEntryOut],
            responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}})
def audit_log(
    request: Request, service: ServiceDep, reader: Annotated[Principal, Depends(Allow("admin"))],
    actor: Annotated[str | None, Query(max_length=64, description="A user or key id.")] = None,
    action: Annotated[str | None, Query(max_length=64, examples=["decision.read"])] = None,
    target_type: Annotated[str | None, Query(max_length=32, examples=["decision"])] = None,
    target_id: Annotated[str | None, Query(max_length=64, description="Lines naming this id.")] = None,
    since: Annotated[datetime | None, Query(description="From this moment (inclusive; UTC if no offset).")] = None,
    until: Annotated[datetime | None, Query(description="Before this moment (exclusive).")] = None,
    cursor: Annotated[str | None, Query(max_length=512, description="`pagination.next` of the previous page.")]
    = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """The append-only audit log, newest first: every read of personal data, every verdict, watchlist,
    configuration and key change, with who, when and which ids. Reading it is audited too."""
    page = list_audit(service, reader, actor=actor, action=action, target_type=target_type, target_id=target_id,
                      since=_utc(since), until=_utc(until), cursor=cursor, limit=limit,
                      request_id=request_id(request))
    return page.as_dict()
