"""Logging set-up: one line per record, structured fields appended (command line) or JSON (service).

Library code logs a short message and puts the details in ``extra`` (never a raw
identity number, phone, account or name). :class:`FieldsFormatter` appends those
fields as ``key=value`` so that a person reading the log sees them;
:class:`JsonFormatter` writes each record as one JSON object, with the id of the HTTP
request being served (:data:`REQUEST_ID`, set by the service's middleware) when there
is one. :data:`SERVICE_LOG_CONFIG` is the service's configuration (for uvicorn).

Examples
--------
>>> import logging
>>> record = logging.makeLogRecord({"msg": "detector timed out", "levelname": "WARNING", "name": "x",
...                                 "detector": "rules", "budget_ms": 50})
>>> FieldsFormatter("%(levelname)s %(message)s").format(record)
'WARNING detector timed out detector=rules budget_ms=50'
>>> record.created, record.msecs = 0.0, 0.0
>>> JsonFormatter().format(record)
'{"at":"1970-01-01T00:00:00.000Z","level":"WARNING","logger":"x","message":"detector timed out",\
"detector":"rules","budget_ms":50}'
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Any

import orjson

__all__ = ["REQUEST_ID", "SERVICE_LOG_CONFIG", "FieldsFormatter", "JsonFormatter", "configure_logging"]

#: the id of the HTTP request being served (set by the service's middleware for the request's duration)
REQUEST_ID: ContextVar[str | None] = ContextVar("tianwang_request_id", default=None)

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


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the request id and the ``extra`` fields.

    An exception is named by its type only (a message or a traceback's locals may carry anything).
    """

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        out: dict[str, Any] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id is not None:
            out["request_id"] = request_id
        out.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
        return orjson.dumps(out, default=str).decode()


#: ``logging.config.dictConfig`` of the service (``tianwang serve`` gives it to uvicorn): JSON lines on stderr
SERVICE_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "tianwang.logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {
        "tianwang": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
    },
}
