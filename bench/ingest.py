"""Ingest benchmark: generate applications, ingest them into each store, print applications/s.

    python bench/ingest.py [--applications 100000] [--seed 11] [--stores embedded,neo4j] [--workers N] [--stages]

The Neo4j figure needs ``TIANWANG_NEO4J_URI`` (``scripts/neo4j-dev.sh start`` prints one);
the database is cleared first. Each figure is end to end: reading the NDJSON file,
validating every line, mapping it to graph records and committing the batches. A second
ingest of the same file measures the idempotent rerun. Each line also gives the CPU
seconds of this process and of the worker processes, and the load average before and
after: on a shared machine the rate depends on what else runs.

``--stages`` then times each stage of the embedded ingest on its own, in this process
(CPU time per application: validation, mapping, the hand-off of rows between processes,
and the SQLite write into an empty store), and prints the rates those costs allow: with
every core busy, and for the single SQLite writer alone. No tuning of the pipeline can
beat these ceilings; only cheaper stages can.
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import time
from pathlib import Path

from fixtures.generator import generate
from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.mapping import ApplicationRow, application_row
from graph_schema.store import GraphStore
from tianwang.application import parse_application
from tianwang.ingest import _fewer_collections, ingest_file
from tianwang.privacy import PersonalDataKeyer

SECRET = b"tianwang-bench-secret-0123456789abcdef"


def run(store: GraphStore, path: Path, batch_size: int, workers: int | None) -> None:
    load_before = os.getloadavg()[0]
    before = os.times()
    first = ingest_file(path, store, batch_size=batch_size, workers=workers)
    after = os.times()
    counts = store.counts()
    second = ingest_file(path, store, batch_size=batch_size, workers=workers)
    same = counts == store.counts()
    own = after.user + after.system - before.user - before.system
    children = after.children_user + after.children_system - before.children_user - before.children_system
    print(
        f"{store.kind:>8}: {first.created:,} applications in {first.seconds:.1f} s = "
        f"{first.per_second:,.0f} applications/s (CPU s: {own:.1f} here, {children:.1f} in workers; "
        f"load {load_before:.1f} -> {os.getloadavg()[0]:.1f}); rerun {second.per_second:,.0f}/s, "
        f"{second.unchanged:,} unchanged, counts {'unchanged' if same else 'CHANGED'}; "
        f"{counts.total_nodes:,} nodes, {counts.total_relationships:,} relationships"
    )


def stages(path: Path, db: Path, keyer: PersonalDataKeyer, batch_size: int) -> None:
    """Each stage's CPU time per application, and the rates they allow (see the module docstring).

    The lines go through the stages a batch at a time, with the collector's threshold raised
    as :func:`~tianwang.ingest.ingest_file` raises it, so each stage sees the memory it sees
    in a real ingest.
    """
    lines = path.read_bytes().splitlines()
    n = len(lines)
    names = ("validation (parse_application)", "mapping (application_row)",
             "hand-off between processes (pickle)", "SQLite write (write_rows, empty store)")
    cost = dict.fromkeys(names, 0.0)
    clock = time.process_time
    with _fewer_collections(), EmbeddedGraphStore(db, keyer) as store:
        for first in range(0, n, batch_size):
            t0 = clock()
            applications = [parse_application(line) for line in lines[first : first + batch_size]]
            t1 = clock()
            rows = [application_row(a, keyer) for a in applications]
            t2 = clock()
            sent = pickle.dumps([tuple(r) for r in rows], protocol=pickle.HIGHEST_PROTOCOL)
            rows = [ApplicationRow._make(r) for r in pickle.loads(sent)]
            t3 = clock()
            store.write_rows(rows)
            t4 = clock()
            for name, spent in zip(names, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                cost[name] += spent / n * 1e6
            del applications, rows, sent
    total = sum(cost.values())
    cpus = os.cpu_count() or 1
    print(f"stages, CPU time per application over {n:,} applications in one process:")
    for name, micros in cost.items():
        print(f"  {name:<40} {micros:7.1f} us")
    print(f"  {'total':<40} {total:7.1f} us")
    print(
        f"  ceilings: {cpus * 1e6 / total:,.0f} applications/s with all {cpus} CPUs busy; "
        f"{1e6 / cost[names[-1]]:,.0f}/s for the single SQLite writer alone"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--stores", default="embedded,neo4j")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=None, help="validating processes (default: ingest_file's)")
    parser.add_argument("--stages", action="store_true", help="also time each embedded-ingest stage on its own")
    args = parser.parse_args()
    keyer = PersonalDataKeyer(SECRET)
    with tempfile.TemporaryDirectory(prefix="tianwang-bench-") as tmp:
        started = time.perf_counter()
        generate(args.applications, args.seed, Path(tmp))
        print(
            f"generated {args.applications:,} applications in {time.perf_counter() - started:.1f} s "
            f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})"
        )
        path = Path(tmp) / "applications.ndjson"
        for kind in args.stores.split(","):
            if kind == "embedded":
                with EmbeddedGraphStore(Path(tmp) / "bench.db", keyer) as store:
                    run(store, path, args.batch_size, args.workers)
            elif kind == "neo4j":
                uri = os.environ.get("TIANWANG_NEO4J_URI")
                if not uri:
                    print("   neo4j: skipped, TIANWANG_NEO4J_URI is not set (scripts/neo4j-dev.sh start)")
                    continue
                from graph_schema.neo4j_store import Neo4jGraphStore

                with Neo4jGraphStore(uri, keyer) as neo:
                    neo.clear()
                    run(neo, path, args.batch_size, args.workers)
                    neo.clear()
            else:
                parser.error(f"unknown store {kind!r}; choose from embedded, neo4j")
        if args.stages:
            stages(path, Path(tmp) / "stages.db", keyer, args.batch_size)


if __name__ == "__main__":
    main()
