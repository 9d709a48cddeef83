"""The vault's use cases: seal an application's raw personal values, reveal one, rotate keys, count.

The vault table (:class:`~tianwang.opsdb.models.VaultEntry`) holds, per application and
field (``applicant.phone``, ``applicant.emergency_contacts[0].name`` …), the raw value
sealed with AES-256-GCM (:mod:`tianwang.vault`). Scoring writes the entries in the
transaction of the decision (:func:`vault_rows`, :func:`tianwang.service.scoring.score_application`).

* :func:`reveal`: one value, to the investigator a case is assigned to, while the case is
  open and only for an application the case holds (its own, or a ring member's); each
  reveal writes an audit line (``personal.reveal``, with the field and never the value)
  and a timeline event in the transaction that reads the entry.
* :func:`rotate`: re-seal every entry an older key sealed under the active key, in small
  transactions, beside a running service; stopped at any point it resumes where it was
  (what is left is what an older key still seals).
* :func:`key_counts`: entries per key id (``tianwang vault status``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, tuple_, update

from tianwang.application import Application
from tianwang.errors import InvalidRequestError, NotFoundError, PermissionDeniedError, StateConflictError
from tianwang.opsdb import OpsDB
from tianwang.opsdb.models import Case, CaseEvent, VaultEntry, utcnow
from tianwang.service import Service
from tianwang.service.audit import audit
from tianwang.service.ring_members import current_ring, member_applications
from tianwang.vault import (
    VAULT_FIELDS,
    Sealed,
    Vault,
    VaultIntegrityError,
    is_vault_field,
    personal_fields,
)

__all__ = ["REVEAL_ACTION", "RotationReport", "key_counts", "reveal", "rotate", "vault_rows"]

#: the audit action of a reveal
REVEAL_ACTION = "personal.reveal"
_OPEN = ("open", "in_progress")


def vault_rows(vault: Vault, application: Application) -> list[dict[str, Any]]:
    """The vault entries of ``application`` (every personal field it has, sealed), as rows to insert."""
    now = utcnow()
    rows = []
    for path, value in personal_fields(application).items():
        sealed = vault.seal(application.application_id, path, value)
        rows.append({"application_id": application.application_id, "field": path, "key_id": sealed.key_id,
                     "nonce": sealed.nonce, "ciphertext": sealed.ciphertext, "sealed_at": now})
    return rows


def _sealed(entry: VaultEntry) -> Sealed:
    return Sealed(entry.key_id, bytes(entry.nonce), bytes(entry.ciphertext))


def _caller_name(caller: Any) -> str:
    return str(getattr(caller, "name", None) or caller)[:64]


def _case_applications(service: Service, case: Case) -> set[str]:
    """The applications a case holds: its own, or its ring's members' (now and when last reviewed)."""
    if case.kind == "application":
        return {str(case.application_id)} if case.application_id else set()
    members: set[str] = set(case.reviewed_members or [])
    with contextlib.suppress(NotFoundError):
        members |= set(current_ring(service, str(case.ring_id)).members)
    return {a for apps in member_applications(service, sorted(members)).values() for a in apps}


def reveal(service: Service, caller: Any, case_id: str, field_path: str, *, application_id: str | None = None,
           request_id: str | None = None) -> dict[str, Any]:
    """The raw value of ``field_path`` of an application of case ``case_id``, audited.

    ``application_id`` may be left out on an application's case; a ring's case needs it
    (one of its members' applications).

    Raises
    ------
    InvalidRequestError
        ``field`` is not a field the vault keeps; ``application_id`` missing on a ring's case.
    NotFoundError
        No such case, the case does not hold the application, or no value kept for the field.
    PermissionDeniedError
        The case is not assigned to the caller.
    StateConflictError
        ``case_closed`` for a closed case; ``vault_off`` when the vault is off.
    """
    if not is_vault_field(field_path):
        shown = ", ".join(f.replace("[]", "[N]") for f in VAULT_FIELDS)
        raise InvalidRequestError("field", f"one of {shown}")
    if service.vault is None:
        raise StateConflictError("vault_off", "the vault is off (TIANWANG_VAULT=false): no raw value is kept")
    with service.ops.session() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFoundError("case", case_id)
        if case.status not in _OPEN:
            raise StateConflictError("case_closed", f"case {case.id} is closed: values are revealed on open cases")
        if case.assignee != _caller_name(caller):
            raise PermissionDeniedError(f"only the investigator case {case.id} is assigned to may reveal its "
                                        "values: take the case or assign it to yourself first")
        if application_id is None:
            if case.kind != "application":
                raise InvalidRequestError("application_id", "a ring's case needs the member's application id")
            application_id = str(case.application_id)
        if application_id not in _case_applications(service, case):
            raise NotFoundError("application on this case", application_id)
        entry = session.get(VaultEntry, (application_id, field_path))
        if entry is None:
            raise NotFoundError(f"value kept for {field_path} of application", application_id)
        value = service.vault.open(application_id, field_path, _sealed(entry))
        audit(session, caller, REVEAL_ACTION, "application", [application_id], request_id=request_id,
              case_id=case.id, field=field_path, key_id=entry.key_id)
        now = utcnow()
        case.updated_at = now
        session.add(CaseEvent(case_id=case.id, at=now, actor=_caller_name(caller), kind="revealed",
                              detail={"application_id": application_id, "field": field_path}))
    return {"case_id": case_id, "application_id": application_id, "field": field_path, "value": value}


@dataclass
class RotationReport:
    """What :func:`rotate` did: entries re-sealed, and those it could not open (by key id)."""

    active_key_id: str
    resealed: int = 0
    batches: int = 0
    #: entries under a key this vault does not hold, by key id (put the key back, run again)
    missing_key: dict[str, int] = field(default_factory=dict)
    #: entries that did not open (altered, or moved to another row): ``(application id, field)``
    damaged: list[tuple[str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every entry is now sealed under the active key."""
        return not self.missing_key and not self.damaged


def key_counts(ops: OpsDB) -> dict[str, int]:
    """``{key id: entries it seals}``, by key id."""
    with ops.session() as session:
        rows = session.execute(select(VaultEntry.key_id, func.count()).group_by(VaultEntry.key_id)
                               .order_by(VaultEntry.key_id))
        return {str(kid): int(n) for kid, n in rows}


def rotate(ops: OpsDB, vault: Vault, *, batch_size: int = 500, pause: float = 0.0,
           progress: Callable[[int, int], None] | None = None) -> RotationReport:
    """Re-seal, under the active key, every entry an older key of ``vault`` sealed.

    One transaction per ``batch_size`` entries (with ``pause`` seconds between them), so
    a service beside it keeps scoring and revealing: an entry is either still under its
    old key or already under the new one, and either opens. Each update names the key
    the entry was read under, so an entry changed meanwhile is left alone. Interrupted,
    it resumes where it was on the next run. ``progress(done, total)`` follows it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got: {batch_size}")
    report = RotationReport(vault.active_key_id)
    counts = key_counts(ops)
    older = [kid for kid in vault.key_ids if kid != vault.active_key_id]
    report.missing_key = {kid: n for kid, n in counts.items() if not vault.opens(kid)}
    total = sum(counts.get(kid, 0) for kid in older)
    if progress is not None:
        progress(0, total)
    last: tuple[str, str] | None = None
    while older:
        with ops.session() as session:
            stmt = select(VaultEntry).where(VaultEntry.key_id.in_(older))
            if last is not None:
                stmt = stmt.where(tuple_(VaultEntry.application_id, VaultEntry.field) > tuple_(*last))
            entries = session.scalars(stmt.order_by(VaultEntry.application_id, VaultEntry.field)
                                      .limit(batch_size)).all()
            if not entries:
                break
            now = utcnow()
            for entry in entries:
                try:
                    sealed = vault.reseal(entry.application_id, entry.field, _sealed(entry))
                except VaultIntegrityError:
                    report.damaged.append((entry.application_id, entry.field))
                    continue
                result = session.execute(
                    update(VaultEntry)
                    .where(VaultEntry.application_id == entry.application_id, VaultEntry.field == entry.field,
                           VaultEntry.key_id == entry.key_id)
                    .values(key_id=sealed.key_id, nonce=sealed.nonce, ciphertext=sealed.ciphertext, sealed_at=now)
                    .execution_options(synchronize_session=False))
                report.resealed += getattr(result, "rowcount", 0)
            last = (entries[-1].application_id, entries[-1].field)
            session.expunge_all()
        report.batches += 1
        if progress is not None:
            progress(report.resealed, total)
        if pause:
            time.sleep(pause)
    return report
