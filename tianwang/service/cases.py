"""Investigators' cases: opened by review decisions (and for rings), worked, closed with an outcome.

This module starts the case of a review decision; the queue, assignment, notes,
snoozing, the timeline and closing live here too as they are built.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tianwang.ids import new_id
from tianwang.opsdb.models import Case, CaseEvent, DecisionRow, utcnow
from tianwang.service.actions import Action

__all__ = ["REVIEW_TARGET", "open_case_for_decision"]

#: how long a case may wait before it is overdue
REVIEW_TARGET = timedelta(hours=24)


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
