"""The parts of the benchmark suite (``bench/suite.py``): each measures, none prints.

Per graph size, one deployment is prepared as ``bench/http.py`` prepares it (generated
applications bulk-ingested into an embedded store, rings detected, one model bundle trained
on the latest ``--train`` applications), cached by size, seed and training size, and copied
into a working folder; the parts that need a store use that copy and score applications
held out of it. Each part returns plain figures (numbers and short strings) for the table,
the JSON and the plot; a figure is the median over ``repeat`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from bench import http as http_bench
from bench.rings import louvain_beside_leiden
from bench.score import time_scores
from bench.similarity import measure_index, mixture
from bench.soak import _rss_mb, _status_kb

NEO4J_SKIPPED = "skipped: TIANWANG_NO_NEO4J is set"
P99_BOUND_MS = 50.0
"""The HTTP throughput figure is the highest rate whose p99 stays within this."""

Figures = dict[str, Any]


@dataclass
class SuiteOptions:
    """What the runner asks of the parts (its command-line options)."""

    seed: int = 11
    repeat: int = 3
    train: int = 20_000
    score_n: int = 1_000
    http_rps: float = 50.0
    http_seconds: float = 20.0
    neo4j_http_rps: float = 10.0
    neo4j_pagecache_mb: int = 2048
    warmup: int = 200
    ladder: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0, 400.0)
    ladder_seconds: float = 10.0
    khop_n: int = 500
    khop_hops: int = 2
    gnn_epochs: int = 5
    faiss_queries: int = 1_000
    rings_threshold: float = 0.5
    cache: Path | None = None

    def held_out(self) -> int:
        """Applications each size holds out for scoring: in process, over HTTP, and the rate ladder."""
        http = self.warmup + self.repeat * self.http_rps * self.http_seconds
        ladder = sum(rate * self.ladder_seconds for rate in self.ladder)
        return int(self.repeat * self.score_n + 1.1 * (http + ladder)) + 100


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def latency_figures(values_ms: list[float]) -> Figures:
    """p50, p99, p99.9 and max of one run, in milliseconds."""
    if not values_ms:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "p999_ms": float("nan"), "max_ms": float("nan")}
    p50, p99, p999 = np.percentile(values_ms, [50, 99, 99.9])
    return {"p50_ms": float(p50), "p99_ms": float(p99), "p999_ms": float(p999), "max_ms": float(max(values_ms))}


def median_of_runs(runs: list[Figures]) -> Figures:
    """Each figure's median over the runs (numbers only; the first run's other values)."""
    out: Figures = {}
    for name, value in runs[0].items():
        numbers = [r[name] for r in runs if isinstance(r.get(name), int | float)]
        out[name] = median(numbers) if isinstance(value, int | float) and not isinstance(value, bool) else value
    for name, value in out.items():  # counts stay whole numbers
        if isinstance(value, float) and all(isinstance(r.get(name), int) for r in runs) and value.is_integer():
            out[name] = int(value)
    out["runs"] = len(runs)
    return out


# -- the deployment of one size -----------------------------------------------------------------------------
@dataclass
class Deployment:
    """One size's prepared store, copied into ``folder``, with the applications held out of it."""

    size: int
    folder: Path
    config: Path
    cache: Path
    held: list[bytes]
    setup: Figures = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.original = list(self.held)

    def fresh(self) -> Deployment:
        """The same deployment with all its held-out applications again, for the parts on another
        store (Neo4j), where none of them was scored."""
        return replace(self, held=list(self.original))

    def take(self, n: int) -> list[bytes]:
        """The next ``n`` held-out applications (never scored before)."""
        if n > len(self.held):
            raise RuntimeError(f"{n:,} held-out applications asked for, {len(self.held):,} left")
        taken, self.held = self.held[:n], self.held[n:]
        return taken

    def settings(self) -> Any:
        from tianwang.settings import load_settings

        return load_settings(db_path=self.folder / "graph.db", store="embedded", secret=http_bench.SECRET,
                             scoring_config=self.config, bundle_dir=self.cache / "bundles")


