"""Feedback: verdicts and delayed outcomes, the labels the models learn from.

| method | path | roles |
| --- | --- | --- |
| POST | ``/v1/verdicts`` | investigator |
| GET | ``/v1/verdicts`` | investigator, analyst |
| POST | ``/v1/outcomes`` | investigator, scorer |
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import Allow, ServiceDep, request_id
from api.schemas import ErrorOut, Page
from api.schemas_cases import OutcomeIn, OutcomeOut, VerdictIn, VerdictOut
from tianwang.application import APPLICATION_ID_PATTERN
from tianwang.service import feedback
from tianwang.service.accounts import Principal

router = APIRouter(tags=["feedback"])

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422)}


@router.post("/v1/verdicts", response_model=VerdictOut, status_code=201, responses=_ERRORS)
async def post_verdict(body: VerdictIn, request: Request, service: ServiceDep,
                       caller: Annotated[Principal, Depends(Allow("investigator"))]) -> Any:
    """A verdict on an application or a ring (every member's applications): recorded as a label
    and taken in by the running detectors at once, so the next score of a ring member sees it."""
    return await run_in_threadpool(lambda: feedback.post_verdict(
        service, caller, fraud=body.fraud, typology=body.typology, application_id=body.application_id,
        ring_id=body.ring_id, request_id=request_id(request)))


@router.get("/v1/verdicts", response_model=Page[VerdictOut], responses=_ERRORS)
def list_verdicts(service: ServiceDep, _: Annotated[Principal, Depends(Allow("investigator", "analyst"))],
                  application_id: Annotated[str | None, Query(max_length=64, pattern=APPLICATION_ID_PATTERN)] = None,
                  ring_id: Annotated[str | None, Query(max_length=64)] = None,
                  cursor: Annotated[str | None, Query(max_length=512)] = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    """Verdicts, newest first."""
    return feedback.list_verdicts(service, cursor=cursor, limit=limit, application_id=application_id,
                                  ring_id=ring_id)


@router.post("/v1/outcomes", response_model=OutcomeOut, status_code=201, responses=_ERRORS)
def post_outcome(body: OutcomeIn, request: Request, service: ServiceDep,
                 caller: Annotated[Principal, Depends(Allow("investigator", "scorer"))]) -> Any:
    """A delayed repayment outcome (first-payment default, early default, charge-off, paid as agreed);
    a first-payment default counts as fraud in the training labels unless a verdict says otherwise."""
    return feedback.post_outcome(service, caller, application_id=body.application_id, kind=body.kind,
                                 observed_on=body.observed_on, request_id=request_id(request))
