"""Example bodies for the OpenAPI document (a synthetic application, no real person)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

__all__ = ["APPLICATION_EXAMPLE"]

APPLICATION_EXAMPLE: dict[str, Any] = orjson.loads((Path(__file__).parent / "application.json").read_bytes())
