"""Investigators' cases: opened by review decisions (and for rings), worked, closed with an outcome.

A case is ``open`` until someone takes it (``in_progress``) and ``closed`` with an
outcome: ``confirmed_fraud`` (with its typology), ``false_positive`` or
``verified_legitimate``. The queue (:func:`list_cases`) shows open and in-progress
cases by risk, then age, leaving out those snoozed until later; :func:`take_next` hands
the next unassigned open case to one caller only (a conditional update, retried when
another caller won the race). Every change adds an event to the case's timeline and a
line to the audit log in the same transaction.

Closing an application's case records a verdict, finalizes its decision (``approve``
unless the outcome is confirmed fraud) and writes a ``decision.finalized`` event to the
webhook outbox, all in one transaction; the verdict then reaches the running pipeline.
A ring's case (:func:`open_ring_case`) gives one verdict for all its members'
applications and remembers the members it was reviewed with, so that its view lists
those that joined since.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from graph_schema.schema import Label
from graph_schema.values import NodeRef
from tianwang.errors import InvalidRequestError, NotFoundError, StateConflictError
from tianwang.ids import new_id
from tianwang.opsdb.models import Case, CaseEvent, DecisionRow, Verdict, utcnow
from tianwang.opsdb.pagination import paginate
from tianwang.service import Service
from tianwang.service.actions import VERIFICATION_TASKS, Action
from tianwang.service.audit import audit
from tianwang.service.events import publish_verdict
from tianwang.service.feedback import apply_verdict, record_verdict, verdict_view
from tianwang.service.network import adjacent, node_label
from tianwang.service.ring_members import current_ring, describe_members, member_applications
from tianwang.service.webhooks import enqueue

__all__ = ["OUTCOMES", "REVIEW_TARGET", "add_note", "assign_case", "case_view", "close_case", "get_case",
           "list_cases", "open_case_for_decision", "open_cases", "open_ring_case", "request_verification", "set_hold",
           "snooze_case", "take_next"]

#: the detector whose evidence names the nearest confirmed fraud
SIMILARITY = "known_fraud_similarity"
#: how long a case may wait before it is overdue
REVIEW_TARGET = timedelta(hours=24)
#: a closed case's outcome -> the decision's final action
OUTCOMES = {"confirmed_fraud": "reject", "false_positive": "approve", "verified_legitimate": "approve"}
OPEN = ("open", "in_progress")
_TAKE_RETRIES = 20


def _name(actor: Any) -> str:
    return str(getattr(actor, "name", None) or actor)[:64]


def _event(session: Session, case: Case, actor: Any, kind: str, **detail: Any) -> None:
    now = utcnow()
    case.updated_at = now
    session.add(CaseEvent(case_id=case.id, at=now, actor=_name(actor), kind=kind, detail=detail))


def open_case_for_decision(session: Session, decision: DecisionRow, action: Action) -> str:
    """Open the case of a review decision in ``session``; return its id."""
    now = utcnow()
    case = Case(id=new_id("case"), kind="application", application_id=decision.application_id,
                decision_id=decision.id, status="open", risk=decision.fraud_score,
                title=f"application {decision.application_id}", hold_funding=action.hold_funding,
                verification_tasks=list(action.verification_tasks), opened_at=now, updated_at=now,
                due_at=now + REVIEW_TARGET, reviewed_members=[])
    session.add(case)
    session.add(CaseEvent(case_id=case.id, at=now, actor="system", kind="opened",
                          detail={"decision_id": decision.id, "band": decision.band,
                                  "fraud_score": decision.fraud_score, "action": action.type}))
    return case.id


def case_view(case: Case, now: datetime | None = None) -> dict[str, Any]:
    """A case as lists show it: with its age in seconds and whether it is overdue."""
    now = now or utcnow()
    end = case.closed_at or now
    return {
        "case_id": case.id, "kind": case.kind, "application_id": case.application_id, "ring_id": case.ring_id,
        "decision_id": case.decision_id, "status": case.status, "risk": case.risk, "title": case.title,
        "assignee": case.assignee, "snoozed_until": _iso(case.snoozed_until), "outcome": case.outcome,
        "typology": case.typology, "hold_funding": case.hold_funding,
        "verification_tasks": list(case.verification_tasks or []),
        "opened_at": _iso(case.opened_at), "updated_at": _iso(case.updated_at), "due_at": _iso(case.due_at),
        "closed_at": _iso(case.closed_at), "age_seconds": int((end - case.opened_at).total_seconds()),
        "overdue": case.status != "closed" and case.due_at is not None and case.due_at < now,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def list_cases(service: Service, caller: Any, *, status: str | None = None, assignee: str | None = None,
               kind: str | None = None, include_snoozed: bool = False, cursor: str | None = None,
               limit: int = 50) -> dict[str, Any]:
    """The queue: cases by risk (highest first), then age (oldest first).

    ``status`` defaults to open and in progress; ``assignee`` is ``me``, ``unassigned`` or
    a name; cases snoozed until later are left out unless ``include_snoozed``.
    """
    now = utcnow()
    stmt = select(Case)
    stmt = stmt.where(Case.status == status) if status else stmt.where(Case.status.in_(OPEN))
    if assignee == "me":
        stmt = stmt.where(Case.assignee == _name(caller))
    elif assignee == "unassigned":
        stmt = stmt.where(Case.assignee.is_(None))
    elif assignee:
        stmt = stmt.where(Case.assignee == assignee)
    if kind:
        stmt = stmt.where(Case.kind == kind)
    if not include_snoozed:
        stmt = stmt.where(or_(Case.snoozed_until.is_(None), Case.snoozed_until <= now))
    with service.ops.session() as session:
        page = paginate(session, stmt, [(Case.risk, True), (Case.opened_at, False), (Case.id, False)],
                        cursor=cursor, limit=limit)
        return page.as_dict(lambda c: case_view(c, now))


def open_cases(session: Session) -> dict[str, int]:
    """Cases not closed, by status (``open``, ``in_progress``), for ``/metrics``."""
    rows = session.execute(select(Case.status, func.count()).where(Case.status.in_(OPEN)).group_by(Case.status))
    counts = {status: 0 for status in OPEN}
    counts.update({str(status): int(n) for status, n in rows})
    return counts


def _load(session: Session, case_id: str, *, lock: bool = False) -> Case:
    stmt = select(Case).where(Case.id == case_id)
    case = session.scalar(stmt.with_for_update() if lock else stmt)
    if case is None:
        raise NotFoundError("case", case_id)
    return case


def _open_only(case: Case) -> None:
    if case.status == "closed":
        raise StateConflictError("case_closed", f"case {case.id} is closed")


def take_next(service: Service, caller: Any, *, request_id: str | None = None) -> dict[str, Any] | None:
    """Assign the next unassigned open case of the queue to ``caller`` (``None`` when there is none).

    Reads the best candidate, then claims it with ``UPDATE ... WHERE assignee IS NULL AND
    status = 'open'``; when another caller claimed it first the update changes no row and
    the next candidate is tried, so no two callers ever get the same case.
    """
    me = _name(caller)
    for _ in range(_TAKE_RETRIES):
        now = utcnow()
        with service.ops.session() as session:
            candidate = session.scalar(
                select(Case.id).where(Case.status == "open", Case.assignee.is_(None),
                                      or_(Case.snoozed_until.is_(None), Case.snoozed_until <= now))
                .order_by(Case.risk.desc(), Case.opened_at.asc(), Case.id.asc()).limit(1))
            if candidate is None:
                return None
            result = session.execute(
                update(Case).where(Case.id == candidate, Case.assignee.is_(None), Case.status == "open")
                .values(assignee=me, status="in_progress", updated_at=now)
                .execution_options(synchronize_session=False))
            if getattr(result, "rowcount", 0) != 1:
                continue
            case = _load(session, candidate)
            session.refresh(case)
            _event(session, case, caller, "assigned", assignee=me, via="next")
            audit(session, caller, "case.take", "case", [case.id], request_id=request_id)
            return case_view(case, now)
    return None


def _members_now(service: Service, case: Case) -> tuple[float | None, tuple[str, ...]]:
    """The ring's risk and members now; when no ring run knows it any more, ``(None, ())``."""
    try:
        ring = current_ring(service, str(case.ring_id))
    except NotFoundError:
        return None, ()
    return ring.risk, ring.members


