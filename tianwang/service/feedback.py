"""Feedback: investigators' verdicts and delayed repayment outcomes, and the labels they make.

A **verdict** (``POST /v1/verdicts``, or closing a case) says whether an application,
or every application of a ring's members, was fraud. It is recorded as a
:class:`~tianwang.opsdb.models.Verdict` row and, once committed, handed to the running
pipeline (:meth:`~tianwang.scoring.pipeline.ScoringPipeline.verdict`) for every
application concerned, so the known-fraud index and the ring detector's confirmed
fraud change at once: the next score of a ring member sees it.

An **outcome** (``POST /v1/outcomes``) is what the servicing system learns weeks later:
``first_payment_default``, ``early_default``, ``charge_off`` or ``paid_as_agreed``. An
outcome that counts as fraud (below) reaches the running pipeline as a fraud verdict
with the outcome as its typology, unless an investigator gave the application a verdict.

:func:`labels` turns both into training labels, one per application:

* a verdict wins over any outcome (an investigator looked at the case); of several
  verdicts on an application the latest wins;
* without a verdict, an application is fraud when any of its outcomes is a
  ``first_payment_default`` (no payment ever made: the classic sign of a loan taken
  never to be repaid); ``early_default`` and ``charge_off`` are credit losses, not
  fraud by themselves, and ``paid_as_agreed`` is a clean label; the label's time is
  that of the latest outcome counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tianwang.errors import InvalidRequestError, NotFoundError
from tianwang.ids import new_id
from tianwang.opsdb.models import DecisionRow, Outcome, Verdict, utcnow
from tianwang.opsdb.pagination import paginate
from tianwang.outcomes import OUTCOME_KINDS, counts_as_fraud
from tianwang.service import Service
from tianwang.service.audit import audit
from tianwang.service.events import publish_outcome, publish_verdict
from tianwang.service.ring_members import current_ring, member_applications

__all__ = ["OUTCOME_KINDS", "apply_verdict", "labels", "list_verdicts", "post_outcome", "post_verdict",
           "record_verdict", "verdict_view"]


def verdict_view(row: Verdict) -> dict[str, Any]:
    return {"verdict_id": row.id, "application_id": row.application_id, "ring_id": row.ring_id,
            "case_id": row.case_id, "fraud": row.fraud, "typology": row.typology, "source": row.source,
            "actor": row.actor, "at": row.at.isoformat(), "applications": list(row.applications)}


def record_verdict(session: Session, actor: Any, applications: Iterable[str], *, fraud: bool,
                   typology: str | None, source: str, application_id: str | None = None,
                   ring_id: str | None = None, case_id: str | None = None) -> Verdict:
    """Add a verdict row (and its audit line) to ``session``; :func:`apply_verdict` after the commit."""
    apps = sorted(set(applications))
    row = Verdict(id=new_id("vrd"), application_id=application_id, ring_id=ring_id, case_id=case_id, fraud=fraud,
                  typology=typology, source=source, actor=(getattr(actor, "name", None) or str(actor))[:64],
                  at=utcnow(), applications=apps)
    session.add(row)
    audit(session, actor, "verdict.record", "ring" if ring_id else "application", [ring_id or application_id or ""],
          verdict_id=row.id, case_id=case_id, fraud=fraud, typology=typology, applications=len(apps))
    return row


def apply_verdict(service: Service, applications: Iterable[str], fraud: bool, typology: str | None) -> int:
    """Hand a committed verdict to the running pipeline, application by application; how many it knew."""
    known = 0
    for application_id in applications:
        if service.runtime.pipeline.verdict(application_id, fraud, typology):
            known += 1
    return known


def ring_applications(service: Service, ring_id: str) -> list[str]:
    """Every application of the ring's current members."""
    ring = current_ring(service, ring_id)
    return sorted({a for apps in member_applications(service, ring.members).values() for a in apps})


def _check_application(service: Service, session: Session, application_id: str) -> None:
    known = session.scalar(select(DecisionRow.id).where(DecisionRow.application_id == application_id))
    if known is None and service.runtime.store.get_application(application_id) is None:
        raise NotFoundError("application", application_id)


