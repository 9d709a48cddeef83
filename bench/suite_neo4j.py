"""Neo4j for the benchmark suite at any size: a bulk-imported home per size, served by a server of the suite's own.

Writing 1M applications into Neo4j one transaction at a time takes the best part of an
hour on a two-core machine; the suite instead builds a Neo4j home once per deployment with
the bulk backfill (:func:`tianwang.bulk_import.bulk_import_file`, ``tianwang ingest
--neo4j-import``) from the same history file the embedded deployment ingested, writes the
deployment's rings into it (the same rings: the same graph), and keeps it in the
deployment's cache. Each run copies the home (scoring writes into it), serves the copy with
``scripts/neo4j-dev.sh`` (a state folder of its own, page cache ``--neo4j-pagecache``) and
deletes it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench import http as http_bench

__all__ = ["neo4j_home", "served_neo4j"]

READY = ".tianwang-suite-ready"


def _server(state: Path, command: str, home: Path, pagecache_mb: int) -> str:
    from tianwang.bulk_import import DEV_SERVER_SCRIPT

    env = {**os.environ, "TIANWANG_NEO4J_STATE": str(state), "TIANWANG_NEO4J_HOME": str(home),
           "TIANWANG_NEO4J_PAGECACHE": str(pagecache_mb * 1024 * 1024)}
    env.pop("TIANWANG_NEO4J_PORT", None)
    done = subprocess.run(["bash", str(DEV_SERVER_SCRIPT), command], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/neo4j-dev.sh {command} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1].split("=", 1)[-1] if command == "start" else ""


def neo4j_home(dep: Any, pagecache_mb: int) -> tuple[Path, dict[str, float]]:
    """The cached Neo4j home of the deployment ``dep`` (built the first time); its build times (``now``: 1.0 when
    built by this call)."""
    from graph_schema.neo4j_store import Neo4jGraphStore
    from tianwang.bulk_import import bulk_import_file
    from tianwang.privacy import PersonalDataKeyer
    from tianwang.runtime import open_graph

    home = dep.cache / "neo4j-home"
    if (home / READY).exists():
        return home, {**orjson.loads((home / READY).read_bytes()), "now": 0.0}
    shutil.rmtree(home, ignore_errors=True)
    building = dep.cache / "neo4j-home.building"
    shutil.rmtree(building, ignore_errors=True)
    history = dep.folder / "neo4j-history.ndjson"
    lines = (dep.cache / "data" / "applications.ndjson").read_bytes().splitlines()[:dep.size]
    history.write_bytes(b"\n".join(lines) + b"\n")
    keyer = PersonalDataKeyer(http_bench.SECRET.encode())
    started = time.perf_counter()
    report = bulk_import_file(history, building, keyer)
    history.unlink()
    imported_s = time.perf_counter() - started
    with open_graph(dep.settings(), "embedded") as embedded:  # the deployment's rings, detected on the same graph
        rings = embedded.rings()
    state = dep.folder / "neo4j-build-state"
    uri = _server(state, "start", building, pagecache_mb)
    try:
        graph = Neo4jGraphStore(uri, keyer)
        try:
            graph.write_rings(rings, detected_at=time.time())
        finally:
            graph.close()
    finally:
        _server(state, "stop", building, pagecache_mb)
    built = {"bulk_import_s": imported_s, "csv_s": report.files_seconds, "import_s": report.import_seconds,
             "schema_s": report.schema_seconds, "applications": float(report.ingest.created),
             "rings": float(len(rings)), "build_s": time.perf_counter() - started}
    (building / READY).write_bytes(orjson.dumps(built))
    building.rename(home)
    return home, {**built, "now": 1.0}


@contextlib.contextmanager
def served_neo4j(dep: Any, pagecache_mb: int) -> Iterator[tuple[str, dict[str, float]]]:
    """A server on a working copy of the deployment's Neo4j home: its Bolt URI, and the setup's times.

    ``TIANWANG_NEO4J_URI`` is set to it meanwhile (the service's processes read it)."""
    home, built = neo4j_home(dep, pagecache_mb)
    started = time.perf_counter()
    work = dep.folder / "neo4j-home"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(home, work, symlinks=True)
    state = dep.folder / "neo4j-state"
    uri = _server(state, "start", work, pagecache_mb)
    before = os.environ.get("TIANWANG_NEO4J_URI")
    os.environ["TIANWANG_NEO4J_URI"] = uri
    try:
        yield uri, {**{f"built_{k}": v for k, v in built.items()}, "copy_and_start_s": time.perf_counter() - started}
    finally:
        if before is None:
            os.environ.pop("TIANWANG_NEO4J_URI", None)
        else:
            os.environ["TIANWANG_NEO4J_URI"] = before
        _server(state, "stop", work, pagecache_mb)
        shutil.rmtree(work, ignore_errors=True)
