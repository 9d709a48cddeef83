"""The append-only audit log: who read or changed what, when, and which ids.

Every read of personal data, every verdict, watchlist, configuration, bundle and key
change calls :func:`audit` in the same transaction as the change, so a change is never
without its line. The database refuses to update or delete a line (triggers of the
first migration). ``detail`` holds ids, codes and counts, never a personal value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from tianwang.opsdb.models import AuditEntry, utcnow

__all__ = ["audit"]


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
