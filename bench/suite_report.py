"""The benchmark suite's table, its targets (met or missed, by how much) and the full run's projected time."""

from __future__ import annotations

import math
import textwrap
from typing import Any

from bench.suite_parts import SuiteOptions

FULL_SIZES = (10_000, 100_000, 1_000_000)
FULL_RINGS_AT = 100_000
BUDGET_S = 45 * 60
LABEL_WIDTH, COLUMN_WIDTH = 46, 13
TABLE_WIDTH = 100

# (part, figure, label, format): one table row per figure, one column per size
ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("setup", "setup_s", "setup: prepare or copy from cache, s", "{:.1f}"),
    ("score", "p50_ms", "in-process score p50 ms (embedded)", "{:.2f}"),
    ("score", "p99_ms", "in-process score p99 ms", "{:.2f}"),
    ("score", "p999_ms", "in-process score p99.9 ms", "{:.2f}"),
    ("score", "max_ms", "in-process score max ms", "{:.2f}"),
    ("score", "gnn_inference_p50_ms", "GNN inference per application p50 ms", "{:.2f}"),
    ("score", "degraded", "decided without the graph store (must be 0)", "{:.0f}"),
    ("http", "p50_ms", "HTTP score p50 ms (embedded)", "{:.2f}"),
    ("http", "p99_ms", "HTTP score p99 ms", "{:.2f}"),
    ("http", "p999_ms", "HTTP score p99.9 ms", "{:.2f}"),
    ("http", "max_ms", "HTTP score max ms", "{:.2f}"),
    ("throughput", "rps", "HTTP rate held at p99 <= 50 ms, /s (0: none)", "{:.0f}"),
    ("throughput", "throughput_per_s", "HTTP throughput at that rate, /s", "{:.1f}"),
    ("memory", "peak_rss_mb", "service peak memory (VmHWM) MB", "{:.0f}"),
    ("memory", "anon_mb", "service anonymous memory at end MB", "{:.0f}"),
    ("khop", "p50_ms", "2-hop neighbourhood read p50 ms (embedded)", "{:.2f}"),
    ("khop", "p99_ms", "2-hop neighbourhood read p99 ms", "{:.2f}"),
    ("neo4j_score", "p50_ms", "in-process score p50 ms (Neo4j)", "{:.2f}"),
    ("neo4j_score", "p99_ms", "in-process score p99 ms (Neo4j)", "{:.2f}"),
    ("neo4j_score", "p999_ms", "in-process score p99.9 ms (Neo4j)", "{:.2f}"),
    ("neo4j_score", "max_ms", "in-process score max ms (Neo4j)", "{:.2f}"),
    ("neo4j_score", "degraded", "decided without the graph store (must be 0)", "{:.0f}"),
    ("neo4j_khop", "p50_ms", "2-hop neighbourhood read p50 ms (Neo4j)", "{:.2f}"),
    ("neo4j_khop", "p99_ms", "2-hop neighbourhood read p99 ms (Neo4j)", "{:.2f}"),
    ("neo4j_http", "p50_ms", "HTTP score p50 ms (Neo4j)", "{:.2f}"),
    ("neo4j_http", "p99_ms", "HTTP score p99 ms", "{:.2f}"),
    ("neo4j_http", "max_ms", "HTTP score max ms", "{:.2f}"),
    ("neo4j_http", "degraded", "decided without the graph store (must be 0)", "{:.0f}"),
    ("faiss", "speedup", "FAISS approx. vs exact speed-up, x", "{:.1f}"),
    ("faiss", "recall_at_10", "FAISS approx. recall@10", "{:.3f}"),
    ("rings", "leiden_s", "ring detection (Leiden) s", "{:.2f}"),
    ("rings", "louvain_s", "networkx Louvain, same projection, s", "{:.2f}"),
    ("rings", "speedup", "Leiden speed-up over Louvain, x", "{:.1f}"),
    ("rings", "leiden_recall", "ring recall, Leiden", "{:.3f}"),
    ("rings", "louvain_recall", "ring recall, Louvain", "{:.3f}"),
    ("gnn", "epoch_s", "GNN training s per epoch", "{:.3f}"),
    ("gnn", "nodes", "GNN training nodes", "{:,.0f}"),
    ("bundle", "bundle_s", "model bundle training s", "{:.1f}"),
    ("bundle", "applications", "model bundle training applications", "{:,.0f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "nan" if not math.isfinite(float(value)) else fmt.format(value)
    return "-" if value is None else str(value)


def render_table(results: dict[str, Any]) -> str:
    """The one table: a row per figure, a column per size; the targets; wall times; the projection."""
    sizes = [str(n) for n in results["sizes"]]
    figures = results["figures"]
    head = f"{'figure (median of ' + str(results.get('repeat', 1)) + ' runs)':<{LABEL_WIDTH}}"
    lines = [head + "".join(f"{int(n):>{COLUMN_WIDTH},}" for n in sizes),
             "-" * (LABEL_WIDTH + COLUMN_WIDTH * len(sizes))]
    for part, key, label, fmt in ROWS:
        if part not in figures:
            continue
        row = f"{label:<{LABEL_WIDTH}}"
        for n in sizes:
            value = figures[part].get(n, {}).get(key) if n in figures[part] else None
            row += f"{_cell(value, fmt) if n in figures[part] else '':>{COLUMN_WIDTH}}"
        lines.append(row)
    for part, reason in results.get("skipped", {}).items():
        lines.append(_wrap(f"{part:<{LABEL_WIDTH}}{reason}", LABEL_WIDTH))
    lines.append("")
    lines.append("targets (issue 20, on this machine):")
    for target in results.get("targets", []):
        lines.append(_wrap(f"  {target['status']:<12} {target['name']}: {target['detail']}", 15))
    lines.append("")
    lines.append(_wrap("wall time per part, s: " + "; ".join(
        f"{part} " + ", ".join(f"{float(s):.0f} at {int(where):,}" for where, s in per.items())
        for part, per in results.get("wall_s", {}).items())))
    projection = results.get("projection")
    if projection:
        lines.append(_wrap(f"suite wall time: {results['suite_wall_s']:.0f} s. {projection['summary']}"))
    machine = results.get("machine")
    if machine:
        lines.append(_wrap(f"machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gb']} GB, "
                           f"load average {machine['load_average_at_start']} at start"))
        lines.append(_wrap(f"command: {results.get('command', '')}"))
    return "\n".join(lines)


def _wrap(text: str, indent: int = 2) -> str:
    return textwrap.fill(text, TABLE_WIDTH, subsequent_indent=" " * indent, break_on_hyphens=False)


def _at(figures: dict[str, Any], part: str, key: str, size: int) -> tuple[float, int] | None:
    """The figure at ``size``, or at the measured size nearest to it (log scale); with the size used."""
    measured = [int(n) for n, f in figures.get(part, {}).items() if isinstance(f.get(key), int | float)]
    if not measured:
        return None
    nearest = min(measured, key=lambda n: abs(math.log(n / size)))
    return float(figures[part][str(nearest)][key]), nearest


def _where(used: int, asked: int) -> str:
    return f"at {used:,}" if used == asked else f"at {used:,}, not {asked:,}: indicative only"


def _bound(name: str, value: float, bound: float, unit: str, where: str, below: bool = True) -> dict[str, Any]:
    met = value <= bound if below else value >= bound
    margin = abs(bound - value)
    side = ("under" if met else "over") if below else ("above" if met else "below")
    return {"name": name, "status": "met" if met else "MISSED", "value": value, "bound": bound,
            "detail": f"{'ratio ' if not unit else ''}{value:.2f}{unit} {where}, {margin:.2f}{unit} {side} "
                      f"{bound:g}{unit}"}


def _not_measured(name: str, why: str) -> dict[str, Any]:
    return {"name": name, "status": "not measured", "value": None, "bound": None, "detail": why}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each met or missed and by how much, at the sizes it names where measured."""
    figures = results["figures"]
    out = []
    for key, bound, label in (("p99_ms", 10.0, "in-process p99 <= 10 ms at 100k"),
                              ("max_ms", 100.0, "in-process max <= 100 ms at 100k")):
        found = _at(figures, "score", key, 100_000)
        out.append(_bound(label, found[0], bound, " ms", _where(found[1], 100_000)) if found
                   else _not_measured(label, "the score part did not run"))
    for part, where in (("score", "in process"), ("http", "over HTTP")):
        label = f"p99 at 1M <= 2 x p99 at 10k, {where}"
        runs = {int(n): float(f["p99_ms"]) for n, f in figures.get(part, {}).items()
                if f.get("p99_ms") is not None and math.isfinite(f["p99_ms"])}
        if len(runs) < 2:
            out.append(_not_measured(label, "needs two sizes"))
            continue
        small, large = min(runs), max(runs)
        ratio = runs[large] / runs[small]
        exact = (small, large) == (10_000, 1_000_000)
        span = f"(p99 {runs[large]:.2f} ms at {large:,} / {runs[small]:.2f} ms at {small:,})" + (
            "" if exact else " (not 10k and 1M: indicative only)")
        out.append(_bound(label, ratio, 2.0, "", span))
    rings = next(iter(figures.get("rings", {}).values()), None)
    if rings:
        where = _where(int(rings["size"]), FULL_RINGS_AT)
        out.append(_bound("ring detection >= 50 x faster than networkx Louvain", rings["speedup"], 50.0, " x",
                          where, below=False))
        better = rings["leiden_recall"] >= rings["louvain_recall"]
        out.append({"name": "ring recall at least Louvain's", "status": "met" if better else "MISSED",
                    "value": rings["leiden_recall"], "bound": rings["louvain_recall"],
                    "detail": f"Leiden {rings['leiden_recall']:.3f}, Louvain {rings['louvain_recall']:.3f} {where}"})
    else:
        out.append(_not_measured("ring detection >= 50 x faster than Louvain", "the rings part did not run"))
    found = _at(figures, "memory", "peak_rss_mb", 1_000_000)
    out.append(_bound("service peak memory at 1M <= 4 GB", found[0] / 1024, 4.0, " GB",
                      _where(found[1], 1_000_000)) if found else
               _not_measured("service peak memory at 1M <= 4 GB", "the memory part did not run"))
    projection = results.get("projection")
    if projection:
        out.append(_bound("the suite finishes in under 45 minutes", projection["from_cache_s"] / 60, 45.0, " min",
                          "projected for 10k, 100k and 1M with the cache warm, parts and options of this run"))
        out.append(_bound("... from an empty cache", projection["from_scratch_s"] / 60, 45.0, " min",
                          "projected for 10k, 100k and 1M, data generated and ingested"))
    for part, reason in results.get("skipped", {}).items():
        out.append(_not_measured(f"{part} figures", reason))
    return out


def project_full_run(results: dict[str, Any], options: SuiteOptions) -> dict[str, Any]:
    """The full run's time (10k, 100k, 1M; rings at 100k), scaled from this run's part by part.

    Scaling, from the largest size measured: setup's generation, ingest and ring detection with
    the applications; its bundle, ``gnn`` and ``bundle`` with the training applications
    (``min(--train, n)``); ``faiss`` and ``rings`` with the vectors or applications; ``score``,
    ``http``, ``throughput`` and ``khop`` stay (fixed request counts and seconds), the rate ladder
    counted at its full length. Linear scaling is optimistic where the work grows faster (Louvain,
    exact search, a graph that no longer fits the page cache): a first estimate, not a promise.
    """
    wall = results["wall_s"]
    setup = results["figures"].get("setup", {})
    total_cached = total_scratch = 0.0

    def scale(per_size: dict[str, float], target: float, driver: Any) -> float:
        size = max(per_size, key=int)
        return per_size[size] * driver(target) / driver(int(size))

    def linear(n: float) -> float:
        return n

    def training(n: float) -> float:
        return min(options.train, n)

    for n in FULL_SIZES:
        for part in ("score", "http+throughput+memory", "khop"):
            if part in wall:
                total_cached += scale(wall[part], n, lambda _: 1.0)
        if "faiss" in wall:
            total_cached += scale(wall["faiss"], n, linear)
        if "neo4j" in wall:  # fixed measurements, a copy of the home that grows, its bulk import only once
            size = max(wall["neo4j"], key=int)
            made = results["figures"].get("neo4j_khop", {}).get(size, {})
            build = float(made.get("built_build_s", 0.0))
            copy = float(made.get("copy_and_start_s", 0.0))
            measure = wall["neo4j"][size] - copy - (build if made.get("built_now") else 0.0)
            total_cached += measure + copy * n / int(size)
            total_scratch += build * n / int(size)
        if setup:  # from the cache: the copy of the store; from scratch: what built the cache
            size = int(max(setup, key=int))
            built = {k: float(v) for k, v in setup[str(size)].items()}
            made = sum(built.get(f"built_{k}", 0.0) for k in ("generate_s", "ingest_s", "rings_and_models_s"))
            fresh = built["setup_s"] >= 0.9 * made
            total_cached += (built["setup_s"] - made if fresh else built["setup_s"]) * n / size
            data_s = sum(built.get(f"built_{k}", 0.0) for k in ("generate_s", "ingest_s", "rings_s"))
            total_scratch += data_s * n / size + built.get("built_bundle_s", 0.0) * training(n) / training(size)
    ladder = results["figures"].get("throughput", {})
    if ladder and "http+throughput+memory" in wall:
        steps = len(next(iter(ladder.values())).get("ladder", [])) or 1
        total_cached += len(FULL_SIZES) * (len(options.ladder) - steps) * (options.ladder_seconds + 1)
    for part in ("gnn", "bundle"):
        if part in wall:
            total_cached += scale(wall[part], FULL_SIZES[-1], training)
    if "rings" in wall:
        total_cached += scale(wall["rings"], FULL_RINGS_AT, linear)
    total_scratch += total_cached
    summary = (f"projected full run (10k, 100k, 1M; the parts and options of this run): {total_cached / 60:.0f} min "
               f"with the cache warm, {total_scratch / 60:.0f} min from an empty cache (scaled from this run's wall "
               f"times, see docs/benchmarks.md)")
    return {"from_cache_s": total_cached, "from_scratch_s": total_scratch, "summary": summary}
