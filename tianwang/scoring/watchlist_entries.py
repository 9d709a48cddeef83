"""Watchlist entries as people manage them: an id, a masked hint, who listed it, until when.

The watchlist stores (:mod:`tianwang.scoring.persistence`) key every value with
:func:`~tianwang.keys.watchlist_key` and never keep it raw; an entry keeps beside its
key only :func:`watchlist_hint`, the masked form a person may see in a list, so an
entry can be recognised and removed by its id without the value.

Examples
--------
>>> watchlist_hint("phone", "138 0013 8000")
'138****8000'
>>> watchlist_hint("device", "dev-7f3a9c")
'dev-****'
>>> watchlist_hint("phone", "12345")
Traceback (most recent call last):
...
ValueError: is not a mainland mobile (1[3-9] + 9 digits) or landline (0 + area + number)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tianwang.identifiers import (
    is_valid_resident_id,
    mask_account,
    mask_id_number,
    mask_phone,
    normalize_account,
    normalize_phone,
    printable,
)

__all__ = ["WatchlistEntry", "watchlist_hint"]


def watchlist_hint(kind: str, value: str) -> str:
    """The masked form of a value to list under ``kind``; :class:`ValueError` (never naming the value) if it
    is not a valid value of that kind."""
    if kind == "id":
        value = value.strip().upper()
        if not is_valid_resident_id(value):
            raise ValueError("is not a valid resident identity number")
        return mask_id_number(value)
    if kind == "phone":
        return mask_phone(normalize_phone(value))
    if kind == "account":
        return mask_account(normalize_account(value))
    value = printable(value).strip()
    if not value:
        raise ValueError("is empty")
    if kind == "device":
        return value[:4] + "****"
    return value[:64]  # an employer's name or credit code is not personal


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    """One listed value, as a person may see it (the value itself is only its key)."""

    entry_id: str
    kind: str
    hint: str
    reason: str | None
    added_at: float
    expires_at: float | None = None
    added_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "kind": self.kind, "hint": self.hint, "reason": self.reason,
                "added_at": self.added_at, "expires_at": self.expires_at, "added_by": self.added_by}
