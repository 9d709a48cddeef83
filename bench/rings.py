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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fixtures.generator import generate
from fixtures.graph_export import export_from_columns
from fixtures.mix import TYPOLOGIES
from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.export import GraphExport
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer
from tianwang.rings.detection import find_communities
from tianwang.rings.job import DetectedRing, RingReport, detect_rings, detect_rings_in_export
from tianwang.rings.projection import Projection, project
from tianwang.rings.statistics import ring_statistics

SECRET = b"tianwang-bench-secret-0123456789abcdef"
RING_TYPOLOGIES = ("cash_out_ring", "dealer_collusion", "synthetic_identity")


def _until(export: GraphExport, moment: float) -> GraphExport:
    """The export as it stood at ``moment`` (relationships up to then; nodes kept, unlinked ones are inert)."""
    seen = export.edge_at <= moment
    return GraphExport(export.node_label, export.node_key, export.edge_index[:, seen], export.edge_type[seen],
                       export.edge_at[seen])


def ring_quality(rings: Sequence[DetectedRing], application_ids: list[str], truth: Mapping[str, object],
                 threshold: float) -> dict[str, float | int]:
    """Recall per ring typology and over all planted rings, precision, and the counts behind them
    (as defined in the module docstring)."""
    position = {app_id: k for k, app_id in enumerate(application_ids)}
    caught = np.zeros(len(application_ids), dtype=bool)
    for ring in rings:
        if ring.risk >= threshold:
            caught[[position[a] for a in ring.application_ids]] = True
    typology = np.asarray(truth["typology"])
    in_true_ring = np.asarray(truth["ring"]) >= 0
    figures: dict[str, float | int] = {}
    everyone = np.zeros(len(application_ids), dtype=bool)
    for name in RING_TYPOLOGIES:
        members = in_true_ring & (typology == TYPOLOGIES.index(name) + 1)
        everyone |= members
        figures[f"recall {name}"] = float(caught[members].mean()) if members.any() else float("nan")
        figures[f"caught {name}"] = int(caught[members].sum())
        figures[f"members {name}"] = int(members.sum())
    figures["recall"] = float(caught[everyone].mean()) if everyone.any() else float("nan")
    flagged = int(caught.sum())
    figures["caught"] = flagged
    figures["precision"] = float((typology[caught] > 0).mean()) if flagged else float("nan")
    figures["ring precision"] = float(in_true_ring[caught].mean()) if flagged else float("nan")
    return figures


def quality(report: RingReport, application_ids: list[str], truth: Mapping[str, object], threshold: float) -> str:
    """Recall per ring typology and precision, as defined in the module docstring."""
    figures = ring_quality(report.rings, application_ids, truth, threshold)
    lines = [f"recall {name} {figures[f'recall {name}']:.3f} "
             f"({figures[f'caught {name}']}/{figures[f'members {name}']})" for name in RING_TYPOLOGIES]
    lines.append(f"precision {figures['precision']:.3f} (fraud of any typology; {figures['caught']} applications "
                 f"caught), {figures['ring precision']:.3f} counting only planted-ring members")
    return "; ".join(lines)


def louvain_beside_leiden(n: int, seed: int, threshold: float = 0.5) -> dict[str, float | int]:
    """Community detection by Leiden (:func:`~tianwang.rings.detection.find_communities`, what the
    job runs) and by networkx's Louvain on the same applicant projection of ``n`` generated
    applications, side by side: seconds of each and the ring recall each gives when its
    communities go through the same statistics and risk (:func:`ring_quality`).

    Leiden's seconds include building its igraph graph; Louvain's do not include building the
    networkx graph (``networkx_graph_s``, reported apart), so the ratio favours Louvain.
    """
    import networkx as nx

    export, truth = export_from_columns(n, seed)
    projection = project(export)
    started = time.perf_counter()
    leiden = find_communities(projection)
    leiden_s = time.perf_counter() - started
    started = time.perf_counter()
    graph = nx.Graph()
    graph.add_weighted_edges_from(zip(projection.source.tolist(), projection.target.tolist(),
                                      projection.weight.tolist(), strict=True))
    graph_s = time.perf_counter() - started
    started = time.perf_counter()
    communities = nx.community.louvain_communities(graph, weight="weight", resolution=1.0, seed=seed)
    louvain_s = time.perf_counter() - started
    louvain = np.full(projection.attributes.num_applicants, -1, dtype=np.int64)
    for number, members in enumerate(communities):
        louvain[list(members)] = number
    app_ids = [f"APP-{k + 1:08d}" for k in range(n)]
    figures: dict[str, float | int] = {"applicants": projection.attributes.num_applicants,
                                       "links": projection.num_links, "leiden_s": leiden_s,
                                       "louvain_s": louvain_s, "networkx_graph_s": graph_s,
                                       "speedup": louvain_s / leiden_s if leiden_s > 0 else float("inf")}
    for name, community in (("leiden", leiden), ("louvain", louvain)):
        rings = _rings_of(export, projection, community)
        quality_figures = ring_quality(rings, app_ids, truth, threshold)
        figures[f"{name}_rings"] = len(rings)
        figures[f"{name}_recall"] = quality_figures["recall"]
        figures[f"{name}_precision"] = quality_figures["precision"]
    return figures


def _rings_of(export: GraphExport, projection: Projection, community: npt.NDArray[np.int64]) -> list[DetectedRing]:
    """The rings (with statistics and risk) of communities found by any algorithm, ids left blank."""
    found = projection.attributes
    keys = export.node_key
    return [DetectedRing("", tuple(keys[found.applicants[i]] for i in s.members.tolist()),
                         tuple(keys[found.applications[j]] for j in s.applications.tolist()), s)
            for s in ring_statistics(export, projection, community)]


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