def _ring_detail(service: Service, case: Case) -> dict[str, Any]:
    """The ring's members now (masked identity numbers and application ids; never their keys), those that
    joined since the case was last reviewed and those that left."""
    risk, members_now = _members_now(service, case)
    reviewed = set(case.reviewed_members or [])
    left = sorted(reviewed - set(members_now))
    described = describe_members(service, [*members_now, *left])
    members = [{"applicant": described[m][0], "applications": described[m][1],
                "joined_since_last_review": m not in reviewed} for m in members_now]
    return {"ring_id": case.ring_id, "ring_risk": risk if risk is not None else case.risk / 1000,
            "ring_found": risk is not None, "members": members,
            "joined_since_last_review": [m for m in members if m["joined_since_last_review"]],
            "left_since_last_review": [{"applicant": described[m][0], "applications": described[m][1],
                                        "joined_since_last_review": False} for m in left],
            "last_reviewed_at": _iso(case.last_reviewed_at)}


def get_case(service: Service, caller: Any, case_id: str, *, request_id: str | None = None) -> dict[str, Any]:
    """A case with its decision (as scoring answered it: evidence masked), its timeline and, for a
    ring, its members now and those that joined since it was last reviewed."""
    from tianwang.service.scoring import decision_view  # scoring opens cases: imported here, not at the top

    with service.ops.session() as session:
        case = _load(session, case_id)
        view = case_view(case)
        decision = session.get(DecisionRow, case.decision_id) if case.decision_id else None
        view["decision"] = decision_view(decision) if decision is not None else None
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                 .order_by(CaseEvent.at, CaseEvent.id))
        view["timeline"] = [{"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "detail": e.detail}
                            for e in events]
        view["ring"] = _ring_detail(service, case) if case.kind == "ring" else None
        view["similar_fraud"] = (_similar_fraud(service, session, case.application_id, view["decision"])
                                 if case.kind == "application" and case.application_id else [])
        audit(session, caller, "case.read", "case", [case_id], request_id=request_id)
        return view


#: nearest confirmed fraud cases shown on a case
SIMILAR_SHOWN = 5


def _similar_fraud(service: Service, session: Session, application_id: str,
                   decision: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The confirmed fraud cases the known-fraud similarity detector found nearest (its vote's evidence), each
    with its typology (from its latest verdict) and what it shares with the application in the graph (masked)."""
    near: dict[str, float | None] = {}
    for vote in (decision or {}).get("votes", []):
        for reason in ((vote.get("vote") or {}).get("reasons") or []) if vote.get("detector") == SIMILARITY else []:
            for evidence in reason.get("evidence", []):
                neighbour = evidence.get("neighbour")
                if neighbour and neighbour not in near and len(near) < SIMILAR_SHOWN:
                    try:
                        near[neighbour] = float(evidence.get("value"))
                    except (TypeError, ValueError):
                        near[neighbour] = None
    if not near:
        return []
    typology: dict[str, str | None] = {}
    for verdict in session.scalars(select(Verdict).where(
            Verdict.fraud.is_(True), or_(Verdict.application_id.in_(sorted(near)), Verdict.ring_id.is_not(None)))
            .order_by(Verdict.at)):
        for app in {verdict.application_id, *(verdict.applications or [])} & set(near):
            typology[app] = verdict.typology
    mine = {other.ref: other for _, other in adjacent(service, NodeRef(Label.APPLICATION, application_id), 200)[0]}
    out = []
    for neighbour, distance in near.items():
        theirs = {other.ref for _, other in adjacent(service, NodeRef(Label.APPLICATION, neighbour), 200)[0]}
        shared = sorted((r for r in mine if r in theirs and r.label is not Label.APPLICATION),
                        key=lambda r: (r.label.value, r.key))
        out.append({"application_id": neighbour, "distance": distance, "typology": typology.get(neighbour),
                    "matched": [{"kind": r.label.value, "value": node_label(mine[r])} for r in shared]})
    return out


def open_ring_case(service: Service, caller: Any, ring_id: str, *,
                   request_id: str | None = None) -> tuple[dict[str, Any], bool]:
    """The open case of a ring, or a new one; ``(case, created)``.

    The database keeps one open case per ring (a partial unique index): of two callers
    opening it at once, one creates it and the other gets that case.
    """
    ring = current_ring(service, ring_id)
    try:
        with service.ops.session() as session:
            existing = _open_ring_case(session, ring_id)
            if existing is not None:
                return case_view(existing), False
            now = utcnow()
            case = Case(id=new_id("case"), kind="ring", ring_id=ring_id, status="open",
                        risk=round(ring.risk * 1000), title=f"ring {ring_id} ({len(ring.members)} members)",
                        hold_funding=False, verification_tasks=[], opened_at=now, updated_at=now,
                        due_at=now + REVIEW_TARGET, last_reviewed_at=now, reviewed_members=list(ring.members))
            session.add(case)
            session.flush()
            _event(session, case, caller, "opened", ring_id=ring_id, members=len(ring.members))
            audit(session, caller, "case.open", "ring", [ring_id], request_id=request_id, case_id=case.id)
            return case_view(case), True
    except IntegrityError:
        with service.ops.session() as session:
            existing = _open_ring_case(session, ring_id)
            if existing is None:
                raise
            return case_view(existing), False


def _open_ring_case(session: Session, ring_id: str) -> Case | None:
    return session.scalar(select(Case).where(Case.kind == "ring", Case.ring_id == ring_id, Case.status.in_(OPEN)))


def assign_case(service: Service, caller: Any, case_id: str, assignee: str | None, *,
                request_id: str | None = None) -> dict[str, Any]:
    """Assign a case to ``assignee`` (``None``: back to the queue)."""
    with service.ops.session() as session:
        case = _load(session, case_id, lock=True)
        _open_only(case)
        previous = case.assignee
        case.assignee = assignee[:64] if assignee else None
        case.status = "in_progress" if assignee else "open"
        _event(session, case, caller, "assigned" if assignee else "unassigned", assignee=case.assignee,
               previous=previous)
        audit(session, caller, "case.assign", "case", [case_id], request_id=request_id, assignee=case.assignee)
        return case_view(case)


def add_note(service: Service, caller: Any, case_id: str, text: str, *,
             request_id: str | None = None) -> dict[str, Any]:
    """Add a note to a case's timeline (closed cases take notes too)."""
    if not text.strip():
        raise InvalidRequestError("text", "a note needs some text")
    with service.ops.session() as session:
        case = _load(session, case_id)
        _event(session, case, caller, "note", text=text)
        audit(session, caller, "case.note", "case", [case_id], request_id=request_id)
        return case_view(case)


def request_verification(service: Service, caller: Any, case_id: str, task: str, *, note: str | None = None,
                         request_id: str | None = None) -> dict[str, Any]:
    """Ask for a verification task on an open application case (``proof_of_income``,
    ``employment_check``, ``identity_check``); asking again for a task already there
    changes nothing. The approval system learns the case's tasks with its final decision."""
    if task not in VERIFICATION_TASKS:
        raise InvalidRequestError("task", f"one of {', '.join(VERIFICATION_TASKS)}")
    with service.ops.session() as session:
        case = _load(session, case_id, lock=True)
        _open_only(case)
        if case.kind != "application":
            raise InvalidRequestError("case_id", "verification tasks are asked for on an application's case")
        tasks = list(case.verification_tasks or [])
        added = all(t.get("task") != task for t in tasks)
        if added:
            case.verification_tasks = [*tasks, {"task": task, "reasons": [], "requested_by": _name(caller)}]
            case.updated_at = utcnow()
            if note:
                _event(session, case, caller, "note", text=note)
            _event(session, case, caller, "verification_requested", task=task)
        audit(session, caller, "case.verification", "case", [case_id], request_id=request_id, task=task,
              changed=added)
        return case_view(case)


def set_hold(service: Service, caller: Any, case_id: str, hold: bool, *, note: str | None = None,
             request_id: str | None = None) -> dict[str, Any]:
    """Hold the dealer's funding on an open application case (or release it); the same state again changes
    nothing (200, audited all the same)."""
    with service.ops.session() as session:
        case = _load(session, case_id, lock=True)
        _open_only(case)
        if case.kind != "application":
            raise InvalidRequestError("case_id", "funding is held on an application's case")
        changed = bool(case.hold_funding) != hold
        if changed:
            case.hold_funding = hold
            case.updated_at = utcnow()
            if note:
                _event(session, case, caller, "note", text=note)
            _event(session, case, caller, "funding_held" if hold else "funding_released")
        audit(session, caller, "case.hold" if hold else "case.release", "case", [case_id], request_id=request_id,
              changed=changed)
        return case_view(case)


def snooze_case(service: Service, caller: Any, case_id: str, until: datetime, *,
                request_id: str | None = None) -> dict[str, Any]:
    """Leave a case out of the queue until ``until`` (a time in the past wakes it up)."""
    if until.tzinfo is None:
        raise InvalidRequestError("until", "give a time with its offset (e.g. 2026-03-02T09:00:00+08:00)")
    with service.ops.session() as session:
        case = _load(session, case_id, lock=True)
        _open_only(case)
        case.snoozed_until = until
        _event(session, case, caller, "snoozed", until=until.isoformat())
        audit(session, caller, "case.snooze", "case", [case_id], request_id=request_id)
        return case_view(case)


def close_case(service: Service, caller: Any, case_id: str, outcome: str, *, typology: str | None = None,
               note: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    """Close a case with its outcome (see the module docstring); a closed case is a ``case_closed`` conflict."""
    if outcome not in OUTCOMES:
        raise InvalidRequestError("outcome", f"one of {', '.join(OUTCOMES)}")
    if outcome == "confirmed_fraud" and not typology:
        raise InvalidRequestError("typology", "confirmed fraud names its typology")
    fraud = outcome == "confirmed_fraud"
    with service.ops.session() as session:
        peek = _load(session, case_id)
        _open_only(peek)
        kind = peek.kind
    ring_members: tuple[str, ...] = ()
    if kind == "ring":  # the members now; the members last reviewed when no ring run knows the ring any more
        ring_members = _members_now(service, peek)[1] or tuple(peek.reviewed_members or ())
        apps = sorted({a for v in member_applications(service, ring_members).values() for a in v})
    with service.ops.session() as session:
        case = _load(session, case_id, lock=True)
        now = utcnow()
        claimed = session.execute(update(Case).where(Case.id == case_id, Case.status.in_(OPEN))
                                  .values(status="closed", closed_at=now, updated_at=now)
                                  .execution_options(synchronize_session=False))
        if getattr(claimed, "rowcount", 0) != 1:
            raise StateConflictError("case_closed", f"case {case_id} is closed")
        session.refresh(case)
        case.outcome, case.typology = outcome, typology if fraud else None
        if kind == "ring":
            case.last_reviewed_at, case.reviewed_members = now, list(ring_members)
        else:
            apps = [str(case.application_id)]
        if note:
            _event(session, case, caller, "note", text=note)
        _event(session, case, caller, "closed", outcome=outcome, typology=case.typology, applications=len(apps))
        verdict = record_verdict(session, caller, apps, fraud=fraud, typology=case.typology, source="case",
                                 application_id=case.application_id, ring_id=case.ring_id, case_id=case.id)
        event_id = _finalize(session, case, outcome, now)
        audit(session, caller, "case.close", "case", [case_id], request_id=request_id, outcome=outcome,
              verdict_id=verdict.id, event_id=event_id)
        view = case_view(case, now)
    view["verdict_id"], view["event_id"] = verdict.id, event_id
    apply_verdict(service, apps, fraud, typology if fraud else None)
    publish_verdict(service.extras, verdict_view(verdict), apps)
    return view


def _finalize(session: Session, case: Case, outcome: str, now: datetime) -> str | None:
    """Finalize the case's decision and write its ``decision.finalized`` event; the event id."""
    decision = session.get(DecisionRow, case.decision_id) if case.decision_id else None
    if decision is None:
        return None
    decision.status, decision.final_action, decision.finalized_at = "finalized", OUTCOMES[outcome], now
    event = enqueue(session, "decision.finalized", {
        "decision_id": decision.id, "application_id": decision.application_id, "case_id": case.id,
        "final_action": decision.final_action, "outcome": outcome, "typology": case.typology,
        "verification_tasks": [t.get("task") for t in case.verification_tasks or []],
        "hold_funding": bool(case.hold_funding), "finalized_at": now.isoformat()})
    return event.id
