"""What planted rings leave to be caught: the ceiling of ring recall on generated data.

    python bench/ring_ceiling.py [--applications 100000] [--seeds 11,12,13] [--pad-days 7] [--threshold 0.5]
                                 [--instrumented-collusion] [--difficulty easy|hard]

Per seed it answers two questions, and prints the figures of ``bench/rings.py`` beside them
(caught: in a detected ring whose risk is at least ``--threshold``; precision: caught
applications that are fraud of any typology).

1. **Linked members.** Which members of a planted ring are linked to planted rings at all:
   their applicant shares, with a member of a planted ring (its own, or another run by the
   same people: a colluding dealer's rings share its sales manager's phone), an attribute
   the ring projection uses (a phone, contact, address, account, device, driver, employer,
   within its hub limit) or an inflated-deal window. A member that is not linked can only
   join a ring through legitimate applicants, so the share of linked members bounds the
   recall of ``tianwang rings detect`` at any useful precision.

2. **What the unlinked dealer-collusion members still show:** their colluding dealer, their
   ring's time window, and weak deal terms: a down payment at the 15 % floor, no VIN yet,
   a declared income over 1.5 times the median of the same occupation and city, an
   inflated price. Candidates are the applications not caught, at the main dealer of a
   caught ring (half or more of its applications), within the ring's time span widened by
   ``--pad-days``. An *oracle* that knows the labels sorts the sixteen combinations of the
   four terms by their share of collusion members among the candidates and adds them to
   the caught set, best first. The recall and precision it passes through are the best
   any attachment by these signals can do: a real detector does not know which
   combinations are best, and has no better evidence than these terms.

``--instrumented-collusion`` asks what the figures would be if the generator gave every
collusion member at least one of the dealer's instruments (an inflated price, the dealer's
associate as driver, the sales manager's phone as contact; by default about 15 % carry
none of them). It is a what-if, not the data the other benchmarks use.
"""

from __future__ import annotations

import argparse

import numpy as np
import numpy.typing as npt

from fixtures.difficulty import DIFFICULTIES, difficulty_named
from fixtures.generator import build_traffic
from fixtures.graph_export import export_from_traffic
from fixtures.mix import TYPOLOGIES, FraudMix
from tianwang.rings.job import detect_rings_in_export
from tianwang.rings.projection import Projection, project

RING_TYPOLOGIES = ("cash_out_ring", "dealer_collusion", "synthetic_identity")
DAY = 86_400.0
TERMS = ("15% down", "no VIN", "income >1.5x median", "inflated price")


def linked_members(projection: Projection, app_of: npt.NDArray[np.int64], ring: npt.NDArray[np.int64]) -> np.ndarray:
    """Whether each application is in a planted ring and its applicant has a projection link to another member.

    ``app_of[j]`` is the application number of the projection's application ``j``.
    """
    found = projection.attributes
    ring_of_applicant = np.full(found.num_applicants, -1, dtype=np.int64)
    np.maximum.at(ring_of_applicant, found.applicant_of, ring[app_of])
    s, t = ring_of_applicant[projection.source], ring_of_applicant[projection.target]
    fellow = (s >= 0) & (t >= 0)
    linked_applicant = np.zeros(found.num_applicants, dtype=bool)
    linked_applicant[projection.source[fellow]] = True
    linked_applicant[projection.target[fellow]] = True
    linked = np.zeros(len(ring), dtype=bool)
    linked[app_of] = linked_applicant[found.applicant_of]
    return linked & (ring >= 0)


