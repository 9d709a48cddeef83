"""bench/suite.py at a tiny size: the figures each part gives, the table, the JSON and the plot."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
import pytest

from bench.suite import run_suite
from bench.suite_parts import SuiteOptions
from bench.suite_plot import latency_svg
from bench.suite_report import project_full_run, render_table, targets

SVG = "{http://www.w3.org/2000/svg}"


def _finish(results: dict, options: SuiteOptions) -> str:
    results["repeat"] = options.repeat
    results["projection"] = project_full_run(results, options)
    results["targets"] = targets(results)
    return render_table(results)


def test_the_plot_has_both_axes_a_legend_and_a_line_per_series() -> None:
    figures = {part: {str(n): {"p50_ms": base * k, "p99_ms": 3 * base * k} for k, n in enumerate((10_000, 100_000,
                                                                                                   1_000_000), 1)}
               for part, base in (("score", 2.0), ("http", 5.0))}
    root = ET.fromstring(latency_svg(figures, [10_000, 100_000, 1_000_000], "test"))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any("Scoring latency against graph size" in t and "评分延迟" in t for t in texts)
    assert any("log scale" in t for t in texts) and any("latency (ms)" in t for t in texts)
    assert {"10k", "100k", "1M"} <= set(texts)
    assert len(list(root.iter(f"{SVG}polyline"))) == 4
    assert sum("HTTP p99" in t for t in texts) == 1


def test_the_plot_says_so_when_nothing_was_timed() -> None:
    root = ET.fromstring(latency_svg({}, [2_000], ""))
    assert any("no latency measured" in (t.text or "") for t in root.iter(f"{SVG}text"))


def test_a_tiny_suite_gives_every_figure_of_its_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parts that need no prepared store (a store means training a bundle: the slow test)."""
    monkeypatch.setenv("TIANWANG_NO_NEO4J", "1")
    options = SuiteOptions(repeat=1, faiss_queries=200, cache=tmp_path / "cache")
    results = run_suite([1_500], options, {"rings", "faiss", "neo4j"}, log=lambda _: None)
    table = _finish(results, options)
    figures = results["figures"]
    assert set(figures) == {"faiss", "rings"}
    faiss = figures["faiss"]["1500"]
    assert faiss["speedup"] > 0 and 0.5 <= faiss["recall_at_10"] <= 1
    rings = figures["rings"]["1500"]
    assert rings["leiden_s"] > 0 and rings["louvain_s"] > 0 and rings["size"] == 1_500
    assert 0 <= rings["louvain_recall"] <= 1 and 0 <= rings["leiden_recall"] <= 1
    assert "skipped: TIANWANG_NO_NEO4J is set" in table
    statuses = {t["name"]: t["status"] for t in results["targets"]}
    assert statuses["in-process p99 <= 10 ms at 100k"] == "not measured"
    assert statuses["ring detection >= 50 x faster than networkx Louvain"] in ("met", "MISSED")
    assert all(len(line) <= 100 for line in table.splitlines() if not line.startswith(("  ", "wall", "suite", "mach")))
    back = orjson.loads(orjson.dumps(results))
    assert back["figures"]["rings"]["1500"]["speedup"] == pytest.approx(rings["speedup"])
    assert math.isfinite(results["projection"]["from_cache_s"])


@pytest.mark.slow
def test_every_part_at_a_tiny_size(tmp_path: Path) -> None:
    options = SuiteOptions(repeat=1, train=1_000, score_n=100, http_rps=20, http_seconds=3, warmup=20,
                           ladder=(10.0, 20.0), ladder_seconds=3, khop_n=50, gnn_epochs=2, faiss_queries=100,
                           cache=tmp_path / "cache")
    results = run_suite([1_000], options, {"score", "http", "throughput", "memory", "khop", "faiss", "rings", "gnn",
                                           "bundle"}, log=lambda _: None)
    _finish(results, options)
    figures = results["figures"]
    for part in ("score", "http"):
        one = figures[part]["1000"]
        assert 0 < one["p50_ms"] <= one["p99_ms"] <= one["max_ms"], part
    assert figures["score"]["1000"]["gnn_inference_p50_ms"] > 0
    assert figures["http"]["1000"]["errors"] == 0
    assert figures["http"]["1000"]["degraded"] == 0 and figures["score"]["1000"]["degraded"] == 0
    assert figures["throughput"]["1000"]["ladder"]
    assert figures["memory"]["1000"]["peak_rss_mb"] > 100
    khop = figures["khop"]["1000"]
    assert 0 < khop["p50_ms"] <= khop["p99_ms"] <= khop["p999_ms"] <= khop["max_ms"] and khop["hops"] == 2
    assert figures["gnn"]["1000"]["epoch_s"] >= 0 and figures["bundle"]["1000"]["bundle_s"] > 0
    ET.fromstring(latency_svg(figures, [1_000], ""))


@pytest.mark.slow
@pytest.mark.neo4j
def test_scoring_in_process_and_over_http_and_reads_on_neo4j(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a Neo4j home the suite bulk-imports from the deployment's history and serves itself."""
    monkeypatch.delenv("TIANWANG_NO_NEO4J", raising=False)
    monkeypatch.setenv("TIANWANG_NEO4J_URI", "bolt://127.0.0.1:1")  # not used: the suite serves its own
    options = SuiteOptions(repeat=1, train=1_000, score_n=50, http_rps=10, http_seconds=1, warmup=10,
                           ladder=(10.0,), ladder_seconds=1, khop_n=30, cache=tmp_path / "cache")
    results = run_suite([1_000], options, {"neo4j"}, log=lambda _: None)
    figures = results["figures"]
    assert 0 < figures["neo4j_score"]["1000"]["p50_ms"] <= figures["neo4j_score"]["1000"]["max_ms"]
    assert 0 < figures["neo4j_khop"]["1000"]["p50_ms"] <= figures["neo4j_khop"]["1000"]["max_ms"]
    http = figures["neo4j_http"]["1000"]
    assert 0 < http["p50_ms"] <= http["max_ms"] and http["errors"] == 0
    assert http["degraded"] == 0 and figures["neo4j_score"]["1000"]["degraded"] == 0  # every decision saw the graph
    assert results["skipped"] == {}
    setup = figures["neo4j_khop"]["1000"]
    assert setup["built_applications"] == 1_000 and setup["built_rings"] > 0 and setup["built_bulk_import_s"] > 0
    assert (tmp_path / "cache").exists() and list((tmp_path / "cache").rglob("neo4j-home/.tianwang-suite-ready"))
    assert os.environ["TIANWANG_NEO4J_URI"] == "bolt://127.0.0.1:1"  # put back


def test_the_projection_counts_the_neo4j_import_once_and_only_from_an_empty_cache() -> None:
    options = SuiteOptions()
    results = {"wall_s": {"neo4j": {"100000": 400.0}},
               "figures": {"neo4j_khop": {"100000": {"built_build_s": 100.0, "copy_and_start_s": 10.0,
                                                     "built_now": 1.0}}}}
    projection = project_full_run(results, options)
    # per size: 290 s of measuring, the copy growing with the size (10 s at 100k); the import only from scratch
    assert projection["from_cache_s"] == pytest.approx(3 * 290.0 + 10.0 * (0.1 + 1 + 10))
    assert projection["from_scratch_s"] - projection["from_cache_s"] == pytest.approx(100.0 * (0.1 + 1 + 10))
    results["figures"]["neo4j_khop"]["100000"]["built_now"] = 0.0  # the home came from the cache: all is measuring
    assert project_full_run(results, options)["from_cache_s"] == pytest.approx(3 * 390.0 + 10.0 * 11.1)
