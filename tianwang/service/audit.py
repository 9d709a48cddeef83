"""The append-only audit log: who read or changed what, when, and which ids.

Every read of personal data, every verdict, watchlist, configuration, bundle and key
change calls :func:`audit` in the same transaction as the change, so a change is never
without its line. The database refuses to update or delete a line (triggers of the
first migration). ``detail`` holds ids, codes and counts, never a personal value.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from tianwang.opsdb.models import AuditEntry, utcnow
from tianwang.opsdb.pagination import Page, paginate

if TYPE_CHECKING:
    from tianwang.service import Service

__all__ = ["audit", "audit_view", "list_audit"]


def audit(session: Session, actor: Any, action: str, target_type: str, target_ids: Iterable[str] = (),
          *, request_id: str | None = None, **detail: Any) -> None:
    """Add one audit line to ``session`` (committed with the change it records).

    ``actor`` is a :class:`~tianwang.service.accounts.Principal` (or a plain name for
    commands run on the server itself, such as ``"cli"``).
    """
    name = getattr(actor, "id", None) or str(actor)
    roles = sorted(getattr(actor, "roles", ()))
    session.add(AuditEntry(at=utcnow(), actor=name[:64], roles=roles, action=action, target_type=target_type,
                           target_ids=[str(i) for i in target_ids], request_id=request_id, detail=detail))


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    """An audit line as the API answers it."""
    return {"id": entry.id, "at": entry.at.isoformat(), "actor": entry.actor, "roles": list(entry.roles),
            "action": entry.action, "target_type": entry.target_type, "target_ids": list(entry.target_ids),
            "request_id": entry.request_id, "detail": dict(entry.detail)}


def _names_target(session: Session, target_id: str) -> ColumnElement[bool]:
    """Lines whose ``target_ids`` hold ``target_id`` (a JSON array: each backend asks in its own way)."""
    if session.get_bind().dialect.name == "postgresql":
        return AuditEntry.target_ids.op("@>")(literal([target_id], type_=JSONB))
    each = func.json_each(AuditEntry.target_ids).table_valued("value")
    return select(each.c.value).where(each.c.value == target_id).exists()


def list_audit(service: Service, reader: Any, *, actor: str | None = None, action: str | None = None,
               target_type: str | None = None, target_id: str | None = None, since: datetime | None = None,
               until: datetime | None = None, cursor: str | None = None, limit: int = 50,
               request_id: str | None = None) -> Page[dict[str, Any]]:
    """The audit log, newest first, filtered; reading it is itself audited (``audit.read``).

    ``since`` is inclusive, ``until`` exclusive.
    """
    with service.ops.session() as session:
        stmt = select(AuditEntry)
        if actor is not None:
            stmt = stmt.where(AuditEntry.actor == actor)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        if target_type is not None:
            stmt = stmt.where(AuditEntry.target_type == target_type)
        if target_id is not None:
            stmt = stmt.where(_names_target(session, target_id))
        if since is not None:
            stmt = stmt.where(AuditEntry.at >= since)
        if until is not None:
            stmt = stmt.where(AuditEntry.at < until)
        page = paginate(session, stmt, [(AuditEntry.at, True), (AuditEntry.id, True)], cursor=cursor, limit=limit)
        filters = {k: v for k, v in {"actor": actor, "action": action, "target_type": target_type,
                                     "since": since.isoformat() if since else None,
                                     "until": until.isoformat() if until else None}.items() if v is not None}
        audit(session, reader, "audit.read", "audit_log", [target_id] if target_id else (), request_id=request_id,
              rows=len(page.data), filters=filters)
        return Page([audit_view(e) for e in page.data], page.has_more, page.next)
