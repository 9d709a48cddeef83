"""Reading NDJSON files of applications line by line, in bounded memory.

Both ``tianwang ingest`` and ``tianwang score`` read their files through
:func:`read_lines`:

* A UTF-8 byte-order mark at the start of the file (what common Windows tools write)
  is accepted: it is read as three spaces, so the first line parses and every line
  keeps its size in bytes.
* No line is held in memory beyond :data:`MAX_LINE_BYTES` (1 MiB; an application with
  50 documents is a few tens of KiB). A longer line is read no further than that, the
  rest of it is skipped in pieces of that size, and it is reported as rejected.
* A "line" that goes on for :data:`MAX_SKIP_BYTES` (256 MiB) without a line break is
  no NDJSON file (``/dev/zero``, a disk image): reading stops with a
  :class:`~tianwang.errors.ApplicationFileError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from tianwang.errors import ApplicationFileError

__all__ = ["BOM", "MAX_LINE_BYTES", "MAX_SKIP_BYTES", "TOO_LONG", "read_lines"]

#: The UTF-8 byte-order mark.
BOM = b"\xef\xbb\xbf"
#: The longest line parsed as an application, in bytes (line break included).
MAX_LINE_BYTES = 1 << 20
#: The longest line skipped before the file is taken for something other than NDJSON.
MAX_SKIP_BYTES = 256 << 20
#: Why a line over :data:`MAX_LINE_BYTES` is rejected (a reason as validation gives one).
TOO_LONG = f"(application): line longer than {MAX_LINE_BYTES:,} bytes, not read"


def read_lines(lines: BinaryIO, first_line: int = 1) -> Iterator[tuple[int, bytes | None, int]]:
    """Each line of ``lines``: its number, its bytes (``None`` when too long) and its size in bytes.

    Raises
    ------
    ApplicationFileError
        When a line goes on past :data:`MAX_SKIP_BYTES`.
    """
    readline = lines.readline
    number = first_line
    raw = readline(MAX_LINE_BYTES)
    if raw.startswith(BOM):
        raw = b"   " + raw[len(BOM) :]
    while raw:
        if len(raw) < MAX_LINE_BYTES or raw.endswith(b"\n"):
            yield number, raw, len(raw)
        else:
            yield number, None, _skip_rest(readline, number, len(raw))
        number += 1
        raw = readline(MAX_LINE_BYTES)


def _skip_rest(readline: Callable[[int], bytes], number: int, size: int) -> int:
    """Read past the rest of line ``number`` (``size`` bytes read so far); return its whole size."""
    while True:
        piece = readline(MAX_LINE_BYTES)
        size += len(piece)
        if not piece or piece.endswith(b"\n"):
            return size
        if size > MAX_SKIP_BYTES:
            raise ApplicationFileError(
                f"line {number} goes on for more than {MAX_SKIP_BYTES:,} bytes without a line break: "
                "this is not an NDJSON file of applications"
            )
