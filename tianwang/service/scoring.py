"""Online scoring for the approval system: idempotent, recorded, with an action.

:func:`score_application` validates an application, scores it through the runtime's
pipeline, chooses the action (:mod:`tianwang.service.actions`) and records the decision
in the operational database; a review opens a case in the same transaction, and the
application's raw personal values are sealed into the vault (:mod:`tianwang.service.vault`)
in that transaction too: a decision is never stored without them, nor they without it.

Scoring is idempotent on the application id: the same application sent again gets
the decision it got the first time (scored once); different content under an id
already decided is an :class:`~tianwang.errors.ApplicationConflictError` naming the
fields that differ (by schema path, never by value).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from graph_schema.mapping import application_row
from tianwang.application import Application, parse_application
from tianwang.errors import ApplicationConflictError, DecisionNotFoundError
from tianwang.ids import new_id
from tianwang.opsdb.models import Case, DecisionRow, VaultEntry, utcnow
from tianwang.scoring.outbox import GraphUnavailable
from tianwang.service import Service
from tianwang.service.actions import choose_action
from tianwang.service.audit import audit
from tianwang.service.cases import open_case_for_decision
from tianwang.service.events import publish_application
from tianwang.service.vault import vault_rows

__all__ = ["decision_view", "differing_fields", "get_decision", "score_application"]


def differing_fields(old: Any, new: Any, path: str = "") -> list[str]:
    """Schema paths where two redacted records differ (list items by index).

    >>> differing_fields({"a": 1, "b": {"c": [1, 2]}}, {"a": 1, "b": {"c": [1, 3]}, "d": 0})
    ['b.c[1]', 'd']
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            here = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(here)
            else:
                out.extend(differing_fields(old[key], new[key], here))
        return out
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [path]
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(differing_fields(a, b, f"{path}[{i}]"))
        return out
    return [] if old == new else [path or "(root)"]


def _conflict(service: Service, app: Application) -> ApplicationConflictError | None:
    """The conflict between ``app`` and what the graph holds under its id (or its graph outbox), if any."""
    row = application_row(app, service.runtime.store.keyer)
    gate = service.runtime.pipeline.gate
    waiting = gate.waiting_hash(app.application_id)
    if waiting is not None:  # it waits for the graph store: compare with what waits
        return None if waiting == row.content_hash else ApplicationConflictError(app.application_id)
    try:
        stored = gate.call(partial(service.runtime.store.get_application, app.application_id))
    except GraphUnavailable:  # the store cannot say: the earlier decision stands
        return None
    if stored is None:
        return None
    if row.content_hash == stored.content_hash:
        return None
    fields = differing_fields(stored.record, orjson.loads(row.record_json))
    return ApplicationConflictError(app.application_id, [f for f in fields if not f.endswith("_hash")] or fields)


def _view(record: Mapping[str, Any], decision_id: str, status: str, final_action: str | None = None,
          finalized_at: datetime | None = None, case_id: str | None = None) -> dict[str, Any]:
    return {**record, "decision_id": decision_id, "status": status, "final_action": final_action,
            "finalized_at": finalized_at.isoformat() if finalized_at else None, "case_id": case_id}


def decision_view(row: DecisionRow) -> dict[str, Any]:
    """A decision as the API answers it: the record, with its current status and final action."""
    return _view(row.record, row.id, row.status, row.final_action, row.finalized_at, row.case_id)


def get_decision(service: Service, ident: str, *, reader: Any = None, request_id: str | None = None,
                 ) -> dict[str, Any]:
    """A decision by its id (``dec_...``) or by its application's id.

    With ``reader`` (the caller) the read is audited (``decision.read``): its evidence is
    personal data, masked or not. A decision with a case answers the case's current
    verification tasks and funding hold in its ``action`` (investigators change them).
    """
    with service.ops.session() as session:
        column = DecisionRow.id if ident.startswith("dec_") else DecisionRow.application_id
        row = session.scalar(select(DecisionRow).where(column == ident))
        if row is None:
            raise DecisionNotFoundError(ident)
        if reader is not None:
            audit(session, reader, "decision.read", "decision", [row.id, row.application_id], request_id=request_id)
        view = decision_view(row)
        case = session.get(Case, row.case_id) if row.case_id else None
        if case is not None and isinstance(view.get("action"), dict):  # what investigators asked for since
            view["action"] = {**view["action"], "verification_tasks": list(case.verification_tasks or []),
                              "hold_funding": bool(case.hold_funding)}
        return view


