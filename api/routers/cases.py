"""Investigators' cases: the queue, taking the next case, assignment, notes, snoozing, closing.

| method | path | roles |
| --- | --- | --- |
| GET | ``/v1/cases`` | investigator |
| POST | ``/v1/cases`` (a ring's case) | investigator |
| POST | ``/v1/cases/next`` | investigator |
| GET | ``/v1/cases/{case_id}`` | investigator |
| POST | ``/v1/cases/{case_id}/{assign,notes,verification,hold,snooze,close}`` | investigator |
| POST | ``/v1/cases/{case_id}/reveal`` | investigator (the case's assignee) |

This module also starts the webhook sender (:class:`~tianwang.service.webhooks.WebhookSender`)
that delivers the ``decision.finalized`` events closing a case writes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Allow, ServiceDep, request_id
from api.links import CASE_LINKS, FIRST_CASE_LINKS
from api.schemas import ErrorOut, Page
from api.schemas_cases import (
    AssignIn,
    CaseDetailOut,
    CaseKind,
    CaseOut,
    CaseStatus,
    CloseIn,
    HoldIn,
    NoteIn,
    RevealIn,
    RevealOut,
    RingCaseIn,
    SnoozeIn,
    VerificationIn,
)
from tianwang.service import Service
from tianwang.service import cases as service_cases
from tianwang.service import vault as service_vault
from tianwang.service.accounts import Principal
from tianwang.service.webhooks import SenderOptions, WebhookSender

router = APIRouter(tags=["cases"])

Investigator = Annotated[Principal, Depends(Allow("investigator"))]
CaseId = Annotated[str, Path(max_length=64, examples=["case_019ae2b1c4d3a1b2c3d4e5f6"])]
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422)}
_CASE: dict[int | str, dict[str, Any]] = {200: {"links": CASE_LINKS}, **_ERRORS}
_CASE_409: dict[int | str, dict[str, Any]] = {**_CASE, 409: {"model": ErrorOut}}


def on_start(service: Service) -> None:
    """Start the webhook sender."""
    options = service.extras.get("webhook_options")
    sender = WebhookSender(service, options if isinstance(options, SenderOptions) else None)
    service.extras["webhook_sender"] = sender
    sender.start()


def on_stop(service: Service) -> None:
    sender = service.extras.pop("webhook_sender", None)
    if isinstance(sender, WebhookSender):
        sender.stop()


@router.get("/v1/cases", response_model=Page[CaseOut], responses={200: {"links": FIRST_CASE_LINKS}, **_ERRORS})
def list_cases(service: ServiceDep, caller: Investigator,
               status: Annotated[CaseStatus | None, Query(description="Default: open and in progress.")] = None,
               assignee: Annotated[str | None, Query(max_length=64, description="`me`, `unassigned` or a name.")]
               = None,
               kind: CaseKind | None = None,
               include_snoozed: Annotated[bool, Query(description="Show cases snoozed until later too.")] = False,
               cursor: Annotated[str | None, Query(max_length=512)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    """The queue: cases by risk (highest first), then age (oldest first), with age, due time and overdue flag."""
    return service_cases.list_cases(service, caller, status=status, assignee=assignee, kind=kind,
                                    include_snoozed=include_snoozed, cursor=cursor, limit=limit)


@router.post("/v1/cases", response_model=CaseOut, status_code=201,
             responses={201: {"links": CASE_LINKS}, 200: {"model": CaseOut, "description": "The ring's case was open "
                        "already.", "links": CASE_LINKS}, **_ERRORS})
def open_ring_case(body: RingCaseIn, request: Request, response: Response, service: ServiceDep,
                   caller: Investigator) -> Any:
    """Open the case of a ring (or answer its open case): one verdict for all its members on closing."""
    view, created = service_cases.open_ring_case(service, caller, body.ring_id, request_id=request_id(request))
    response.status_code = 201 if created else 200
    return view


@router.post("/v1/cases/next", response_model=CaseOut,
             responses={204: {"description": "No unassigned open case."}, **_CASE})
async def take_next(request: Request, service: ServiceDep, caller: Investigator) -> Any:
    """Take the next unassigned open case of the queue (assigned to the caller, in progress);
    never the same case for two callers."""
    view = await run_in_threadpool(service_cases.take_next, service, caller, request_id=request_id(request))
    return Response(status_code=204) if view is None else view


@router.get("/v1/cases/{case_id}", response_model=CaseDetailOut, responses=_CASE)
def get_case(case_id: CaseId, request: Request, service: ServiceDep, caller: Investigator) -> Any:
    """A case with its decision (evidence masked), timeline and, for a ring, its members and those
    that joined since it was last reviewed."""
    return service_cases.get_case(service, caller, case_id, request_id=request_id(request))


@router.post("/v1/cases/{case_id}/assign", response_model=CaseOut,
             responses=_CASE_409)
def assign(case_id: CaseId, body: AssignIn, request: Request, service: ServiceDep, caller: Investigator) -> Any:
    """Assign the case (``null`` puts it back in the queue)."""
    return service_cases.assign_case(service, caller, case_id, body.assignee, request_id=request_id(request))


@router.post("/v1/cases/{case_id}/notes", response_model=CaseOut, responses=_CASE)
def note(case_id: CaseId, body: NoteIn, request: Request, service: ServiceDep, caller: Investigator) -> Any:
    """Add a note to the case's timeline."""
    return service_cases.add_note(service, caller, case_id, body.text, request_id=request_id(request))