def http_args(size: int, options: SuiteOptions, cache: Path) -> argparse.Namespace:
    """The options ``bench/http.py`` would parse for this size (its setup and its server read them)."""
    return argparse.Namespace(applications=size, seed=options.seed, train=min(options.train, size), fit="bundle",
                              cache=cache, warmup=options.warmup, rps=options.http_rps,
                              seconds=options.http_seconds, profile=0, workers=1, start_timeout=300.0,
                              drain=5.0, gnn_epochs=30)


@contextlib.contextmanager
def deployment(size: int, options: SuiteOptions, work: Path) -> Iterator[Deployment]:
    """Prepare (or take from the cache) the deployment of ``size`` applications; a working copy for the parts."""
    cache_root = options.cache or work / "cache"
    folder = work / f"n{size}"
    folder.mkdir(parents=True, exist_ok=True)
    args = http_args(size, options, cache_root)
    started = time.perf_counter()
    config, held = http_bench.prepare_cached(folder, args, held=options.held_out())
    cache = config.parent
    if len(held) < options.held_out():
        raise RuntimeError(f"the cache {cache} holds {len(held):,} held-out applications, these options need "
                           f"{options.held_out():,}: fewer runs, requests or seconds, or remove that folder")
    setup: Figures = {"setup_s": time.perf_counter() - started}
    recorded = cache / "setup.json"
    if recorded.exists():  # how long the cached setup took when it was made
        setup.update({f"built_{k}": v for k, v in orjson.loads(recorded.read_bytes()).items()})
    try:
        yield Deployment(size, folder, config, cache, held, setup)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- scoring in process -------------------------------------------------------------------------------------
def score_in_process(dep: Deployment, options: SuiteOptions, store: str = "embedded") -> Figures:
    """Latency of ``ScoringPipeline.score`` in this process on ``store``, the bundle active (every
    detector on): the full pipeline from JSON to the recorded decision. Also the ring GNN's own time
    per application (its inference)."""
    from tianwang.service import open_service
    from tianwang.service.bundles import activate_bundle

    service = open_service(dep.settings(), store=store)
    try:
        activate_bundle(service, "bench-suite", "bench")
        # warm the caches (on Neo4j also its query plans and JIT: its first hundred scores take up to seconds)
        time_scores(service.runtime.pipeline.score, dep.take(min(options.warmup if store == "neo4j" else 50,
                                                                 options.score_n)))
        # a service just started loads the stored rings in the background (about 15 s at 1M, beside the
        # requests, which it slows but never holds up): the figures are those of a service that has settled
        settling = time.perf_counter()
        rings = getattr(service.runtime.pipeline.loaded.detectors.get("fraud_ring"), "rings", None)
        if rings is not None:
            rings.wait()
        # a warm-up call past the store's deadline (Neo4j's first queries, on a busy machine) marks the store
        # down until its outbox drains: without the wait, every measured decision would be made without it
        gate, deadline = service.runtime.pipeline.gate, time.monotonic() + 120
        while gate.down and time.monotonic() < deadline:
            time.sleep(0.2)
        settle_s = time.perf_counter() - settling
        runs = []
        for _ in range(options.repeat):
            timings = time_scores(service.runtime.pipeline.score, dep.take(options.score_n))
            figures = latency_figures(timings.totals)
            gnn = timings.detectors.get("gnn_ring", [])
            figures["gnn_inference_p50_ms"] = float(np.percentile(gnn, 50)) if gnn else float("nan")
            figures["gnn_inference_p99_ms"] = float(np.percentile(gnn, 99)) if gnn else float("nan")
            figures["detectors"] = len(timings.detectors)
            figures["degraded"] = timings.degraded  # decided without the graph store: must be 0
            figures["n"] = len(timings.totals)
            figures["settle_s"] = settle_s
            runs.append(figures)
    finally:
        service.close()
    return median_of_runs(runs)


