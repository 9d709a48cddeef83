"""Logging set-up for the command line: one line per record, structured fields appended.

Library code logs a short message and puts the details in ``extra`` (never a raw
identity number, phone, account or name). :class:`FieldsFormatter` appends those
fields as ``key=value`` so that a person reading the log sees them.

Examples
--------
>>> import logging
>>> record = logging.makeLogRecord({"msg": "detector timed out", "levelname": "WARNING", "name": "x",
...                                 "detector": "rules", "budget_ms": 50})
>>> FieldsFormatter("%(levelname)s %(message)s").format(record)
'WARNING detector timed out detector=rules budget_ms=50'
"""

from __future__ import annotations

import logging

__all__ = ["FieldsFormatter", "configure_logging"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class FieldsFormatter(logging.Formatter):
    """A formatter that appends the record's ``extra`` fields as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{key}={value}" for key, value in vars(record).items() if key not in _STANDARD]
        return " ".join([line, *fields]) if fields else line


def configure_logging(level: str) -> None:
    """Send log records at ``level`` and above to standard error, with their fields."""
    handler = logging.StreamHandler()
    handler.setFormatter(FieldsFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
