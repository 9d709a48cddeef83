"""The benchmark suite: every benchmark at each graph size, one table, JSON, and the latency plot.

    python bench/suite.py [--sizes 10000,100000,1000000] [--repeat 3] [--only score,http,...]
                          [--json OUT] [--svg OUT] [--cache DIR]      (or: make bench)

Parts (``--only`` takes their names; default: all):

* ``score``: in-process scoring latency on the embedded store, every detector on (the model
  bundle active): p50, p99, p99.9, max; the ring GNN's own time per application (inference);
* ``http``: the same over ``POST /v1/applications/score`` of ``tianwang serve`` (open loop at
  ``--http-rps``); ``throughput``: the highest rate of ``--ladder`` whose p99 stays ≤ 50 ms;
  ``memory``: the server's peak resident memory after those;
* ``khop``: ``GraphStore.neighbours(application, hops=2)`` reads;
* ``neo4j``: scoring in process and over HTTP, and k-hop reads, on Neo4j 5.26: a home bulk-imported
  from the same history (``tianwang ingest --neo4j-import``) once per size and kept in ``--cache``,
  served by a dev server of the suite's own on a copy (``bench/suite_neo4j.py``; page cache
  ``--neo4j-pagecache-mb``); skipped when ``TIANWANG_NO_NEO4J`` is set;
* ``faiss``: the approximate known-fraud index against exact search (speed-up, recall@10);
* once per suite: ``rings`` (Leiden beside networkx Louvain on the same projection, at
  ``--rings-at`` or the largest size below it, with both ring recalls), ``gnn`` (ring GNN
  seconds per training epoch) and ``bundle`` (seconds to train a model bundle), both on the
  latest ``--train`` applications of the largest size.

Each figure is the median of ``--repeat`` runs; each comparison (speed-ups, ratios) is
measured side by side in the same run. Setup per size (generate, ingest, rings, one bundle)
is bench/http.py's, kept in ``--cache`` between runs. The table ends with the issue's
targets, met or missed and by how much, each part's wall time, and the full run's projected
time (sizes 10k, 100k, 1M) from this run's.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this file's folder comes first on sys.path, where bench/http.py would shadow the
# standard library's ``http`` package: put the repository root there instead
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import orjson  # noqa: E402

from bench import suite_parts as parts  # noqa: E402
from bench.suite_plot import latency_svg  # noqa: E402
from bench.suite_report import project_full_run, render_table, targets  # noqa: E402

PARTS = ("score", "http", "throughput", "memory", "khop", "neo4j", "faiss", "rings", "gnn", "bundle")
SERVED = {"http", "throughput", "memory"}


def machine() -> dict[str, Any]:
    """The machine the figures come from."""
    model = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
                     "")
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "cpu_model": model or platform.processor(), "memory_gb": round(memory_gb, 1),
            "python": platform.python_version(), "system": platform.platform(),
            "load_average_at_start": round(os.getloadavg()[0], 2)}


def run_suite(sizes: list[int], options: parts.SuiteOptions, only: set[str], rings_at: int = 100_000,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the parts in ``only`` at each size; the suite's results as the JSON holds them."""
    sizes = sorted(sizes)
    figures: dict[str, dict[str, Any]] = {}
    wall: dict[str, dict[str, float]] = {}
    started_suite = time.perf_counter()

    def record(part: str, where: str, measure: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        log(f"[{time.strftime('%H:%M:%S')}] {part} at {where} ...")
        value = measure()
        wall.setdefault(part, {})[where] = time.perf_counter() - started
        log(f"[{time.strftime('%H:%M:%S')}] {part} at {where}: {wall[part][where]:.1f} s")
        return value

    largest = sizes[-1]
    with tempfile.TemporaryDirectory(prefix="tianwang-suite-") as tmp:
        for size in sizes:
            key = str(size)
            wanted = only & {"score", "khop", *SERVED} | (only & {"gnn", "bundle"} if size == largest else set())
            if "neo4j" in only and parts.neo4j_status() is None:
                wanted.add("neo4j")
            if wanted:
                with parts.deployment(size, options, Path(tmp)) as dep:
                    wall.setdefault("setup", {})[key] = dep.setup["setup_s"]
                    figures.setdefault("setup", {})[key] = dep.setup
                    if "score" in only:
                        figures.setdefault("score", {})[key] = record(
                            "score", key, partial(parts.score_in_process, dep, options))
                    if only & SERVED:
                        served = record("http+throughput+memory", key,
                                        partial(parts.serve_and_load, dep, options, only & SERVED))
                        for part, value in served.items():
                            figures.setdefault(part, {})[key] = value
                    if "khop" in only:
                        figures.setdefault("khop", {})[key] = record(
                            "khop", key, partial(parts.khop_reads, dep, options))
                    if "neo4j" in only and parts.neo4j_status() is None:
                        on_neo4j = record("neo4j", key, partial(parts.neo4j_parts, dep, options))
                        for part, value in on_neo4j.items():
                            figures.setdefault(part, {})[key] = value
                    if size == largest and "gnn" in only:
                        figures["gnn"] = {key: record("gnn", key, partial(parts.gnn_training, dep, options))}
                    if size == largest and "bundle" in only:
                        figures["bundle"] = {key: record(
                            "bundle", key, partial(parts.bundle_training, dep, options))}
            if "faiss" in only:
                figures.setdefault("faiss", {})[key] = record(
                    "faiss", key, partial(parts.similarity_search, size, options))
        if "rings" in only:
            at = max([n for n in sizes if n <= rings_at] or [sizes[0]])
            figures["rings"] = {str(at): record("rings", str(at), lambda: parts.ring_detection(at, options))}
    skipped = {"neo4j": reason} if "neo4j" in only and (reason := parts.neo4j_status()) else {}
    return {"sizes": sizes, "figures": figures, "wall_s": wall, "skipped": skipped,
            "suite_wall_s": time.perf_counter() - started_suite}


def _subtitle(results: dict[str, Any]) -> str:
    return (f"{results['machine']['cpus']} CPUs ({results['machine']['cpu_model']}), median of {results['repeat']} "
            f"run(s), {results['finished_at']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="applications in the store, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is reported)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts to run, of: {', '.join(PARTS)}")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), metavar="OUT")
    parser.add_argument("--svg", type=Path, default=Path("bench-latency.svg"), metavar="OUT")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="keep each size's generated data, store and bundle here (keyed by size, seed, --train)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--train", type=int, default=20_000, help="latest applications a bundle learns from")
    parser.add_argument("--score-n", type=int, default=1_000, help="applications scored in process per run")
    parser.add_argument("--http-rps", type=float, default=50.0)
    parser.add_argument("--http-seconds", type=float, default=20.0)
    parser.add_argument("--neo4j-http-rps", type=float, default=10.0,
                        help="rate of the HTTP load on Neo4j (its server shares the two CPUs)")
    parser.add_argument("--neo4j-pagecache-mb", type=int, default=2048,
                        help="page cache of the suite's Neo4j server, MiB (the 1M store is about 3 GB)")
    parser.add_argument("--ladder", default="25,50,100,200,400", help="rates (requests/s) tried for throughput")
    parser.add_argument("--ladder-seconds", type=float, default=10.0)
    parser.add_argument("--rings-at", type=int, default=100_000)
    parser.add_argument("--gnn-epochs", type=int, default=5)
    parser.add_argument("--render", type=Path, default=None, metavar="JSON",
                        help="run nothing: print the table of an earlier run's JSON and draw its plot (--svg)")
    args = parser.parse_args()
    if args.render:
        results = orjson.loads(args.render.read_bytes())
        results["targets"] = targets(results)
        print(render_table(results))
        args.svg.write_text(latency_svg(results["figures"], results["sizes"], _subtitle(results)), encoding="utf-8")
        return 0
    only = {name.strip().lower() for name in args.only.split(",") if name.strip()}
    if unknown := only - set(PARTS):
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from: {', '.join(PARTS)}")
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got: {args.repeat}")
    sizes = sorted(int(x) for x in args.sizes.split(","))
    logging.basicConfig(level=logging.ERROR)
    options = parts.SuiteOptions(seed=args.seed, repeat=args.repeat, train=args.train, score_n=args.score_n,
                                 http_rps=args.http_rps, http_seconds=args.http_seconds,
                                 neo4j_http_rps=args.neo4j_http_rps, neo4j_pagecache_mb=args.neo4j_pagecache_mb,
                                 ladder=tuple(float(x) for x in args.ladder.split(",")),
                                 ladder_seconds=args.ladder_seconds, gnn_epochs=args.gnn_epochs, cache=args.cache)
    results = run_suite(sizes, options, only, rings_at=args.rings_at, log=lambda line: print(line, flush=True))
    results["machine"] = machine()
    results["command"] = " ".join(["python", "bench/suite.py", *sys.argv[1:]])
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["repeat"] = args.repeat
    results["projection"] = project_full_run(results, options)
    results["targets"] = targets(results)
    print(render_table(results))
    args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    args.svg.write_text(latency_svg(results["figures"], sizes, _subtitle(results)), encoding="utf-8")
    print(f"JSON: {args.json}   plot: {args.svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