def post_verdict(service: Service, actor: Any, *, fraud: bool, typology: str | None = None,
                 application_id: str | None = None, ring_id: str | None = None,
                 request_id: str | None = None) -> dict[str, Any]:
    """A verdict given directly on an application or a ring (all its members' applications)."""
    if (application_id is None) == (ring_id is None):
        raise InvalidRequestError("application_id", "give exactly one of application_id and ring_id")
    if fraud and not typology:
        raise InvalidRequestError("typology", "a fraud verdict names its typology")
    apps = ring_applications(service, ring_id) if ring_id is not None else [str(application_id)]
    with service.ops.session() as session:
        if application_id is not None:
            _check_application(service, session, application_id)
        row = record_verdict(session, actor, apps, fraud=fraud, typology=typology, source="api",
                             application_id=application_id, ring_id=ring_id)
        view = verdict_view(row)
    view["detectors_informed"] = apply_verdict(service, apps, fraud, typology)
    publish_verdict(service.extras, view, apps)
    return view


def list_verdicts(service: Service, *, cursor: str | None, limit: int, application_id: str | None = None,
                  ring_id: str | None = None) -> dict[str, Any]:
    """Verdicts, newest first."""
    stmt = select(Verdict)
    if application_id is not None:
        stmt = stmt.where(Verdict.application_id == application_id)
    if ring_id is not None:
        stmt = stmt.where(Verdict.ring_id == ring_id)
    with service.ops.session() as session:
        page = paginate(session, stmt, [(Verdict.at, True), (Verdict.id, True)], cursor=cursor, limit=limit)
        return page.as_dict(verdict_view)


def post_outcome(service: Service, actor: Any, *, application_id: str, kind: str, observed_on: date,
                 request_id: str | None = None) -> dict[str, Any]:
    """Record a delayed repayment outcome of an application."""
    if kind not in OUTCOME_KINDS:
        raise InvalidRequestError("kind", f"one of {', '.join(OUTCOME_KINDS)}")
    with service.ops.session() as session:
        _check_application(service, session, application_id)
        row = Outcome(id=new_id("out"), application_id=application_id, kind=kind,
                      observed_on=observed_on.isoformat(), actor=(getattr(actor, "name", None) or str(actor))[:64],
                      at=utcnow(), detail={})
        session.add(row)
        audit(session, actor, "outcome.record", "application", [application_id], request_id=request_id,
              outcome_id=row.id, kind=kind)
        judged = session.scalar(select(Verdict.id).where(Verdict.application_id == application_id).limit(1))
        view = {"outcome_id": row.id, "application_id": application_id, "kind": kind,
                "observed_on": row.observed_on, "counts_as_fraud": counts_as_fraud(kind), "at": row.at.isoformat()}
    # a fraud outcome teaches the running detectors as a verdict would, unless an investigator judged the application
    informed = 0
    as_verdict = counts_as_fraud(kind) and judged is None
    if as_verdict:
        informed = apply_verdict(service, [application_id], True, kind)
    view["detectors_informed"] = informed
    publish_outcome(service.extras, view, as_verdict=as_verdict)
    return view


def labels(session: Session) -> list[tuple[str, bool, str, datetime]]:
    """Training labels ``(application_id, fraud, source, at)``, one per application, sorted by id.

    ``source`` is ``"verdict"`` or ``"outcome"``; the rule is in the module docstring.
    """
    out: dict[str, tuple[str, bool, str, datetime]] = {}
    for o in session.scalars(select(Outcome).order_by(Outcome.at, Outcome.id)):
        fraud = counts_as_fraud(o.kind)
        before = out.get(o.application_id)
        out[o.application_id] = (o.application_id, fraud or (before is not None and before[1]), "outcome", o.at)
    for v in session.scalars(select(Verdict).order_by(Verdict.at, Verdict.id)):
        for application_id in v.applications:
            out[application_id] = (application_id, v.fraud, "verdict", v.at)
    return [out[k] for k in sorted(out)]