def run(n: int, seed: int, pad_days: float, threshold: float, instrumented: bool = False,
        difficulty: str = "easy") -> None:
    traffic = build_traffic(n, seed, FraudMix(), collusion_instrumented=instrumented,
                            difficulty=difficulty_named(difficulty))
    export, truth = export_from_traffic(traffic)
    f, order = traffic.frame, traffic.order
    typology, ring = np.asarray(truth["typology"]), np.asarray(truth["ring"])
    fraud = typology > 0
    report = detect_rings_in_export(export)
    position = {f"APP-{k + 1:08d}": k for k in range(n)}
    dealer, at = f.dealer[order], f.ts[order].astype(np.float64)
    caught = np.zeros(n, dtype=bool)
    spans = []
    for detected in report.rings:
        if detected.statistics.risk < threshold:
            continue
        rows = np.array([position[a] for a in detected.application_ids])
        caught[rows] = True
        dealers, counts = np.unique(dealer[rows], return_counts=True)
        if counts.max() * 2 >= len(rows):
            spans.append((dealers[counts.argmax()], at[rows].min() - pad_days * DAY, at[rows].max() + pad_days * DAY))
    projection = project(export)
    found = projection.attributes
    app_of = np.array([position[export.node_key[node]] for node in found.applications])
    linked = linked_members(projection, app_of, ring)

    print(f"{n:,} applications, seed {seed}: {int(caught.sum()):,} caught, precision {fraud[caught].mean():.3f}")
    for name in RING_TYPOLOGIES:
        members = (ring >= 0) & (typology == TYPOLOGIES.index(name) + 1)
        of_linked = caught[members & linked].sum() / max(1, linked[members].sum())
        print(f"  {name:<19} {int(members.sum()):5,} members: linked {linked[members].mean():.3f}, "
              f"caught {caught[members].mean():.3f} ({of_linked:.3f} of the linked, "
              f"{caught[members & ~linked].sum()} unlinked caught)")

    collusion = (ring >= 0) & (typology == TYPOLOGIES.index("dealer_collusion") + 1)
    candidate = np.zeros(n, dtype=bool)
    for d, start, end in spans:
        candidate |= (dealer == d) & (at >= start) & (at <= end)
    candidate &= ~caught
    missed = collusion & ~caught
    income = f.income[order]
    group = f.occupation[order] * 10_000 + f.city[order]
    _, inverse, size = np.unique(group, return_inverse=True, return_counts=True)
    by_group = np.lexsort((income, inverse))
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    median = (income[by_group[first + (size - 1) // 2]] + income[by_group[first + size // 2]]) / 2
    inflated = np.zeros(n, dtype=bool)
    inflated[app_of[found.inflated]] = True
    terms = np.column_stack([
        f.down[order] <= 0.155 * f.price[order],
        f.vin[order] == "",
        income > 1.5 * median[inverse],
        inflated,
    ])
    combo = terms.astype(np.int64) @ (1 << np.arange(len(TERMS)))
    print(f"  dealer_collusion members not caught: {int(missed.sum())}, of them {int((missed & candidate).sum())} at "
          f"a caught ring's dealer within its span +-{pad_days:g} days, among {int(candidate.sum()):,} candidates "
          f"({int((candidate & ~fraud).sum()):,} legitimate)")
    share = [(collusion[candidate & (combo == c)].sum() / max(1, (candidate & (combo == c)).sum()), c)
             for c in range(1 << len(TERMS))]
    total, hits, flagged, good = int(collusion.sum()), int((collusion & caught).sum()), int(caught.sum()), int(
        (fraud & caught).sum())
    best = hits / total
    print("  oracle attachment, best combinations first: recall of dealer_collusion, precision of all caught")
    for _, c in sorted(share, reverse=True):
        chosen = candidate & (combo == c)
        if not chosen.any():
            continue
        hits += int(collusion[chosen].sum())
        flagged += int(chosen.sum())
        good += int(fraud[chosen].sum())
        if good / flagged >= 0.9:
            best = hits / total
        names = " & ".join(t for k, t in enumerate(TERMS) if c >> k & 1) or "none of the terms"
        print(f"    + {names:<55} {int(collusion[chosen].sum()):4} members {int((chosen & ~collusion).sum()):5,} others"
              f" -> recall {hits / total:.3f}, precision {good / flagged:.3f}")
    print(f"  best dealer_collusion recall with precision >= 0.90: {best:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--seeds", default="11,12,13")
    parser.add_argument("--pad-days", type=float, default=7.0)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--instrumented-collusion", action="store_true",
                        help="what-if: every collusion member carries one of its ring's instruments")
    parser.add_argument("--difficulty", choices=list(DIFFICULTIES), default="easy",
                        help="the generator's difficulty (fixtures/difficulty.py)")
    args = parser.parse_args()
    for seed in (int(s) for s in args.seeds.split(",")):
        run(args.applications, seed, args.pad_days, args.threshold, args.instrumented_collusion, args.difficulty)


if __name__ == "__main__":
    main()
