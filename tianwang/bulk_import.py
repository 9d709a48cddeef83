"""Bulk backfill: years of applications into a new Neo4j database at once (``tianwang ingest --neo4j-import``).

Three steps, each timed in the :class:`BulkImportReport`:

1. **files**: the NDJSON file is read, validated and mapped exactly as
   :func:`tianwang.ingest.ingest_file` does for the online path (the same worker
   processes, the same :func:`graph_schema.mapping.application_row`, bad lines reported
   by line number and field), and the rows go to the importer's CSV files
   (:class:`graph_schema.neo4j_import.ImportCsvWriter`: nodes deduplicated, first
   occurrence's properties kept, the secret's fingerprint node);
2. **import**: ``neo4j-admin database import full`` builds the store files of the
   database ``neo4j`` in a new Neo4j home (``scripts/neo4j-import.sh``);
3. **schema**: the home is started once (``scripts/neo4j-dev.sh`` with
   ``TIANWANG_NEO4J_HOME``) and opened with :class:`~graph_schema.neo4j_store.Neo4jGraphStore`,
   which applies and records the migrations (constraints and indexes, built over the
   imported data) and checks the fingerprint, as for any database it opens; then it is
   stopped cleanly, leaving the home ready to serve.

The CSV files are deleted once the import succeeded, unless kept on request; they hold
only what the graph holds (keyed hashes, masked values), never raw personal data.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from graph_schema.neo4j_import import ImportCsvWriter, database_folder, run_neo4j_import
from graph_schema.neo4j_store import Neo4jGraphStore
from tianwang.errors import IngestAbortedError, StoreError
from tianwang.ingest import IngestReport, OnError, ingest_file
from tianwang.privacy import PersonalDataKeyer

__all__ = ["DEV_SERVER_SCRIPT", "BulkImportReport", "apply_schema", "bulk_import_file"]

log = logging.getLogger(__name__)

#: The dev server's script; it serves a given Neo4j home with ``TIANWANG_NEO4J_HOME``.
DEV_SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "neo4j-dev.sh"
#: The one user database of a Neo4j Community home.
DATABASE = "neo4j"


@dataclass(slots=True)
class BulkImportReport:
    """What a bulk import did: the ingest's report (lines, new, unchanged, rejected) and the steps' times."""

    ingest: IngestReport
    home: Path
    imported: bool = False
    csv_kept: Path | None = None
    files_seconds: float = 0.0
    import_seconds: float = 0.0
    schema_seconds: float = 0.0
    applied_migrations: list[int] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.files_seconds + self.import_seconds + self.schema_seconds

    @property
    def per_second(self) -> float:
        """Applications in the new database per second of the whole import (all three steps)."""
        return self.ingest.created / self.seconds if self.seconds > 0 else 0.0


def bulk_import_file(
    path: str | Path,
    home: str | Path,
    keyer: PersonalDataKeyer,
    *,
    on_error: OnError = "skip",
    batch_size: int = 5000,
    workers: int | None = None,
    keep_csv: bool = False,
    csv_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> BulkImportReport:
    """Import every valid application of an NDJSON file into a new Neo4j database under ``home``.

    Parameters
    ----------
    path : str or Path
        One JSON application per line, as for :func:`tianwang.ingest.ingest_file`.
    home : str or Path
        A Neo4j home without a database ``neo4j`` yet (made if missing): the store files go
        to ``home/data/databases/neo4j`` and ``home/data/transactions/neo4j``.
    keyer : PersonalDataKeyer
        Keys personal data; the database is bound to its secret.
    on_error, batch_size, workers, progress, stop
        As for :func:`~tianwang.ingest.ingest_file`. After ``stop`` (SIGTERM) nothing is
        imported and the report is ``interrupted``; with ``on_error="stop"`` the
        applications before the bad line are imported, as online ingest writes them.
    keep_csv : bool
        Keep the importer's CSV files (in ``csv_dir``) after the import, or after a failed one.
    csv_dir : str or Path, optional
        A new or empty folder for the CSV files; by default ``home/import-csv``.

    Raises
    ------
    IngestAbortedError
        When the file cannot be read, the database exists already, or the importer or the
        schema step fails; nothing is left half-imported silently (the message says what).
    """
    home = Path(home).absolute()
    if database_folder(home, DATABASE).exists() and any(
        p.name != "database_lock" for p in database_folder(home, DATABASE).iterdir()
    ):
        raise IngestAbortedError(f"{database_folder(home, DATABASE)} holds a database already; "
                                 "bulk import only creates a new one (choose a new home)")
    csv_path = Path(csv_dir).absolute() if csv_dir is not None else home / "import-csv"
    report = BulkImportReport(ingest=IngestReport(path=str(path)), home=home)
    started = time.perf_counter()
    try:
        writer = ImportCsvWriter(csv_path, keyer)
    except StoreError as exc:
        raise IngestAbortedError(str(exc)) from exc
    complete = False  # the files hold the whole file's applications (kept on request, even if the import fails)
    try:
        try:
            report.ingest = ingest_file(path, writer, on_error=on_error, batch_size=batch_size, progress=progress,
                                        workers=workers, stop=stop)
        except IngestAbortedError as exc:
            writer.abandon()
            cause = exc.__cause__ or exc
            raise IngestAbortedError(f"bulk import aborted, nothing imported: {cause}") from exc
        files = writer.close()
        report.files_seconds = time.perf_counter() - started
        if report.ingest.interrupted:
            return report
        complete = True
        log.info("import files written", extra={"applications": writer.applications, "folder": str(csv_path)})

        started = time.perf_counter()
        try:
            run_neo4j_import(files, home, database=DATABASE)
        except StoreError as exc:
            raise IngestAbortedError(f"bulk import failed, the database was not made: {exc}") from exc
        report.import_seconds = time.perf_counter() - started

        started = time.perf_counter()
        try:
            report.applied_migrations = apply_schema(home, keyer)
        except StoreError as exc:
            raise IngestAbortedError(
                f"the data was imported into {home} but its constraints and indexes could not be made: {exc}; "
                "opening the database with the Neo4j store applies them"
            ) from exc
        report.schema_seconds = time.perf_counter() - started
        report.imported = True
    finally:
        if keep_csv and complete:
            report.csv_kept = csv_path
        else:
            shutil.rmtree(csv_path, ignore_errors=True)
    return report


def apply_schema(home: Path, keyer: PersonalDataKeyer) -> list[int]:
    """Start the Neo4j home once, open it with the Neo4j store (migrations applied and recorded), stop it cleanly.

    Returns the migrations applied. Uses ``scripts/neo4j-dev.sh`` with a state folder of
    its own; the home is kept.
    """
    with tempfile.TemporaryDirectory(prefix="tianwang-bulk-schema-") as state:
        env = {**os.environ, "TIANWANG_NEO4J_STATE": state, "TIANWANG_NEO4J_HOME": str(home)}
        env.pop("TIANWANG_NEO4J_PORT", None)
        started = _dev_server(env, "start")
        try:
            uri = started.strip().splitlines()[-1].split("=", 1)[1]
            store = Neo4jGraphStore(uri, keyer, database=DATABASE)
            try:
                return list(store.applied_migrations)
            finally:
                store.close()
        finally:
            _dev_server(env, "stop")


def _dev_server(env: dict[str, str], command: str) -> str:
    done = subprocess.run(["bash", str(DEV_SERVER_SCRIPT), command], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise StoreError(f"scripts/neo4j-dev.sh {command} failed (exit {done.returncode}):\n{tail}")
    return done.stdout