@router.post("/v1/cases/{case_id}/verification", response_model=CaseOut,
             responses=_CASE_409)
def verification(case_id: CaseId, body: VerificationIn, request: Request, service: ServiceDep,
                 caller: Investigator) -> Any:
    """Ask for a verification task on an open application case (asking again for one already there changes
    nothing); the final decision's webhook names the case's tasks."""
    return service_cases.request_verification(service, caller, case_id, body.task, note=body.note,
                                              request_id=request_id(request))


@router.post("/v1/cases/{case_id}/hold", response_model=CaseOut, responses=_CASE_409)
def hold(case_id: CaseId, body: HoldIn, request: Request, service: ServiceDep, caller: Investigator) -> Any:
    """Hold (or release) the dealer's funding on an open application case; the final decision's webhook says
    whether funding is held."""
    return service_cases.set_hold(service, caller, case_id, body.hold, note=body.note, request_id=request_id(request))


@router.post("/v1/cases/{case_id}/snooze", response_model=CaseOut,
             responses=_CASE_409)
def snooze(case_id: CaseId, body: SnoozeIn, request: Request, service: ServiceDep, caller: Investigator) -> Any:
    """Leave the case out of the queue until a time."""
    return service_cases.snooze_case(service, caller, case_id, body.until, request_id=request_id(request))


@router.post("/v1/cases/{case_id}/close", response_model=CaseOut,
             responses={**_CASE, 409: {"model": ErrorOut, "description": "The case is closed already."}})
async def close(case_id: CaseId, body: CloseIn, request: Request, service: ServiceDep, caller: Investigator) -> Any:
    """Close the case with its outcome: records the verdict (a ring's: for every member's application),
    finalizes the decision (``reject`` for confirmed fraud, else ``approve``) and sends the signed
    ``decision.finalized`` webhook."""
    return await run_in_threadpool(service_cases.close_case, service, caller, case_id, body.outcome,
                                   typology=body.typology, note=body.note, request_id=request_id(request))


@router.post("/v1/cases/{case_id}/reveal", response_model=RevealOut,
             responses={409: {"model": ErrorOut, "description": "The case is closed (`case_closed`), or the vault is "
                                                                "off (`vault_off`)."}, **_ERRORS})
def reveal(case_id: CaseId, body: RevealIn, request: Request, response: Response, service: ServiceDep,
           caller: Investigator) -> Any:
    """One raw personal value of an application the case holds (its own, or a ring member's), from the vault.

    Only the investigator the open case is assigned to may reveal (`403` otherwise); each reveal is written to
    the audit log (`personal.reveal`: the field, never the value) and the case's timeline. The answer is never
    cached (`Cache-Control: no-store`) and the value is never logged."""
    response.headers["Cache-Control"] = "no-store"
    return service_vault.reveal(service, caller, case_id, body.field, application_id=body.application_id,
                                request_id=request_id(request))
