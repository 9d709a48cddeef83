"""The append-only audit log: who read or changed what, when, and which ids.

Every read of personal data, every verdict, watchlist, configuration, bundle and key
change calls :func:`audit` in the same transaction as the change, so a change is never
without its line. The database refuses to update or delete a line (triggers of the
first migration). ``detail`` holds ids, codes and counts, never a personal value.

The lines form a hash chain: each carries the hash of the line before it
(``prev_hash``) and its own (``hash`` = sha256 of ``prev_hash`` and its content,
:func:`line_hash`). A line joins the chain in its own transaction, after updating the
chain's head row (:class:`~tianwang.opsdb.models.AuditChain`), which holds off every
other line until that transaction ends: the chain follows the order lines are written
in. Someone who gets past the triggers (a database administrator) and deletes, alters
or reorders lines breaks the chain, and :func:`verify_chain` (``tianwang audit
verify``) says where.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import ColumnElement, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from tianwang.opsdb.models import AuditChain, AuditEntry, utcnow
from tianwang.opsdb.pagination import Page, paginate

if TYPE_CHECKING:
    from tianwang.service import Service

__all__ = ["GENESIS", "ChainReport", "audit", "audit_view", "line_hash", "list_audit", "verify_chain"]

#: the hash before the chain's first line
GENESIS = "0" * 64


def audit(session: Session, actor: Any, action: str, target_type: str, target_ids: Iterable[str] = (),
          *, request_id: str | None = None, **detail: Any) -> None:
    """Add one audit line to ``session`` (committed with the change it records).

    ``actor`` is a :class:`~tianwang.service.accounts.Principal` (or a plain name for
    commands run on the server itself, such as ``"cli"``).
    """
    name = getattr(actor, "id", None) or str(actor)
    roles = sorted(getattr(actor, "roles", ()))
    entry = AuditEntry(at=utcnow(), actor=name[:64], roles=roles, action=action, target_type=target_type,
                       target_ids=[str(i) for i in target_ids], request_id=request_id, detail=detail)
    # take the chain's head (the update holds it until this transaction ends), link the line, move the head
    head = session.execute(update(AuditChain).where(AuditChain.id == 1).values(lines=AuditChain.lines + 1)
                           .returning(AuditChain.last_hash)).scalar_one_or_none()
    if head is None:  # a database made before the chain: start it
        head = GENESIS
        session.add(AuditChain(id=1, last_hash=GENESIS, lines=1))
        session.flush()
    entry.prev_hash = head
    entry.hash = line_hash(entry)
    session.add(entry)
    session.execute(update(AuditChain).where(AuditChain.id == 1).values(last_hash=entry.hash))


def line_hash(entry: AuditEntry) -> str:
    """sha256 of the line before's hash and this line's content (its time in UTC, actor, roles, action,
    target, request id and detail, as canonical JSON)."""
    content = orjson.dumps([entry.prev_hash, entry.at.isoformat(), entry.actor, list(entry.roles), entry.action,
                            entry.target_type, list(entry.target_ids), entry.request_id, dict(entry.detail)],
                           option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(content).hexdigest()


@dataclass
class ChainReport:
    """What :func:`verify_chain` found."""

    lines: int = 0
    before_chain: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(session: Session, *, batch: int = 5000) -> ChainReport:
    """Walk the audit log in order and check every link; a deleted, altered or reordered line is a problem
    named by its id (lines written before the chain existed are counted, not checked)."""
    report = ChainReport()
    expected: str | None = None
    last_id = 0
    while True:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id)
                               .limit(batch)).all()
        if not rows:
            break
        for entry in rows:
            last_id = entry.id
            report.lines += 1
            if entry.hash is None and expected is None:
                report.before_chain += 1
                continue
            if entry.hash is None:
                report.problems.append(f"line {entry.id}: no hash inside the chain (added around it)")
                continue
            if expected is not None and entry.prev_hash != expected:
                report.problems.append(f"line {entry.id}: does not follow the line before it "
                                       "(a line deleted or moved before it)")
            elif expected is None and entry.prev_hash != GENESIS:
                report.problems.append(f"line {entry.id}: the chain's first line does not start it "
                                       "(lines deleted before it)")
            if line_hash(entry) != entry.hash:
                report.problems.append(f"line {entry.id}: its content does not match its hash (altered)")
            expected = entry.hash
        session.expunge_all()
    head = session.get(AuditChain, 1)
    if head is not None and expected is not None and head.last_hash != expected:
        report.problems.append("the last line is not the chain's head (lines deleted at the end)")
    return report


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
