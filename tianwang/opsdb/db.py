"""The operational database: an engine, sessions and migrations.

:class:`OpsDB` opens a SQLAlchemy engine on a URL (SQLite by default, PostgreSQL in
production), brings the schema to the newest Alembic revision (:meth:`OpsDB.upgrade`)
and hands out sessions. SQLite files run in WAL mode with foreign keys on and wait
for another writer's lock instead of failing at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tianwang.errors import ConfigurationError, StoreUnavailableError
from tianwang.opsdb.prepared import PreparedStatement, driver_transaction

__all__ = ["MIGRATIONS", "OpsDB"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: the PostgreSQL advisory lock that serializes migrations (any constant of this database's choosing)
_MIGRATION_LOCK = 0x7469616E77616E67  # "tianwang"


def _json_dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (a whole number past 64 bits) the standard library writes
        return json.dumps(value)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class OpsDB:
    """The operational database at ``url``.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL: ``sqlite:///path/operations.db`` or
        ``postgresql+psycopg://user@host/db``.
    upgrade : bool
        Bring the schema to the newest revision when opening (default).

    Raises
    ------
    ConfigurationError
        For a URL SQLAlchemy cannot parse or a driver that is not installed.
    StoreUnavailableError
        When the database cannot be reached.
    """

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        try:
            parsed = make_url(url)
        except Exception:  # the URL may carry a password: never echo it
            raise ConfigurationError("TIANWANG_DATABASE_URL is not a valid SQLAlchemy URL") from None
        self.dialect = parsed.get_backend_name()
        # orjson writes the JSON columns (decision records, case events): stdlib json took as long
        # as the rest of a decision's insert
        kwargs: dict[str, Any] = {"future": True, "json_serializer": _json_dumps, "json_deserializer": orjson.loads}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        try:
            self.engine: Engine = create_engine(parsed, **kwargs)
        except ModuleNotFoundError as exc:
            raise ConfigurationError(f"the database driver {exc.name!r} is not installed") from None
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        #: where it is, without credentials (for logs and /readyz)
        self.display_url = parsed.render_as_string(hide_password=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._prepared: dict[Any, PreparedStatement] = {}
        if upgrade:
            self.upgrade()

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to ``revision``."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                self._lock_for_migrations(connection)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise StoreUnavailableError(f"operational database {self.display_url}: {type(cause).__name__}") from None

    def _lock_for_migrations(self, connection: Connection) -> None:
        """Hold off every other process's migrations until this transaction ends.

        ``tianwang serve --workers N`` opens the database in N processes at once: without
        the lock they all create the same tables, and all but one fail. The lock makes the
        others wait, then find the schema at its revision with nothing left to do.
        """
        if self.dialect == "sqlite":
            # the driver would run DDL outside a transaction: take the write lock first
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif self.dialect == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")

    def revision(self) -> str | None:
        """The schema's current Alembic revision (``None`` before the first migration)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def tables(self) -> list[str]:
        """The tables that exist."""
        return sorted(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on an error."""
        with self._sessions.begin() as session:
            yield session

    def prepare(self, statement: Any, columns: tuple[str, ...] = ()) -> PreparedStatement:
        """``statement`` compiled once for this database (:class:`~tianwang.opsdb.prepared.PreparedStatement`).

        For the few statements every decision runs; ``statement`` is a module constant,
        kept by identity with the ``columns`` an ``Insert``'s rows give (their keys: a row
        with other keys gets a statement of its own, so none is left out).
        """
        prepared = self._prepared.get((statement, columns))
        if prepared is None:
            prepared = self._prepared[(statement, columns)] = PreparedStatement(self.engine, statement, columns)
        return prepared

    @contextmanager
    def driver_transaction(self) -> Iterator[Any]:
        """A pooled driver connection in one transaction, for :meth:`prepare`'s statements."""
        with driver_transaction(self.engine) as connection:
            yield connection

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
