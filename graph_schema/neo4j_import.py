"""A new Neo4j database from mapped applications, through ``neo4j-admin database import full``.

The bulk importer writes a database's store files directly from CSV, an order of
magnitude faster than transactions, but only into a new (empty) database and without
running Cypher: no ``MERGE``, no constraints. :class:`ImportCsvWriter` therefore does
what the online store's write transaction does (:mod:`graph_schema.neo4j_writes`), on
the same :class:`~graph_schema.mapping.ApplicationRow` records:

- an application id seen before with the same content is unchanged, with another a
  conflict (applications are immutable);
- a node (a shared phone, employer, dealer) is written once, with the properties of
  its first occurrence, as ``MERGE ... ON CREATE SET`` leaves them;
- every relationship of a written application is written, with ``at`` its time;
- the Application node carries its properties and the redacted ``record``;
- the :data:`~graph_schema.migrations.META_LABEL` node binds the database to the
  secret's fingerprint, as the first online write does.

The CSV files hold only what the graph holds: keyed hashes, masked values, the
redacted record; never a raw identity number, phone or account. Constraints and
indexes are not created here: the importer cannot, so the migrations are applied when
the database is first opened by :class:`~graph_schema.neo4j_store.Neo4jGraphStore`
(and recorded then, as for any new database).

:func:`run_neo4j_import` runs the importer (``scripts/neo4j-import.sh``: the
``org.neo4j:neo4j-import-tool`` jars of the dev server's version, Java 17) into a
Neo4j home, where ``scripts/neo4j-dev.sh`` (``TIANWANG_NEO4J_HOME``) serves it.
"""

from __future__ import annotations

import csv
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from graph_schema.mapping import ApplicationRow
from graph_schema.migrations import META_LABEL
from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, label_from_code, rel_type_from_code
from graph_schema.values import BulkUpsertResult
from tianwang.errors import StoreError
from tianwang.privacy import PersonalDataKeyer

__all__ = ["IMPORT_SCRIPT", "ImportCsvWriter", "ImportFiles", "database_folder", "run_neo4j_import"]

#: The script that runs neo4j-admin's importer (fetching its jars once).
IMPORT_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "neo4j-import.sh"

_APPLICATION_CODE = NODE_TYPES[Label.APPLICATION].code
_RECORD = "record"
#: CSV type of each Python type a property may have (JSON scalars).
_CSV_TYPES: dict[type, str] = {str: "", bool: ":boolean", int: ":long", float: ":double"}


@dataclass(frozen=True, slots=True)
class ImportFiles:
    """The CSV files of one import: ``(label, header, data)`` per node label, ``(type, file)`` per relationship type."""

    directory: Path
    nodes: tuple[tuple[str, Path, Path], ...]
    relationships: tuple[tuple[str, Path], ...]
    multiline: bool

    def arguments(self, database: str) -> list[str]:
        """The importer's arguments (``neo4j-admin database import full ...``) for these files."""
        args = [database]
        args += [f"--nodes={label}={header},{data}" for label, header, data in self.nodes]
        args += [f"--relationships={rel_type}={path}" for rel_type, path in self.relationships]
        args += ["--bad-tolerance=0", f"--report-file={self.directory / 'import.report'}"]
        if self.multiline:
            args.append("--multiline-fields=true")
        return args


