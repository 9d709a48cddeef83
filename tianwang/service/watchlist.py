"""The watchlist, for investigators: list a value, remove an entry, page through the list.

The list is the scoring pipeline's own watchlist store
(:class:`~tianwang.scoring.persistence.WatchlistStore`), so an entry added here counts
in the very next score (the ``watchlist`` detector looks every application up in it).
A value is stored only as its key (:func:`~tianwang.keys.watchlist_key`) and a masked
hint; every change and every read of the list writes an audit line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tianwang.errors import InvalidRequestError, NotFoundError
from tianwang.opsdb.pagination import decode_cursor, encode_cursor
from tianwang.scoring.persistence import WatchlistStore
from tianwang.scoring.watchlist_entries import WatchlistEntry
from tianwang.service import Service
from tianwang.service.audit import audit

__all__ = ["API_KINDS", "add_entry", "list_entries", "remove_entry"]

#: The kinds the API names, and the watchlist's own name of each.
API_KINDS: dict[str, str] = {"id_number": "id", "phone": "phone", "device": "device", "bank_account": "account",
                             "employer": "employer"}
_API_NAME = {inner: outer for outer, inner in API_KINDS.items()}


def _store(service: Service) -> WatchlistStore:
    return service.runtime.pipeline.watchlist


def _time(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def entry_view(entry: WatchlistEntry) -> dict[str, Any]:
    """An entry as the API answers it (the masked hint only)."""
    now = datetime.now(UTC).timestamp()
    return {"entry_id": entry.entry_id, "kind": _API_NAME.get(entry.kind, entry.kind), "hint": entry.hint,
            "reason": entry.reason, "added_at": _time(entry.added_at), "expires_at": _time(entry.expires_at),
            "added_by": entry.added_by, "active": entry.expires_at is None or entry.expires_at > now}


def add_entry(service: Service, actor: Any, kind: str, value: str, *, reason: str | None = None,
              expires_at: datetime | None = None, request_id: str | None = None) -> tuple[dict[str, Any], bool]:
    """List ``value`` under ``kind`` (an :data:`API_KINDS` name); the entry, and whether it is new (listing a
    value already listed updates its reason and expiry)."""
    inner = API_KINDS.get(kind)
    if inner is None:
        raise InvalidRequestError("kind", f"must be one of {', '.join(API_KINDS)}")
    expires = None
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidRequestError("expires_at", "must carry a time zone")
        if expires_at <= datetime.now(UTC):
            raise InvalidRequestError("expires_at", "must be in the future")
        expires = expires_at.timestamp()
    try:
        entry, created = _store(service).add_entry(inner, value, reason=reason, expires_at=expires,
                                                   added_by=getattr(actor, "id", None) or str(actor))
    except ValueError as exc:  # the messages name what is wrong, never the value
        raise InvalidRequestError("value", str(exc)) from None
    with service.ops.session() as session:
        audit(session, actor, "watchlist.add" if created else "watchlist.update", "watchlist_entry",
              [entry.entry_id], request_id=request_id, kind=kind, expires_at=_time(expires))
    return entry_view(entry), created


def remove_entry(service: Service, actor: Any, entry_id: str, *, request_id: str | None = None) -> dict[str, Any]:
    """Remove an entry by its id; :class:`NotFoundError` if there is none."""
    entry = _store(service).remove_entry(entry_id)
    if entry is None:
        raise NotFoundError("watchlist entry", entry_id)
    with service.ops.session() as session:
        audit(session, actor, "watchlist.remove", "watchlist_entry", [entry_id], request_id=request_id,
              kind=_API_NAME.get(entry.kind, entry.kind))
    return entry_view(entry)


def list_entries(service: Service, actor: Any, *, cursor: str | None = None, limit: int = 50,
                 request_id: str | None = None) -> dict[str, Any]:
    """One page of entries, newest first."""
    after = None
    if cursor:
        values = decode_cursor(cursor)
        if len(values) != 2 or not isinstance(values[0], int | float) or not isinstance(values[1], str):
            raise InvalidRequestError("cursor", "not a cursor this list gave out")
        after = (float(values[0]), values[1])
    found = _store(service).entries(after=after, limit=limit + 1)
    page, has_more = found[:limit], len(found) > limit
    with service.ops.session() as session:
        audit(session, actor, "watchlist.list", "watchlist_entry", [e.entry_id for e in page],
              request_id=request_id)
    last = page[-1] if page else None
    return {"data": [entry_view(e) for e in page],
            "pagination": {"has_more": has_more,
                           "next": encode_cursor([last.added_at, last.entry_id]) if has_more and last else None}}
