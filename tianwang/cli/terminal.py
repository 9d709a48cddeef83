"""Text from outside (file names, ids, messages that quote them) made safe to print with rich."""

from __future__ import annotations

import re

from rich.markup import escape

__all__ = ["safe"]

# C0 and C1 controls (escape sequences, line breaks, carriage returns) and the bidi
# overrides and isolates that reorder what a terminal shows.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """``text`` with control characters shown as ``\\xNN`` / ``\\uNNNN`` and rich markup escaped."""
    shown = _CONTROL.sub(lambda m: ascii(m.group())[1:-1], str(text))
    return escape(shown)
