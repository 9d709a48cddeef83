"""Metadata of a raw PDF, read with pypdf: producer, creation and modification dates,
and how many incremental updates were appended after the first save.

pypdf is optional: without it :func:`read_pdf_facts` still counts incremental updates
(``%%EOF`` markers) but leaves the metadata empty.

Examples
--------
>>> read_pdf_facts(b"not a pdf").readable
False
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["PdfFacts", "parse_pdf_date", "read_pdf_facts"]

log = logging.getLogger(__name__)

_PDF_DATE = re.compile(r"^D?:?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+\-])?(\d{2})?'?(\d{2})?'?$")


@dataclass(frozen=True, slots=True)
class PdfFacts:
    """What a PDF says about itself."""

    readable: bool
    producer: str | None = None
    creator: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    incremental_updates: int = 0


def parse_pdf_date(value: str | None) -> datetime | None:
    """A PDF date string (``D:20240105093000+08'00'``) as an aware datetime, or ``None``.

    >>> parse_pdf_date("D:20240105093000+08'00'").isoformat()
    '2024-01-05T09:30:00+08:00'
    """
    if not value:
        return None
    match = _PDF_DATE.match(value.strip())
    if not match:
        return None
    y, mo, d, h, mi, s, sign, oh, om = match.groups()
    offset = timedelta(0)
    if sign in ("+", "-"):
        offset = timedelta(hours=int(oh or 0), minutes=int(om or 0)) * (1 if sign == "+" else -1)
    try:
        return datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0),
                        tzinfo=timezone(offset))
    except ValueError:
        return None


def read_pdf_facts(raw: bytes) -> PdfFacts:
    """Read the metadata of a PDF file's bytes; an unreadable file gives ``readable=False``."""
    if not raw.startswith(b"%PDF-"):
        return PdfFacts(readable=False)
    updates = max(0, raw.count(b"%%EOF") - 1)
    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - pypdf is a dependency
        return PdfFacts(readable=True, incremental_updates=updates)
    try:
        reader = PdfReader(io.BytesIO(raw))
        info: Any = reader.metadata or {}
        producer = info.get("/Producer")
        creator = info.get("/Creator")
        return PdfFacts(
            readable=True,
            producer=str(producer) if producer else None,
            creator=str(creator) if creator else None,
            created_at=parse_pdf_date(str(info.get("/CreationDate") or "")),
            modified_at=parse_pdf_date(str(info.get("/ModDate") or "")),
            incremental_updates=updates,
        )
    except Exception as exc:  # pypdf raises many kinds on broken files
        log.warning("unreadable PDF attachment", extra={"error": type(exc).__name__})
        return PdfFacts(readable=False, incremental_updates=updates)
