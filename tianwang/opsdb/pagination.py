"""Cursor pagination over SQLAlchemy selects.

A list is read in pages of ``limit`` rows in a fixed order that ends in a unique
column; the cursor is the last row's values of those columns, base64-encoded JSON, so
the next page starts strictly after it whatever was inserted meanwhile. Pages answer as
``{"data": [...], "pagination": {"has_more": bool, "next": cursor | None}}``.

Examples
--------
>>> cursor = encode_cursor([870, "case_01"])
>>> decode_cursor(cursor)
[870, 'case_01']
>>> decode_cursor("not a cursor")
Traceback (most recent call last):
...
tianwang.errors.InvalidRequestError: cursor: not a cursor this list gave out
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from tianwang.errors import InvalidRequestError

__all__ = ["Page", "decode_cursor", "encode_cursor", "paginate"]

T = TypeVar("T")


def _plain(value: Any) -> Any:
    return {"$dt": value.isoformat()} if isinstance(value, datetime) else value


def _typed(value: Any) -> Any:
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    """The cursor that names a row by its sort values."""
    return base64.urlsafe_b64encode(orjson.dumps([_plain(v) for v in values])).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The sort values a cursor names; :class:`InvalidRequestError` on ``cursor`` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
        if not isinstance(values, list):
            raise ValueError
        return [_typed(v) for v in values]
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidRequestError("cursor", "not a cursor this list gave out") from None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next."""

    data: list[T]
    has_more: bool
    next: str | None

    def as_dict(self, render: Callable[[T], Any] = lambda x: x) -> dict[str, Any]:
        return {"data": [render(item) for item in self.data],
                "pagination": {"has_more": self.has_more, "next": self.next}}


def paginate(session: Session, stmt: Select[Any], order: Sequence[tuple[InstrumentedAttribute[Any], bool]],
             *, cursor: str | None, limit: int) -> Page[Any]:
    """Run ``stmt`` one page at a time.

    Parameters
    ----------
    order : sequence of (column, descending)
        The sort order; its last column must be unique (an id).
    cursor : str, optional
        The ``next`` of the previous page.
    limit : int
        Rows per page.
    """
    if cursor:
        values = decode_cursor(cursor)
        if len(values) != len(order):
            decode_cursor("!")  # raises the same error
        # rows strictly after the cursor in the (mixed-direction) order
        clauses = []
        for i, (column, descending) in enumerate(order):
            equal = [order[j][0] == values[j] for j in range(i)]
            after = column < values[i] if descending else column > values[i]
            clauses.append(and_(*equal, after))
        stmt = stmt.where(or_(*clauses))
    stmt = stmt.order_by(*[column.desc() if descending else column.asc() for column, descending in order])
    rows = list(session.scalars(stmt.limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([getattr(rows[-1], column.key) for column, _ in order]) if has_more else None
    return Page(rows, has_more, next_cursor)