_DECIDED = select(DecisionRow.id).where(DecisionRow.application_id == bindparam("application_id"))
_INSERT_DECISION = insert(DecisionRow)
_INSERT_VAULT = insert(VaultEntry)


def _existing(service: Service, application_id: str) -> DecisionRow | None:
    # most applications are new: a statement on the driver's connection answers that in a third
    # of a Connection's time (and a fifteenth of an ORM session's)
    if service.ops.prepare(_DECIDED).first({"application_id": application_id}) is None:
        return None
    with service.ops.session() as session:
        return session.scalar(select(DecisionRow).where(DecisionRow.application_id == application_id))


def score_application(service: Service, payload: Application | bytes | str | Mapping[str, Any], *,
                      attachments: Mapping[str, bytes] | None = None) -> tuple[dict[str, Any], bool]:
    """Score one application (or return its earlier decision).

    Returns
    -------
    (decision, created)
        The decision as :func:`decision_view` gives it, and whether it was made now.

    Raises
    ------
    ApplicationValidationError
        Naming every bad field; nothing is written.
    ApplicationConflictError
        Different content under an application id already stored.
    """
    app = payload if isinstance(payload, Application) else parse_application(payload)
    existing = _existing(service, app.application_id)
    if existing is not None:
        conflict = _conflict(service, app)
        if conflict is not None:
            raise conflict
        return decision_view(existing), False
    try:
        decision = service.runtime.pipeline.score(app, attachments=attachments)
    except ApplicationConflictError:
        raise _conflict(service, app) or ApplicationConflictError(app.application_id) from None
    record = decision.as_dict()
    action = choose_action(decision.band, [r["code"] for r in record["reasons"]])
    decision_id = new_id("dec")
    record = {"decision_id": decision_id, **record, "action": action.as_dict(),
              "bundle": service.extras.get("bundle_name"), "decided_at": utcnow().isoformat()}
    values = dict(
        id=decision_id, application_id=app.application_id, decided_at=utcnow(),
        submitted_at=app.submitted_at.astimezone(UTC).isoformat(),
        dealer_id=app.dealer_id,
        fraud_score=decision.fraud_score, band=decision.band, action=action.type, strategy=decision.strategy,
        config_version=decision.config_version, bundle=record["bundle"], record=record,
        status="pending" if decision.band == "review" else "final",
    )
    sealed = vault_rows(service.vault, app) if service.vault is not None else []
    try:
        if decision.band == "review":  # the decision, its case and its vault entries in one transaction
            row = DecisionRow(**values)
            with service.ops.session() as session:
                session.add(row)
                session.flush()
                row.case_id = open_case_for_decision(session, row, action)
                if sealed:
                    session.execute(_INSERT_VAULT, sealed)
            view = decision_view(row)
        else:  # plain inserts on the driver's connection, without a session (or an ORM object)
            with service.ops.driver_transaction() as connection:
                service.ops.prepare(_INSERT_DECISION, tuple(values)).execute(connection, [values])
                if sealed:
                    service.ops.prepare(_INSERT_VAULT, tuple(sealed[0])).execute(connection, sealed)
            view = _view(record, decision_id, values["status"])  # what decision_view answers for this row
    except IntegrityError:  # the same application scored at the same time: the first decision wins
        won = _existing(service, app.application_id)
        if won is None:
            raise
        return decision_view(won), False
    publish_application(service.extras, app)
    return view, True
