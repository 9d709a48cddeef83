"""Similarity index benchmark: build time, query latency and recall@10 of the approximate index.

    python bench/similarity.py [--sizes 100000 1000000] [--dimension 99] [--queries 1000] [--from-npy FILE]

For each size, builds :class:`~embeddings.similarity.SimilarityIndex` forced to be
approximate (IVF, ``nprobe`` calibrated to the recall target on leave-one-out queries),
then, on held-out queries from the same population, times single-query searches (one
application at a time, as the detector asks) and measures recall@10 against exact
search (brute force over the same vectors). The exact index's own single-query latency
is printed beside it.

Vectors: by default a Gaussian mixture of the default embedder's dimension (the
standardised feature row, :data:`~detectors.application_features.FEATURE_NAMES`):
overlapping clusters of about ``--per-cluster`` points (50) whose points spread along
their own 24-dimensional subspace, plus noise in every dimension; embeddings of
applications are lumpy like that, neither uniform nor well separated (well separated
clusters, or clusters much larger than k, make any IVF look perfect at ``nprobe`` 1).
``--from-npy`` takes real embeddings instead (rows are drawn with replacement and
jittered up to the size asked for).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors.application_features import FEATURE_NAMES
from embeddings.similarity import SimilarityIndex, measure_recall


def mixture(n: int, d: int, rng: np.random.Generator, clusters: int, intrinsic: int = 24) -> np.ndarray:
    """Overlapping clusters: centres one unit apart per dimension, each spread along its own
    ``intrinsic``-dimensional subspace (by 1 to 3 units) plus noise in every dimension."""
    centres = rng.normal(size=(clusters, d)).astype(np.float32)
    basis = rng.normal(size=(clusters, intrinsic, d)).astype(np.float32) / np.sqrt(d)
    spread = rng.uniform(1.0, 3.0, size=clusters).astype(np.float32)
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 50_000):
        m = min(50_000, n - start)
        c = rng.integers(clusters, size=m)
        z = rng.normal(size=(m, 1, intrinsic)).astype(np.float32)
        local = (z @ basis[c])[:, 0, :] * spread[c, None]
        out[start:start + m] = centres[c] + local + rng.normal(scale=0.3, size=(m, d)).astype(np.float32)
    return out


def bootstrap(source: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    rows = source[rng.integers(len(source), size=n)]
    return (rows + rng.normal(scale=0.05, size=rows.shape) * source.std(0)).astype(np.float32)


def single_query_ms(index: SimilarityIndex, queries: np.ndarray, k: int = 10) -> tuple[float, float]:
    times = []
    for q in queries:
        t0 = time.perf_counter()
        index.search(q, k)
        times.append((time.perf_counter() - t0) * 1000)
    p50, p99 = np.percentile(times, [50, 99])
    return float(p50), float(p99)


@dataclass(frozen=True)
class IndexFigures:
    """The approximate index against exact search on the same vectors (see the module docstring)."""

    vectors: int
    build_s: float
    nlist: int
    nprobe: int
    calibrated_recall: float
    recall: float
    """recall@10 of held-out queries against exact search"""
    ivf_p50_ms: float
    ivf_p99_ms: float
    exact_p50_ms: float
    exact_p99_ms: float

    @property
    def speedup(self) -> float:
        """Exact search's median single-query time over the approximate index's."""
        return self.exact_p50_ms / self.ivf_p50_ms if self.ivf_p50_ms > 0 else float("inf")


def measure_index(x: np.ndarray, queries: np.ndarray, recall_target: float, seed: int,
                  exact_queries: int = 200) -> IndexFigures:
    """Build the approximate index over ``x``, measure recall@10 of ``queries`` and time single
    queries; then the exact index's single-query time on the first ``exact_queries`` of them."""
    n = len(x)
    ids = [f"APP-{i:08d}" for i in range(n)]
    t0 = time.perf_counter()
    approx = SimilarityIndex.build(x, ids, embedder="bench", exact_below=0, recall_target=recall_target, seed=seed)
    build_s = time.perf_counter() - t0
    meta = approx.metadata()
    recall = measure_recall(approx._faiss, x, queries, 10)
    ivf_p50, ivf_p99 = single_query_ms(approx, queries)
    del approx
    exact = SimilarityIndex.build(x, ids, embedder="bench", exact_below=n + 1)
    exact_p50, exact_p99 = single_query_ms(exact, queries[:exact_queries])
    del exact
    calibrated = float("nan") if meta.recall is None else float(meta.recall)
    return IndexFigures(n, build_s, int(meta.params["nlist"]), int(meta.params["nprobe"]), calibrated,
                        float(recall), ivf_p50, ivf_p99, exact_p50, exact_p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dimension", type=int, default=len(FEATURE_NAMES))
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--recall-target", type=float, default=0.97)
    parser.add_argument("--from-npy", type=Path, default=None, help="real embeddings to draw from (n, d) float")
    parser.add_argument("--per-cluster", type=int, default=50, help="mixture: points per cluster, on average")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    source = np.load(args.from_npy).astype(np.float32) if args.from_npy else None
    d = source.shape[1] if source is not None else args.dimension
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads; dimension {d}; "
          f"data: {args.from_npy or f'Gaussian mixture, {args.per_cluster} points per cluster'}; "
          f"recall target {args.recall_target}")
    header = (f"{'vectors':>10} {'build s':>8} {'nlist':>6} {'nprobe':>6} {'recall@10 calib':>15} "
              f"{'recall@10 held-out':>18} {'ivf p50 ms':>10} {'ivf p99 ms':>10} {'exact p50 ms':>12} "
              f"{'exact p99 ms':>12}")
    print(header)
    for n in args.sizes:
        if source is not None:
            drawn = bootstrap(source, n + args.queries, rng)
        else:
            drawn = mixture(n + args.queries, d, rng, clusters=max(n // args.per_cluster, 10))
        figures = measure_index(drawn[:n], drawn[n:], args.recall_target, args.seed)
        print(f"{n:>10,} {figures.build_s:>8.1f} {figures.nlist:>6} {figures.nprobe:>6} "
              f"{figures.calibrated_recall:>15.4f} {figures.recall:>18.4f} {figures.ivf_p50_ms:>10.3f} "
              f"{figures.ivf_p99_ms:>10.3f} {figures.exact_p50_ms:>12.3f} {figures.exact_p99_ms:>12.3f}", flush=True)


if __name__ == "__main__":
    main()
