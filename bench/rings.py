"""Ring detection benchmark: time at 100k and 1M applications, and how well planted rings are caught.

    python bench/rings.py [--applications 100000,1000000] [--seed 11] [--store-at 100000] [--threshold 0.5]
                          [--instrumented-collusion]

Ingesting a million applications into a store takes about eight minutes (~2k/s), so for
each size the graph export is built straight from the generator's columns
(:func:`fixtures.generator.build_traffic`): the same nodes and relationships
:func:`graph_schema.mapping.application_graph` writes, keyed by integer codes instead of
HMAC hashes. The timed job (projection, Leiden, statistics, ring ids) is the same code
``tianwang rings detect`` runs. At ``--store-at`` applications the files are also
generated, ingested into an embedded store (not timed) and the whole job, export and
write-back included, runs through the store.

Quality: an application counts as *caught* when its applicant is in a detected ring
whose risk is at least ``--threshold``. Recall of a typology: caught applications of
its true rings over all applications of its true rings. Precision: caught applications
labelled fraud (any typology) over all caught applications. No labels are given to the
job (the confirmed-fraud share is 0 for every ring), so the risk comes from the graph alone.

``--instrumented-collusion`` is a what-if, not the default data: every dealer-collusion
member carries at least one of its ring's instruments (see ``bench/ring_ceiling.py``). It
applies to the runs from columns only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from fixtures.generator import generate
from fixtures.graph_export import export_from_columns
from fixtures.mix import TYPOLOGIES
from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.export import GraphExport
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer
from tianwang.rings.job import RingReport, detect_rings, detect_rings_in_export

SECRET = b"tianwang-bench-secret-0123456789abcdef"
RING_TYPOLOGIES = ("cash_out_ring", "dealer_collusion", "synthetic_identity")


def _until(export: GraphExport, moment: float) -> GraphExport:
    """The export as it stood at ``moment`` (relationships up to then; nodes kept, unlinked ones are inert)."""
    seen = export.edge_at <= moment
    return GraphExport(export.node_label, export.node_key, export.edge_index[:, seen], export.edge_type[seen],
                       export.edge_at[seen])


def quality(report: RingReport, application_ids: list[str], truth: dict[str, object], threshold: float) -> str:
    """Recall per ring typology and precision, as defined in the module docstring."""
    position = {app_id: k for k, app_id in enumerate(application_ids)}
    caught = np.zeros(len(application_ids), dtype=bool)
    for ring in report.rings:
        if ring.risk >= threshold:
            caught[[position[a] for a in ring.application_ids]] = True
    typology = np.asarray(truth["typology"])
    in_true_ring = np.asarray(truth["ring"]) >= 0
    lines = []
    for name in RING_TYPOLOGIES:
        members = in_true_ring & (typology == TYPOLOGIES.index(name) + 1)  # type: ignore[arg-type]
        recall = caught[members].mean() if members.any() else float("nan")
        lines.append(f"recall {name} {recall:.3f} ({int(caught[members].sum())}/{int(members.sum())})")
    flagged = int(caught.sum())
    precision = (typology[caught] > 0).mean() if flagged else float("nan")
    ring_precision = in_true_ring[caught].mean() if flagged else float("nan")
    lines.append(f"precision {precision:.3f} (fraud of any typology; {flagged} applications caught), "
                 f"{ring_precision:.3f} counting only planted-ring members")
    return "; ".join(lines)


def describe(report: RingReport) -> str:
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items())
    return (f"{report.seconds:.1f} s ({stages}); {report.applicants:,} applicants, {report.links:,} links, "
            f"{report.hubs:,} hub attributes dropped, {len(report.rings):,} rings")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--applications", default="100000,1000000")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--store-at", type=int, default=100_000, help="0 to skip the run through a store")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--instrumented-collusion", action="store_true",
                        help="what-if: every collusion member carries one of its ring's instruments")
    args = parser.parse_args()
    for n in (int(x) for x in args.applications.split(",")):
        started = time.perf_counter()
        export, truth = export_from_columns(n, args.seed, collusion_instrumented=args.instrumented_collusion)
        built = time.perf_counter() - started
        report = detect_rings_in_export(export)
        app_ids = [f"APP-{k + 1:08d}" for k in range(n)]
        print(f"{n:>9,} applications: generated and exported from columns in {built:.1f} s (not timed); "
              f"ring detection {describe(report)}")
        print(f"{'':>9}  {quality(report, app_ids, truth, args.threshold)}")
        rerun = detect_rings_in_export(export, previous={r.ring_id: r.members for r in report.rings})
        print(f"{'':>9}  rerun: {rerun.kept_ids:,} ring ids kept, {rerun.new_ids:,} new")
        earlier = _until(export, float(np.quantile(export.edge_at, 0.9)))
        before = detect_rings_in_export(earlier)
        grown = detect_rings_in_export(export, previous={r.ring_id: r.members for r in before.rings})
        print(f"{'':>9}  run on the first 90% of applications, then on all: {grown.kept_ids:,} of "
              f"{len(before.rings):,} ring ids kept, {grown.retired_ids:,} retired, {grown.new_ids:,} new")
        if n == args.store_at:
            run_through_store(n, args.seed, args.threshold)


def run_through_store(n: int, seed: int, threshold: float) -> None:
    with tempfile.TemporaryDirectory(prefix="tianwang-bench-") as tmp:
        summary = generate(n, seed, Path(tmp))
        started = time.perf_counter()
        with EmbeddedGraphStore(Path(tmp) / "bench.db", PersonalDataKeyer(SECRET)) as store:
            ingest_file(summary.applications_path, store)
            ingested = time.perf_counter() - started
            report = detect_rings(store, previous={})
            labels = [json.loads(line) for line in summary.labels_path.read_text().splitlines()]
            truth = {
                "typology": np.array([0 if x["typology"] is None else TYPOLOGIES.index(x["typology"]) + 1
                                      for x in labels]),
                "ring": np.array([-1 if x["ring_id"] is None else int(x["ring_id"][2:]) for x in labels]),
            }
            print(f"{'':>9}  embedded store (ingest {ingested:.0f} s, not timed): {describe(report)}")
            print(f"{'':>9}  {quality(report, [x['application_id'] for x in labels], truth, threshold)}")


if __name__ == "__main__":
    main()
