"""Ring detection on Spark beside the single-machine job: the same rings? how long?

For each size, ``n`` applications are generated and exported from columns (as
``bench/rings.py`` does; not timed), then ring detection runs twice on the same export:
the single-machine job (numpy, igraph) and the Spark engine (``tianwang.rings.spark``:
projection in Spark SQL, connected components, Leiden per component; ``--master``,
default ``local[*]``). It prints each engine's time per stage, the adjusted Rand index of
the two ring memberships, and ring recall and precision for both (``bench/rings.py``'s
definitions). Needs the ``spark`` extra (and ``scikit-learn`` for the index).

    python bench/rings_spark.py --applications 100000,1000000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rings import ring_quality

from fixtures.graph_export import export_from_columns
from tianwang.rings.job import RingReport, detect_rings_in_export


def agreement(one: RingReport, other: RingReport) -> float:
    """Adjusted Rand index of two ring memberships (applicants in no ring are singletons)."""
    from sklearn.metrics import adjusted_rand_score

    a, b = ({m: k for k, ring in enumerate(r.rings) for m in ring.members} for r in (one, other))
    everyone = sorted(set(a) | set(b))
    return float(adjusted_rand_score([a.get(m, -1 - i) for i, m in enumerate(everyone)],
                                     [b.get(m, -1 - i) for i, m in enumerate(everyone)]))


def _stages(report: RingReport) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--applications", default="100000")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--master", default=None, help="Spark master (default TIANWANG_SPARK_MASTER or local[*])")
    parser.add_argument("--memory", default="4g", help="Spark driver memory in local mode")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    from tianwang.rings.spark import detect_rings_in_export_spark, spark_session

    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    with spark_session(args.master, memory=args.memory) as spark:
        start_s = time.perf_counter() - started
        cores = spark.sparkContext.defaultParallelism
        print(f"Spark {spark.version}, master {spark.sparkContext.master} ({cores} cores), "
              f"session started in {start_s:.1f} s; this machine has {os.cpu_count()} CPUs")
        for n in (int(x) for x in args.applications.split(",")):
            export, truth = export_from_columns(n, args.seed)
            started = time.perf_counter()
            local = detect_rings_in_export(export)
            local_s = time.perf_counter() - started
            started = time.perf_counter()
            spread = detect_rings_in_export_spark(export, spark)
            spark_s = time.perf_counter() - started
            ids = [f"APP-{k + 1:08d}" for k in range(n)]
            q_local, q_spark = ring_quality(local.rings, ids, truth, 0.5), ring_quality(spread.rings, ids, truth, 0.5)
            ari = agreement(local, spread)
            print(f"{n:>10,} applications, {local.applicants:,} applicants, {local.links:,} links, "
                  f"{len(local.rings):,} rings (Spark: {len(spread.rings):,})")
            print(f"{'':>10} single machine {local_s:7.1f} s ({_stages(local)})")
            print(f"{'':>10} Spark          {spark_s:7.1f} s ({_stages(spread)})")
            print(f"{'':>10} adjusted Rand index {ari:.4f}; ring recall {q_local['recall']:.3f} / "
                  f"{q_spark['recall']:.3f}, precision {q_local['precision']:.3f} / {q_spark['precision']:.3f} "
                  "(single / Spark)")
            results.append({
                "applications": n, "applicants": local.applicants, "links": local.links,
                "rings_local": len(local.rings), "rings_spark": len(spread.rings),
                "seconds_local": round(local_s, 2), "seconds_spark": round(spark_s, 2),
                "stages_local": {k: round(v, 2) for k, v in local.timings.items()},
                "stages_spark": {k: round(v, 2) for k, v in spread.timings.items()},
                "adjusted_rand_index": round(ari, 5),
                "quality_local": q_local, "quality_spark": q_spark,
            })
    if args.json:
        args.json.write_text(json.dumps({"spark_start_s": round(start_s, 2), "cores": cores, "sizes": results},
                                        indent=2))


if __name__ == "__main__":
    main()