# -- over HTTP: latency, throughput, the server's memory ----------------------------------------------------
def _load(base: str, key: str, lines: list[bytes], rps: float, seconds: float) -> tuple[Figures, int]:
    results = http_bench.Results()
    sent = min(len(lines), int(rps * seconds))
    elapsed = asyncio.run(http_bench.run_load(base, key, lines, rps, seconds, 5.0, results))
    figures = latency_figures(results.latency_ms)
    figures["answered"] = len(results.latency_ms)
    figures["errors"] = sum(results.errors.values())
    figures["error_kinds"] = ", ".join(f"{kind}: {n}" for kind, n in results.errors.most_common()) or "none"
    figures["degraded"] = results.degraded
    figures["throughput_per_s"] = len(results.latency_ms) / elapsed if elapsed > 0 else 0.0
    return figures, sent


def _server_memory_mb(pid: int) -> Figures:
    """Peak resident memory (VmHWM) of the server's processes, and its anonymous and file-backed memory now."""
    import psutil

    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    peak = sum(_status_kb(p.pid, "VmHWM") for p in processes) / 1024
    anon, files = _rss_mb(pid)
    return {"peak_rss_mb": peak, "anon_mb": anon, "file_mb": files}


def _wait_settled(base: str, timeout: float = 900.0) -> float:
    """Wait until the server has loaded its stored rings (``/metrics``: rings in its index, no renewal under
    way): a service just started loads them in the background, about 100 s at 1M on Neo4j, and the figures
    are those of a service that has settled, as in process. Returns the seconds waited."""
    import httpx

    started = idle_since = time.perf_counter()
    while time.perf_counter() - started < timeout:
        metrics = {line.split(" ")[0]: float(line.split(" ")[1]) for line in httpx.get(f"{base}/metrics", timeout=30)
                   .text.splitlines() if line.startswith("tianwang_ring_index_")}
        now = time.perf_counter()
        if metrics.get("tianwang_ring_index_renewing", 0):
            idle_since = now
        elif metrics.get("tianwang_ring_index_rings", 1) > 0 or now - idle_since > 5:  # loaded, or none to load
            break
        time.sleep(0.5)
    return time.perf_counter() - started


def serve_and_load(dep: Deployment, options: SuiteOptions, parts: set[str], store: str = "embedded"
                   ) -> dict[str, Figures]:
    """Start ``tianwang serve`` on the deployment (bench/http.py's server, one worker, the bundle active;
    on ``store``), then: ``http`` latency at a fixed rate (median of runs), ``throughput`` (the highest
    rate of the ladder whose p99 stays within 50 ms, every request answered), ``memory`` (the server's peak)."""
    args = http_args(dep.size, options, dep.cache.parent)
    args.bundle_dir = dep.cache / "bundles"
    args.store = store
    server, base, key = http_bench.start_server(dep.folder, dep.config, args)
    out: dict[str, Figures] = {}
    try:
        settle_s = _wait_settled(base)
        warm = dep.take(options.warmup)
        asyncio.run(http_bench.run_load(base, key, warm, options.http_rps, len(warm) / options.http_rps, 5.0, None))
        if "http" in parts:
            runs = []
            for _ in range(options.repeat):
                lines = dep.take(int(options.http_rps * options.http_seconds))
                figures, _ = _load(base, key, lines, options.http_rps, options.http_seconds)
                runs.append(figures)
            out["http"] = {**median_of_runs(runs), "rps": options.http_rps, "settle_s": settle_s}
        if "throughput" in parts:
            steps = []
            best: Figures = {"rps": 0.0, "throughput_per_s": 0.0, "p99_ms": float("nan")}
            for rate in options.ladder:
                lines = dep.take(int(rate * options.ladder_seconds))
                figures, sent = _load(base, key, lines, rate, options.ladder_seconds)
                held = figures["p99_ms"] <= P99_BOUND_MS and figures["answered"] == sent and not figures["errors"]
                steps.append({"rps": rate, "p99_ms": figures["p99_ms"], "held": held})
                if not held:
                    break
                best = {"rps": rate, "throughput_per_s": figures["throughput_per_s"], "p99_ms": figures["p99_ms"]}
            out["throughput"] = {**best, "ladder": steps, "ladder_top_reached": bool(steps and steps[-1]["held"])}
        if "memory" in parts:
            out["memory"] = _server_memory_mb(server.pid)
    finally:
        http_bench.stop_server(server)
    return out


