"""Identifiers of operational records: a short prefix naming the kind, then a time-ordered part.

``dec_`` decisions, ``case_`` cases, ``vrd_`` verdicts, ``out_`` outcomes, ``evt_`` webhook
events, ``job_`` jobs, ``usr_`` users, ``key_`` API keys. The first twelve hex digits are
the creation time in milliseconds, so ids sort by creation; the rest is random.

Examples
--------
>>> a, b = new_id("dec"), new_id("dec")
>>> a.startswith("dec_") and len(a) == 4 + 24 and a < b or a[:16] == b[:16]
True
"""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id"]


def new_id(prefix: str) -> str:
    """A new id ``<prefix>_<12 hex of ms time><12 random hex>``."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"
