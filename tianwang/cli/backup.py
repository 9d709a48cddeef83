"""``tianwang backup`` and ``tianwang restore``: the embedded store's files, copied while it serves.

A backup is a folder holding a consistent copy of each SQLite file of an embedded
deployment, taken with SQLite's online backup API while the service keeps writing:

* ``graph.db``: the graph store (applications, entities, rings);
* ``scoring.db``: the watchlist, the document index and the command line's decision log;
* ``operations.db``: the operational database (decisions, cases, verdicts, audit log,
  users, keys, configuration versions, the webhook outbox, jobs), when it is SQLite
  beside the store (with ``TIANWANG_DATABASE_URL`` on PostgreSQL, back that up with
  ``pg_dump``: the backup says it left it out);

and ``manifest.json``: when, which files with their size and sha256, the graph's node
and relationship counts and the keyer's fingerprint (a backup restores only under the
secret it was made with: personal keys are HMACs of that secret).

Each file is consistent in itself; the three are copied one after another, the graph
first, so the operational database may hold a decision on an application taken after
the graph's copy: scoring that application again finds its decision (idempotent on the
application id). Model bundles are files already; copy ``bundles/`` as it is.

``tianwang restore BACKUP`` checks every file's sha256 against the manifest, writes each
into place under a temporary name, removes the old write-ahead log and renames it over
the old file. Stop the service first: a running one keeps its open files.

The Neo4j store is backed up with Neo4j's own tools (``neo4j-admin database dump`` on a
stopped database in the community edition); see ``docs/operations.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tianwang.cli.common import DbOption, console, fail_cleanly, out, settings_for
from tianwang.errors import ConfigurationError, StoreError
from tianwang.runtime import open_graph
from tianwang.scoring.persistence import scoring_db_path

__all__ = ["backup_store", "register", "restore_store"]

MANIFEST = "manifest.json"
#: pages copied per step of the online backup (the writer gets the database between steps)
PAGES_PER_STEP = 4096


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _online_copy(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` to ``target`` with the online backup API (readers and writers
    go on; a write during the copy restarts the remaining steps, as SQLite does)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=PAGES_PER_STEP, sleep=0.005)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()


def _files(db_path: Path, operations_url: str) -> tuple[dict[str, Path], list[str]]:
    files = {"graph.db": db_path, "scoring.db": scoring_db_path(db_path)}
    left_out = []
    if operations_url.startswith("sqlite:///"):
        files["operations.db"] = Path(operations_url.removeprefix("sqlite:///"))
    else:
        left_out.append("operations database (not SQLite: back it up with its own tools, e.g. pg_dump)")
    return files, left_out


def backup_store(db_path: Path, target: Path, *, operations_url: str) -> dict[str, Any]:
    """Back up the embedded deployment whose graph store is ``db_path`` into the new folder ``target``."""
    if not db_path.exists():
        raise ConfigurationError(f"no embedded store at {db_path}")
    if target.exists() and any(target.iterdir()):
        raise ConfigurationError(f"{target} is not empty: back up into a new folder")
    started = time.perf_counter()
    files, left_out = _files(db_path, operations_url)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    copied: dict[str, dict[str, Any]] = {}
    for name, source in files.items():
        if not source.exists():
            left_out.append(f"{name} (not there)")
            continue
        _online_copy(source, partial / name)
        copied[name] = {}
    with open_graph(settings_for(partial / "graph.db"), "embedded") as graph:
        counts = graph.counts()
        fingerprint = graph.keyer.fingerprint()
    for name in copied:  # opening the copy may leave a write-ahead log: fold it back, then sum the final file
        _checkpoint(partial / name)
        copied[name] = {"bytes": (partial / name).stat().st_size, "sha256": _sha256(partial / name)}
    manifest = {
        "format": 1, "taken_at": datetime.now(UTC).isoformat(), "source": str(db_path), "files": copied,
        "left_out": left_out, "nodes": counts.nodes, "relationships": counts.relationships,
        "keyer_fingerprint": fingerprint,
        "seconds": round(time.perf_counter() - started, 3),
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    if target.exists():
        target.rmdir()
    partial.rename(target)
    return manifest


def _checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def restore_store(backup: Path, db_path: Path, *, operations_url: str, force: bool = False) -> dict[str, Any]:
    """Put the backup in ``backup`` in place of the embedded deployment at ``db_path``."""
    try:
        manifest: dict[str, Any] = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{backup} holds no readable {MANIFEST}: not a backup") from exc
    for name, facts in manifest["files"].items():
        if not (backup / name).exists() or _sha256(backup / name) != facts["sha256"]:
            raise StoreError(f"{backup / name} is missing or differs from the manifest: the backup is damaged")
    files, _ = _files(db_path, operations_url)
    present = [str(files[name]) for name in manifest["files"] if name in files and files[name].exists()]
    if present and not force:
        raise ConfigurationError(f"{', '.join(present)} exist: stop the service and pass --force to replace them")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for name in manifest["files"]:
        if name not in files:
            continue  # operations.db backed up from SQLite, restored where the settings point elsewhere
        target = files[name]
        staged = target.with_name(target.name + ".restoring")
        shutil.copyfile(backup / name, staged)
        with staged.open("rb") as handle:
            os.fsync(handle.fileno())
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        staged.replace(target)
    return manifest


def register(app: typer.Typer) -> None:
    """Add ``backup`` and ``restore`` to ``app``."""

    @app.command()
    def backup(
        target: Annotated[Path, typer.Argument(help="A new (or empty) folder to write the backup into.")],
        db: DbOption = None,
    ) -> None:
        """Back up the embedded store while it serves: graph, scoring records and the operational database
        (SQLite's online backup), with a manifest of sha256 sums and graph counts."""
        with fail_cleanly():
            settings = settings_for(db)
            manifest = backup_store(settings.db_path, target, operations_url=settings.operations_url)
        files = ", ".join(f"{n} ({f['bytes'] / 1e6:.1f} MB)" for n, f in manifest["files"].items())
        out.print(f"backup of {manifest['source']} in {target} after {manifest['seconds']:.1f} s: {files}; "
                  f"{sum(manifest['nodes'].values()):,} nodes, {sum(manifest['relationships'].values()):,} "
                  "relationships")
        for what in manifest["left_out"]:
            console.print(f"left out: {what}")

    @app.command()
    def restore(
        source: Annotated[Path, typer.Argument(help="A folder written by `tianwang backup`.")],
        db: DbOption = None,
        force: Annotated[bool, typer.Option(help="Replace the files there now (stop the service first).")] = False,
    ) -> None:
        """Restore a backup in place of the embedded store (sha256 sums checked first); stop the service
        before, start it after."""
        with fail_cleanly():
            settings = settings_for(db)
            manifest = restore_store(source, settings.db_path, operations_url=settings.operations_url,
                                     force=force)
            with open_graph(settings, "embedded") as graph:
                counts = graph.counts()
        same = counts.nodes == manifest["nodes"] and counts.relationships == manifest["relationships"]
        out.print(f"restored {', '.join(manifest['files'])} from {source} (taken {manifest['taken_at']}) into "
                  f"{settings.db_path.parent}; graph counts {'as in the backup' if same else 'DIFFER from the backup'}")
        if not same:
            raise typer.Exit(1)