# -- k-hop neighbourhood reads ------------------------------------------------------------------------------
def khop_reads(dep: Deployment, options: SuiteOptions, store: str = "embedded") -> Figures:
    """Time of ``GraphStore.neighbours(application, hops=k, limit=100)`` on ``store``, for
    applications drawn at random from the store (median of runs, each a fresh draw)."""
    from graph_schema.schema import Label
    from graph_schema.values import NodeRef
    from tianwang.runtime import open_graph

    lines = (dep.cache / "data" / "applications.ndjson").read_bytes().splitlines()[:dep.size]
    ids = [orjson.loads(raw)["application_id"] for raw in lines]
    rng = np.random.default_rng(options.seed)
    runs = []
    with open_graph(dep.settings(), store) as graph:
        for _ in range(options.repeat):
            times, nodes = [], []
            for k in rng.choice(len(ids), size=min(options.khop_n, len(ids)), replace=False).tolist():
                started = time.perf_counter()
                found = graph.neighbours(NodeRef(Label.APPLICATION, ids[k]), hops=options.khop_hops, limit=100)
                times.append((time.perf_counter() - started) * 1000)
                nodes.append(len(found.nodes))
            runs.append({**latency_figures(times), "hops": options.khop_hops, "nodes_p50": float(np.median(nodes))})
    return median_of_runs(runs)


# -- once per suite -----------------------------------------------------------------------------------------
def ring_detection(size: int, options: SuiteOptions) -> Figures:
    """Leiden (what ``tianwang rings detect`` runs) beside networkx Louvain on the same projection
    (bench/rings.py's :func:`louvain_beside_leiden`), with both ring recalls; median times of runs."""
    runs = [louvain_beside_leiden(size, options.seed, options.rings_threshold) for _ in range(options.repeat)]
    figures = median_of_runs(runs)
    figures["speedup"] = figures["louvain_s"] / figures["leiden_s"] if figures["leiden_s"] > 0 else float("inf")
    figures["size"] = size
    return figures


def gnn_training(dep: Deployment, options: SuiteOptions) -> Figures:
    """Seconds per training epoch of the ring GNN (``gnn_ring``) on the contexts of the latest
    ``--train`` applications as of their own time: a fit of 1 + E epochs minus a fit of 1, over E
    (no validation or refit in between), so graph building and node states cancel out."""
    from detectors.context import LabelledContext
    from detectors.gnn_ring import GnnRingDetector
    from tianwang.backtest import read_labels
    from tianwang.runtime import open_graph
    from tianwang.scoring.config import DEFAULT_CONFIG_PATH

    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    window = timedelta(days=float(config.get("velocity_window_days", 7)))
    labels = read_labels(dep.cache / "data" / "labels.ndjson")
    history_path = dep.folder / "gnn-history.ndjson"
    latest = min(options.train, dep.size)  # the generator writes in time order: no need to parse the rest
    lines = (dep.cache / "data" / "applications.ndjson").read_bytes().splitlines()[:dep.size][-latest:]
    history_path.write_bytes(b"\n".join(lines) + b"\n")
    with open_graph(dep.settings(), "embedded") as store:
        contexts = http_bench.contexts_as_of_their_time(store, history_path, window, latest)
    history = [LabelledContext(c, labels[c.application_id].fraud, labels[c.application_id].typology)
               for c in contexts if c.application_id in labels]
    settings = dict(config["detectors"]["gnn_ring"].get("settings") or {})

    def fit_seconds(epochs: int) -> float:
        detector = GnnRingDetector({**settings, "epochs": epochs, "eval_every": epochs, "patience": epochs,
                                    "refit": False, "num_threads": os.cpu_count() or 1})
        started = time.perf_counter()
        detector.fit(history)
        return time.perf_counter() - started

    runs = []
    for _ in range(options.repeat):
        one, more = fit_seconds(1), fit_seconds(1 + options.gnn_epochs)
        runs.append({"epoch_s": max(0.0, more - one) / options.gnn_epochs, "fit_1_epoch_s": one,
                     "nodes": len(contexts)})
    return median_of_runs(runs)


