"""The operational database: decisions, cases, verdicts, audit log, users, keys, configuration versions,
webhook outbox and jobs, through SQLAlchemy 2 with Alembic migrations (SQLite by default,
PostgreSQL in production). See :mod:`tianwang.opsdb.models` for the tables.
"""

from tianwang.opsdb.db import OpsDB
from tianwang.opsdb.pagination import Page, decode_cursor, encode_cursor, paginate

__all__ = ["OpsDB", "Page", "decode_cursor", "encode_cursor", "paginate"]
