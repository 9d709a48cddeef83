"""Metadata of a raw PDF, read with pypdf: producer, creation and modification dates,
and how many incremental updates were appended after the first save.

pypdf runs in worker processes (:mod:`detectors.pdf_worker`), started with pypdf
imported when the detector that reads PDFs is built, never on a scoring thread: a
PDF not read within the caller's timeout is left unread (``readable=False``) and its
worker is abandoned. Files over :data:`MAX_PDF_BYTES` or declaring more than
:data:`~detectors.pdf_worker.MAX_PAGES` pages are not read either. pypdf's warnings
about a broken file become one log record with their count. Incremental updates
(``%%EOF`` markers) are counted on the bytes in every case.

Examples
--------
>>> read_pdf_facts(b"not a pdf").readable
False
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from detectors.pdf_worker import pdf_workers

__all__ = ["MAX_PDF_BYTES", "PDF_TIMEOUT_S", "PdfFacts", "parse_pdf_date", "read_pdf_facts"]

log = logging.getLogger(__name__)

#: A PDF larger than this is not parsed (statements and proofs are far smaller).
MAX_PDF_BYTES = 4 * 1024 * 1024
#: How long :func:`read_pdf_facts` waits for a worker by default, in seconds.
PDF_TIMEOUT_S = 0.05

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
    why: str | None = None
    """Why the file was not read, when it was not."""


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


def read_pdf_facts(raw: bytes, *, timeout: float = PDF_TIMEOUT_S) -> PdfFacts:
    """Read the metadata of a PDF file's bytes within ``timeout`` seconds.

    A file that is not a PDF, is too large or too long, is broken, or is not read in
    time gives ``readable=False`` and says why.
    """
    if not raw.startswith(b"%PDF-"):
        return PdfFacts(readable=False, why="not a PDF")
    updates = max(0, raw.count(b"%%EOF") - 1)
    if len(raw) > MAX_PDF_BYTES:
        return _unreadable(updates, f"larger than {MAX_PDF_BYTES} bytes")
    result = pdf_workers().read(raw, timeout)
    if result is None:
        return _unreadable(updates, f"not read within {timeout * 1000:g} ms")
    if result.get("warnings"):
        log.warning("PDF attachment with defects", extra={"pypdf_warnings": result["warnings"]})
    if "error" in result:
        return _unreadable(updates, f"pypdf: {result['error']}")
    return PdfFacts(
        readable=True,
        producer=result.get("Producer"),
        creator=result.get("Creator"),
        created_at=parse_pdf_date(result.get("CreationDate")),
        modified_at=parse_pdf_date(result.get("ModDate")),
        incremental_updates=updates,
    )


def _unreadable(updates: int, why: str) -> PdfFacts:
    log.warning("unreadable PDF attachment", extra={"why": why})
    return PdfFacts(readable=False, incremental_updates=updates, why=why)