def bundle_training(dep: Deployment, options: SuiteOptions) -> Figures:
    """Seconds to train one model bundle (``tianwang train``: every detector, the fusion weights,
    the ring GNN, the known-fraud index) on the latest ``--train`` applications."""
    from tianwang.service.bundles import train_bundle
    from tianwang.settings import load_settings

    n = min(options.train, dep.size)
    lines = (dep.cache / "data" / "applications.ndjson").read_bytes().splitlines()[:dep.size][-n:]
    train_path = dep.folder / "train.ndjson"
    train_path.write_bytes(b"\n".join(lines) + b"\n")
    text = http_bench.bundle_config_text()
    runs = []
    for k in range(options.repeat):
        started = time.perf_counter()
        train_bundle(train_path, dep.cache / "data" / "labels.ndjson", dep.folder / "suite-bundles", name=f"suite-{k}",
                     config_text=text,
                     settings=load_settings(db_path=dep.folder / f"train-{k}" / "graph.db", secret=http_bench.SECRET))
        runs.append({"bundle_s": time.perf_counter() - started, "applications": n})
    return median_of_runs(runs)


def similarity_search(size: int, options: SuiteOptions) -> Figures:
    """The approximate FAISS index against exact search over ``size`` vectors (bench/similarity.py's
    :func:`measure_index`): speed-up of the median single query, and recall@10."""
    from detectors.application_features import FEATURE_NAMES

    runs = []
    for k in range(options.repeat):
        rng = np.random.default_rng(options.seed + k)
        drawn = mixture(size + options.faiss_queries, len(FEATURE_NAMES), rng, clusters=max(size // 50, 10))
        index = measure_index(drawn[:size], drawn[size:], 0.97, options.seed)
        runs.append({"speedup": index.speedup, "recall_at_10": index.recall, "ivf_p50_ms": index.ivf_p50_ms,
                     "exact_p50_ms": index.exact_p50_ms, "build_s": index.build_s, "nprobe": index.nprobe})
    return median_of_runs(runs)


def neo4j_parts(dep: Deployment, options: SuiteOptions) -> dict[str, Figures]:
    """``score``, ``khop`` and ``http`` (``tianwang serve`` on Neo4j) on a Neo4j holding the deployment's
    history and rings: a bulk-imported home per size, served by a server of the suite's own
    (:mod:`bench.suite_neo4j`)."""
    from bench.suite_neo4j import served_neo4j

    dep = dep.fresh()
    with served_neo4j(dep, options.neo4j_pagecache_mb) as (_, setup):
        setup["pagecache_mb"] = options.neo4j_pagecache_mb
        return {"neo4j_score": score_in_process(dep, options, "neo4j"),
                "neo4j_khop": {**khop_reads(dep, options, "neo4j"), **setup},
                "neo4j_http": serve_and_load(dep, replace(options, http_rps=options.neo4j_http_rps), {"http"},
                                             store="neo4j")["http"]}


def neo4j_status() -> str | None:
    """Why the Neo4j figures are not measured, or ``None`` when they can be."""
    if os.environ.get("TIANWANG_NO_NEO4J"):
        return NEO4J_SKIPPED
    return None if shutil.which("java") or os.environ.get("JAVA17_HOME") else "skipped: no Java 17 for Neo4j"

