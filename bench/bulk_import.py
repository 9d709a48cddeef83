"""Bulk backfill benchmark: online Neo4j ingest and bulk import of the same file, side by side.

    python bench/bulk_import.py [--applications 100000] [--seed 11] [--skip-online] [--workers N]

Generates the applications, then:

1. **online**: starts a Neo4j of its own (``scripts/neo4j-dev.sh``, a state folder in a
   temporary folder, ``TIANWANG_NEO4J_HEAP``, default 1g) and ingests the file through
   :class:`~graph_schema.neo4j_store.Neo4jGraphStore` (``tianwang ingest --store neo4j``);
   the server start is not timed;
2. **bulk**: :func:`tianwang.bulk_import.bulk_import_file` (``tianwang ingest --neo4j-import``)
   into a new Neo4j home: CSV files, ``neo4j-admin database import full``, then the start
   that applies the migrations; every step is timed, the whole is the figure;

and prints applications/s of each and their ratio, with the node and relationship counts
of both (the bulk home is started once more to count). Each line gives the load average:
on a shared machine the rates depend on what else runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from fixtures.generator import generate
from graph_schema.neo4j_store import Neo4jGraphStore
from tianwang.bulk_import import DEV_SERVER_SCRIPT, bulk_import_file
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer

SECRET = b"tianwang-bench-secret-0123456789abcdef"


def server(state: Path, command: str, home: Path | None = None) -> str:
    env = {**os.environ, "TIANWANG_NEO4J_STATE": str(state)}
    env.pop("TIANWANG_NEO4J_PORT", None)
    env.pop("TIANWANG_NEO4J_HOME", None)
    if home is not None:
        env["TIANWANG_NEO4J_HOME"] = str(home)
    done = subprocess.run(["bash", str(DEV_SERVER_SCRIPT), command], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip().split("=", 1)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=None, help="validating processes (default: ingest_file's)")
    parser.add_argument("--skip-online", action="store_true", help="time the bulk import only")
    args = parser.parse_args()
    keyer = PersonalDataKeyer(SECRET)
    with tempfile.TemporaryDirectory(prefix="tianwang-bench-bulk-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        generate(args.applications, args.seed, folder / "data")
        path = folder / "data" / "applications.ndjson"
        print(f"generated {args.applications:,} applications ({path.stat().st_size / 2**20:,.0f} MiB) in "
              f"{time.perf_counter() - started:.1f} s ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")

        online_rate = None
        online_counts = None
        if not args.skip_online:
            state = folder / "online-state"
            uri = server(state, "start")
            try:
                with Neo4jGraphStore(uri, keyer) as store:
                    load = os.getloadavg()[0]
                    report = ingest_file(path, store, workers=args.workers)
                    online_counts = store.counts()
            finally:
                server(state, "stop")
            online_rate = report.per_second
            print(f"  online: {report.created:,} applications in {report.seconds:.1f} s = {online_rate:,.0f} "
                  f"applications/s (load {load:.1f} -> {os.getloadavg()[0]:.1f}); "
                  f"{online_counts.total_nodes:,} nodes, {online_counts.total_relationships:,} relationships")

        load = os.getloadavg()[0]
        bulk = bulk_import_file(path, folder / "home", keyer, workers=args.workers)
        print(f"    bulk: {bulk.ingest.created:,} applications in {bulk.seconds:.1f} s = {bulk.per_second:,.0f} "
              f"applications/s (CSV files {bulk.files_seconds:.1f} s, neo4j-admin import {bulk.import_seconds:.1f} s, "
              f"start + migrations {bulk.schema_seconds:.1f} s; load {load:.1f} -> {os.getloadavg()[0]:.1f})")
        state = folder / "bulk-state"
        uri = server(state, "start", home=folder / "home")
        try:
            with Neo4jGraphStore(uri, keyer) as store:
                bulk_counts = store.counts()
        finally:
            server(state, "stop")
        print(f"          {bulk_counts.total_nodes:,} nodes, {bulk_counts.total_relationships:,} relationships"
              + ("" if online_counts is None else
                 f"; counts by label and type {'EQUAL' if bulk_counts == online_counts else 'DIFFERENT'} to online"))
        if online_rate:
            print(f"   ratio: bulk {bulk.per_second / online_rate:.1f}x online")


if __name__ == "__main__":
    main()
