"""The exception hierarchy of Tianwang, rooted in :class:`TianwangError`.

Library code raises these; only ``api/`` turns them into HTTP errors. No message
here ever carries a raw identity number, phone, bank account or name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ApplicationConflictError",
    "ApplicationFileError",
    "ApplicationNotFoundError",
    "ApplicationValidationError",
    "ConfigurationError",
    "DataSetMissingError",
    "DecisionNotFoundError",
    "FieldError",
    "IngestAbortedError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "StateConflictError",
    "StoreError",
    "StoreUnavailableError",
    "StreamError",
    "TianwangError",
    "shown_id",
]


class TianwangError(Exception):
    """Root of every error Tianwang raises on purpose."""


class ConfigurationError(TianwangError):
    """Settings or configuration files are invalid or unsafe."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field of an application: a dotted path and a reason without the value."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ApplicationValidationError(TianwangError, ValueError):
    """An application failed validation; :attr:`errors` names every bad field.

    The message lists the fields and reasons but never the offending values, so it
    is safe to log even when the value was an identity number or a phone. Fields are
    named by their schema path; validation names an unknown key of the input
    ``(unknown field)`` (:func:`tianwang.schema_paths.schema_path`), never echoes it.
    """

    def __init__(self, errors: list[FieldError], application_id: str | None = None) -> None:
        self.errors = list(errors)
        self.application_id = application_id
        who = f"application {application_id!r}" if application_id else "application"
        listed = "; ".join(str(e) for e in self.errors)
        super().__init__(f"{who} is invalid ({len(self.errors)} bad field(s)): {listed}")

    @property
    def fields(self) -> list[str]:
        """The dotted paths of the bad fields, in order."""
        return [e.field for e in self.errors]


class ApplicationConflictError(TianwangError):
    """An application id is already stored with different content."""

    def __init__(self, application_id: str, fields: list[str] | None = None) -> None:
        self.application_id = application_id
        #: the schema paths whose content differs (names only, never values), when known
        self.fields = list(fields or [])
        differ = f" ({', '.join(self.fields[:20])} differ)" if self.fields else ""
        super().__init__(
            f"application {application_id!r} is already stored with different content{differ}; "
            "applications are immutable, submit a new application_id"
        )


class ApplicationNotFoundError(TianwangError, LookupError):
    """No application with this id is stored (or visible at the point in time asked)."""

    def __init__(self, application_id: str) -> None:
        self.application_id = application_id
        super().__init__(f"application {application_id!r} is not in the store")


class StoreError(TianwangError):
    """A graph store operation failed."""


class StoreUnavailableError(StoreError):
    """The graph store cannot be reached (for example Neo4j is down)."""


class ApplicationFileError(TianwangError):
    """A file of applications cannot be read as NDJSON at all (not one bad line: the file)."""


class IngestAbortedError(TianwangError):
    """An ingest stopped on an error; the message says what was committed and how to resume."""


class DataSetMissingError(TianwangError, FileNotFoundError):
    """A public data set file is not where the settings say it is."""


_LONG_DIGITS = re.compile(r"\d{11,}[Xx]?")


def shown_id(ident: str) -> str:
    """An id as a caller sent it, fit for a message: a run of 11 or more digits in it (a phone, an identity
    number or an account sent where an id belongs) keeps its first 3 and last 4 characters only.

    >>> shown_id("APP-00001296"), shown_id("13800138000"), shown_id("x-110105194912310021")
    ('APP-00001296', '138****8000', 'x-110***********0021')
    """
    return _LONG_DIGITS.sub(lambda m: m.group()[:3] + "*" * (len(m.group()) - 7) + m.group()[-4:], ident)


class NotFoundError(TianwangError, LookupError):
    """A record asked for by id (a case, a ring, a job, a proposal ...) does not exist.

    ``kind`` names the kind of record and ``ident`` its id; the message shows the id through
    :func:`shown_id`, so a personal value sent as an id is not repeated.
    """

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"no {kind} {shown_id(ident)!r}")


class DecisionNotFoundError(NotFoundError):
    """No decision is recorded for this application id (or decision id)."""

    def __init__(self, application_id: str) -> None:
        self.application_id = application_id
        super().__init__("decision", application_id)
        self.args = (f"no decision recorded for application {shown_id(application_id)!r}",)

    def __str__(self) -> str:
        return str(self.args[0])


class StateConflictError(TianwangError):
    """An operation does not fit the record's state (closing a closed case, approving one's own proposal ...).

    ``code`` is a stable machine-readable name of the conflict.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class PermissionDeniedError(TianwangError):
    """The caller is known but may not do this."""


class InvalidRequestError(TianwangError, ValueError):
    """A request's parameter is invalid; ``field`` names it (the value is never echoed)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class PayloadTooLargeError(TianwangError):
    """A request body is over its size limit (``limit`` bytes)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the request body is over {limit} bytes")


class StreamError(TianwangError):
    """The event stream (Kafka) failed: a message could not be delivered, or the client stopped for good."""
