"""Ring detection benchmark: time at 100k and 1M applications, and how well planted rings are caught.

    python bench/rings.py [--applications 100000,1000000] [--seed 11] [--store-at 100000] [--threshold 0.5]

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
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fixtures.frame import CONTACT_SLOTS
from fixtures.generator import build_traffic, generate
from fixtures.mix import TYPOLOGIES, FraudMix
from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType
from graph_schema.store import GraphExport
from tianwang.ingest import ingest_file
from tianwang.privacy import PersonalDataKeyer
from tianwang.rings.job import RingReport, detect_rings, detect_rings_in_export

SECRET = b"tianwang-bench-secret-0123456789abcdef"
RING_TYPOLOGIES = ("cash_out_ring", "dealer_collusion", "synthetic_identity")


class _Builder:
    """Nodes numbered label by label from the distinct values of each column."""

    def __init__(self) -> None:
        self.labels: list[npt.NDArray[np.int16]] = []
        self.keys: list[str] = []
        self.src: list[npt.NDArray[np.int64]] = []
        self.dst: list[npt.NDArray[np.int64]] = []
        self.types: list[npt.NDArray[np.int16]] = []
        self.at: list[npt.NDArray[np.float64]] = []

    def nodes(self, label: Label, values: npt.NDArray[np.generic]) -> npt.NDArray[np.int64]:
        """Node ids of ``values`` (one node per distinct value)."""
        distinct, inverse = np.unique(values, return_inverse=True)
        first = len(self.keys)
        prefix = label.lower()[:4]
        self.keys.extend(f"{prefix}-{k}" for k in range(len(distinct)))
        self.labels.append(np.full(len(distinct), NODE_TYPES[label].code, dtype=np.int16))
        return (first + inverse).astype(np.int64)

    def edges(self, rel: RelType, src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64],
              at: npt.NDArray[np.float64]) -> None:
        self.src.append(src)
        self.dst.append(dst)
        self.types.append(np.full(len(src), RELATIONSHIP_TYPES[rel].code, dtype=np.int16))
        self.at.append(at)

    def export(self) -> GraphExport:
        return GraphExport(
            node_label=np.concatenate(self.labels),
            node_key=self.keys,
            edge_index=np.vstack([np.concatenate(self.src), np.concatenate(self.dst)]),
            edge_type=np.concatenate(self.types),
            edge_at=np.concatenate(self.at),
        )


def export_from_columns(n: int, seed: int) -> tuple[GraphExport, dict[str, object]]:
    """The graph export of ``n`` generated applications, and the truth (typology and ring per application)."""
    traffic = build_traffic(n, seed, FraudMix())
    f, order = traffic.frame, traffic.order
    b = _Builder()
    at = f.ts[order].astype(np.float64)
    apps = np.arange(n, dtype=np.int64)
    b.labels.append(np.full(n, NODE_TYPES[Label.APPLICATION].code, dtype=np.int16))
    b.keys.extend(f"APP-{k + 1:08d}" for k in range(n))

    user = f.user_id[order]
    has_user = user != ""
    people = b.nodes(Label.PERSON, np.concatenate([f.id_number[order], user[has_user]]))
    b.edges(RelType.SUBMITTED, people[:n], apps, at)
    b.edges(RelType.VEHICLE_USER, apps[has_user], people[n:], at[has_user])

    count = f.contact_count[order]
    slots = [k for k in range(CONTACT_SLOTS)]
    contact = np.where(f.contact_landline[order], -f.contact_phone[order], f.contact_phone[order])
    listed = np.column_stack([count > k for k in slots])
    phones = b.nodes(Label.PHONE, np.concatenate([f.phone[order], contact[listed]]))
    b.edges(RelType.USES_PHONE, apps, phones[:n], at)
    owner = np.broadcast_to(apps[:, None], listed.shape)[listed]
    b.edges(RelType.LISTS_CONTACT, owner, phones[n:], at[owner])

    for label, rel, values, present in (
        (Label.ADDRESS, RelType.LIVES_AT, f.address[order].astype(str), None),
        (Label.BANK_ACCOUNT, RelType.PAYS_FROM, f.account[order], f.account[order] > 0),
        (Label.DEVICE, RelType.FROM_DEVICE, f.device[order], f.device[order] > 0),
        (Label.EMPLOYER, RelType.DECLARES_EMPLOYER, f.employer[order], None),
        (Label.DEALER, RelType.AT_DEALER, f.dealer[order], None),
        (Label.VEHICLE, RelType.FOR_VEHICLE, f.vin[order], f.vin[order] != ""),
    ):
        rows = apps if present is None else apps[present]
        b.edges(rel, rows, b.nodes(label, values[rows]), at[rows])
    truth = {"typology": f.typology[order], "ring": f.ring[order]}
    return b.export(), truth


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
    args = parser.parse_args()
    for n in (int(x) for x in args.applications.split(",")):
        started = time.perf_counter()
        export, truth = export_from_columns(n, args.seed)
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
