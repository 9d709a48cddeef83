"""Scoring for the approval system: one application, a stream of them, and decisions read back.

| method | path | roles |
| --- | --- | --- |
| POST | ``/v1/applications/score`` | scorer |
| POST | ``/v1/applications/batch`` | scorer |
| GET | ``/v1/decisions/{decision_id}`` | scorer, investigator, analyst |
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import orjson
from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import Allow, ServiceDep, request_id
from api.errors import error_body
from api.examples import APPLICATION_EXAMPLE
from api.links import DECISION_LINKS
from api.metrics import observe_decision
from api.schemas import DecisionOut, ErrorOut
from tianwang.errors import (
    ApplicationConflictError,
    ApplicationValidationError,
    InvalidRequestError,
    PayloadTooLargeError,
    TianwangError,
)
from tianwang.service import Service
from tianwang.service.accounts import Principal
from tianwang.service.scoring import get_decision, score_application

router = APIRouter(tags=["scoring"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 409: {"model": ErrorOut, "description": "Different "
    "content under an application id already stored; `fields` names what differs."},
    413: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut},
}

_APPLICATION_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Application"}, "example": APPLICATION_EXAMPLE}}}}

_BATCH_BODY = {"requestBody": {"required": True, "content": {"application/x-ndjson": {
    "schema": {"type": "string", "description": "One application (schema v1) per line."},
    "example": orjson.dumps(APPLICATION_EXAMPLE).decode() + "\n"}}}}


@router.post("/v1/applications/score", response_model=DecisionOut, status_code=201, openapi_extra=_APPLICATION_BODY,
             responses={201: {"links": DECISION_LINKS},
                        200: {"model": DecisionOut, "description": "Scored before: the first decision.",
                              "links": DECISION_LINKS},
                        **_ERRORS})
async def score(request: Request, service: ServiceDep, _: Annotated[Principal, Depends(Allow("scorer"))]) -> Any:
    """Score one application (schema v1) and answer its decision.

    Idempotent on ``application_id``: the same application sent again answers the
    decision it got the first time (``200`` instead of ``201``, and it is not scored
    again); different content under that id is a ``409`` naming the fields that differ.
    A ``review`` decision opens a case; its final outcome arrives later by the
    ``decision.finalized`` webhook and on ``GET /v1/decisions/{decision_id}``.
    """
    body = await request.body()
    decision, created = await run_sync(score_application, service, body, limiter=_limiter(service))
    if created:
        observe_decision(decision)
    status = 201 if created else 200
    answer = _answered(decision)
    try:  # written as it is: validating it against DecisionOut again took a tenth of the server's own time
        return Response(orjson.dumps(answer, option=orjson.OPT_NON_STR_KEYS), status, media_type="application/json")
    except TypeError:  # what orjson refuses (a whole number past 64 bits) FastAPI writes
        return JSONResponse(jsonable_encoder(answer), status)


_NO_EVIDENCE = {"field": None, "value": None, "neighbour": None, "detail": None}


def _answered(decision: dict[str, Any]) -> dict[str, Any]:
    """``decision`` as ``DecisionOut`` writes it: each piece of evidence with all four of its fields."""
    return {**decision, "reasons": [{**reason, "evidence": [{**_NO_EVIDENCE, **e} for e in reason.get("evidence", ())]}
                                    for reason in decision["reasons"]]}


def _limiter(service: Service) -> anyio.CapacityLimiter:
    """The threads scoring may use at once (``TIANWANG_SCORING_CONCURRENCY``).

    More requests than that wait their turn here, in arrival order, instead of all
    running at once: two cores shared by forty scoring threads serve every request
    slower (the interpreter lock, the store's write lock) and detectors run out of time.
    """
    limiter = service.extras.get("scoring_limiter")
    if limiter is None:
        limiter = service.extras["scoring_limiter"] = anyio.CapacityLimiter(service.settings.scoring_concurrency)
    return limiter


def _score_line(service: Service, number: int, line: bytes) -> bytes:
    try:
        decision, created = score_application(service, line)
        if created:
            observe_decision(decision)
        out: dict[str, Any] = {"line": number, "application_id": decision["application_id"], "created": created,
                               "decision": decision}
    except ApplicationValidationError as exc:
        out = {"line": number, **error_body("invalid_application", str(exc), exc.fields[0] if exc.fields else None,
                                            fields=[{"field": e.field, "message": e.message} for e in exc.errors])}
    except ApplicationConflictError as exc:
        out = {"line": number, **error_body("application_conflict", str(exc), None, fields=exc.fields)}
    except TianwangError as exc:
        out = {"line": number, **error_body(type(exc).__name__, str(exc))}
    return orjson.dumps(out) + b"\n"


@router.post("/v1/applications/batch", openapi_extra=_BATCH_BODY,
             responses={200: {"description": "One result per input line, in order: `{line, application_id, "
                              "created, decision}` or `{line, error}`.",
                              "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}, **_ERRORS},
             response_class=StreamingResponse)
async def batch(request: Request, service: ServiceDep, _: Annotated[Principal, Depends(Allow("scorer"))],
                ) -> StreamingResponse:
    """Score a stream of applications (NDJSON, one per line), answering one line per input line as it goes.

    A bad line is reported by its number with every bad field and the rest go on;
    blank lines are skipped. Each line is scored exactly as by ``/v1/applications/score``
    (idempotent too), so a batch cut off half-way can be sent again.
    """
    limit = service.settings.max_body_bytes
    lines: list[bytes] = []
    pending = b""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > service.settings.max_batch_bytes:
            raise PayloadTooLargeError(service.settings.max_batch_bytes)
        pending += chunk
        *complete, pending = pending.split(b"\n")
        lines.extend(complete)
        if len(pending) > limit:
            raise InvalidRequestError("body", f"line {len(lines) + 1} is longer than {limit} bytes")
    lines.append(pending)

    async def results() -> AsyncIterator[bytes]:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield await run_sync(_score_line, service, number, line, limiter=_limiter(service))

    return StreamingResponse(results(), media_type="application/x-ndjson")


@router.get("/v1/decisions/{decision_id}", response_model=DecisionOut,
            responses={200: {"links": DECISION_LINKS}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                       404: {"model": ErrorOut}})
def decision(request: Request, service: ServiceDep,
             reader: Annotated[Principal, Depends(Allow("scorer", "investigator", "analyst"))],
             decision_id: Annotated[str, Path(max_length=64, description="A decision id (`dec_...`) or the "
                                              "application's id.", examples=["dec_019ae2b1c4d3a1b2c3d4e5f6"])],
             ) -> Any:
    """A decision, with its current status: ``final``, ``pending`` (a case is open) or ``finalized``
    (the case closed: ``final_action`` says approve or reject)."""
    return get_decision(service, decision_id, reader=reader, request_id=request_id(request))