class _NodeFile:
    """The CSV of one label: data rows as they come, the header (columns and their types) at the end.

    A property first seen late becomes a new last column; earlier rows are shorter, which the
    importer reads as the property not being set.
    """

    def __init__(self, directory: Path, label: str, key: str) -> None:
        self.label = label
        self.key = key
        self.data_path = directory / f"nodes-{label}.csv"
        self.header_path = directory / f"nodes-{label}.header.csv"
        self._file: IO[str] = open(self.data_path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self.columns: dict[str, str] = {}  # property -> CSV type suffix
        self._position: dict[str, int] = {}  # property -> its field in a row
        self.multiline = False
        self.rows = 0

    def write(self, key: str, properties: dict[str, Any]) -> None:
        fields = [_quoted(key)] + [""] * len(self.columns)
        for name, value in properties.items():
            kind = _CSV_TYPES.get(type(value))
            if kind is None:
                raise StoreError(f"{self.label}.{name}: a {type(value).__name__} cannot go into a CSV column")
            known = self.columns.get(name)
            if known is None:
                self.columns[name] = kind
                self._position[name] = len(self.columns)
                fields.append("")
            elif known != kind:
                raise StoreError(
                    f"{self.label}.{name}: values of two types ({known or 'string'} and {kind or 'string'})"
                )
            if kind == "":
                field = _quoted(value)
            elif kind == ":boolean":
                field = "true" if value else "false"
            else:
                field = repr(value)
            fields[self._position[name]] = field
        line = ",".join(fields).rstrip(",")
        if "\n" in line or "\r" in line:
            self.multiline = True
        self._file.write(line + "\n")
        self.rows += 1

    def close(self) -> None:
        self._file.close()
        with open(self.header_path, "w", newline="", encoding="utf-8") as header:
            columns = [f"{self.key}:ID({self.label})"] + [name + kind for name, kind in self.columns.items()]
            csv.writer(header, lineterminator="\n").writerow(columns)


class ImportCsvWriter:
    """Writes the importer's CSV files from batches of application rows, as the online store would write them.

    It takes the place of a :class:`~graph_schema.store.GraphStore` for
    :func:`tianwang.ingest.ingest_file` (``keyer`` and :meth:`write_rows`); :meth:`close`
    finishes the files.

    Parameters
    ----------
    directory : Path
        A new or empty folder for the CSV files.
    keyer : PersonalDataKeyer
        The secret the rows were keyed under; its fingerprint goes into the database.
    """

    def __init__(self, directory: Path, keyer: PersonalDataKeyer) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise StoreError(f"the CSV folder {directory} is not empty")
        self.directory = directory
        self.keyer = keyer
        self._applications: dict[str, str] = {}  # application id -> content hash
        self._seen: dict[int, set[str]] = {
            t.code: set() for t in NODE_TYPES.values() if t.label is not Label.APPLICATION
        }
        self._nodes: dict[int, _NodeFile] = {}
        self._relationships: dict[int, IO[str]] = {}
        self._multiline_relationships = False
        self._closed: ImportFiles | None = None

    def _node_file(self, code: int) -> _NodeFile:
        node_file = self._nodes.get(code)
        if node_file is None:
            node_type = NODE_TYPES[label_from_code(code)]
            node_file = self._nodes[code] = _NodeFile(self.directory, node_type.label, node_type.key)
        return node_file

    def _relationship_file(self, code: int) -> IO[str]:
        handle = self._relationships.get(code)
        if handle is None:
            spec = RELATIONSHIP_TYPES[rel_type_from_code(code)]
            handle = open(self.directory / f"rels-{spec.type}.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
            handle.write(f":START_ID({spec.source}),:END_ID({spec.target}),at:double\n")
            self._relationships[code] = handle
        return handle

    def write_rows(self, rows: list[ApplicationRow]) -> BulkUpsertResult:
        """Add a batch: new applications with their new nodes and all their relationships."""
        if self._closed is not None:
            raise StoreError("the import files are closed")
        result = BulkUpsertResult()
        applications = self._node_file(_APPLICATION_CODE)
        for row in rows:
            stored = self._applications.get(row.application_id)
            if stored is not None:
                if stored == row.content_hash:
                    result.unchanged += 1
                else:
                    result.conflicts.append(row.application_id)
                continue
            self._applications[row.application_id] = row.content_hash
            result.created += 1
            properties = orjson.loads(row.properties)
            properties[_RECORD] = row.record_json
            applications.write(row.application_id, properties)
            for code, key, props in row.nodes:
                seen = self._seen[code]
                if key not in seen:
                    seen.add(key)
                    self._node_file(code).write(key, orjson.loads(props))
            at = "," + repr(row.submitted_ts) + "\n"
            for _, source_key, type_code, _, target_key in row.relationships:
                line = _quoted(source_key) + "," + _quoted(target_key)
                if "\n" in line or "\r" in line:
                    self._multiline_relationships = True
                self._relationship_file(type_code).write(line + at)
        return result

    @property
    def applications(self) -> int:
        """Applications written so far."""
        return len(self._applications)

    def close(self) -> ImportFiles:
        """Finish the files (headers, the fingerprint node) and say what they are; idempotent."""
        if self._closed is not None:
            return self._closed
        meta = _NodeFile(self.directory, META_LABEL, "key")
        meta.write("keyer_fingerprint", {"value": self.keyer.fingerprint(), "claims": 1})
        node_files = [*self._nodes.values(), meta]
        for node_file in node_files:
            node_file.close()
        relationships = []
        for code, handle in self._relationships.items():
            handle.close()
            relationships.append((str(rel_type_from_code(code)), Path(handle.name)))
        self._closed = ImportFiles(
            directory=self.directory,
            nodes=tuple((f.label, f.header_path, f.data_path) for f in node_files),
            relationships=tuple(relationships),
            multiline=self._multiline_relationships or any(f.multiline for f in node_files),
        )
        return self._closed

    def abandon(self) -> None:
        """Close every file without finishing them (the caller deletes the folder)."""
        for node_file in self._nodes.values():
            node_file._file.close()
        for handle in self._relationships.values():
            handle.close()


def _quoted(text: str) -> str:
    """A CSV string field: quoted, inner quotes doubled (RFC 4180, as the importer reads it by default)."""
    return '"' + text.replace('"', '""') + '"'


def database_folder(home: Path, database: str = "neo4j") -> Path:
    """Where a Neo4j home keeps the store files of ``database`` (``data/databases/<database>``)."""
    return home / "data" / "databases" / database


def run_neo4j_import(files: ImportFiles, home: Path, *, database: str = "neo4j",
                     env: dict[str, str] | None = None) -> str:
    """Run ``neo4j-admin database import full`` on ``files`` into a new database of the Neo4j home ``home``.

    Returns the importer's output. Raises :class:`StoreError` when the database exists
    already (the importer only fills a new one) or the importer fails (its last lines
    in the message).
    """
    target = database_folder(home, database)
    if target.exists() and any(p.name != "database_lock" for p in target.iterdir()):
        raise StoreError(f"{target} holds a database already; bulk import only creates a new one")
    done = subprocess.run(
        ["bash", str(IMPORT_SCRIPT), str(home), *files.arguments(database)],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0 or "IMPORT DONE" not in output:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise StoreError(f"neo4j-admin database import failed (exit {done.returncode}):\n{tail}")
    return output
