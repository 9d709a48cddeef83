"""Fit the ring risk weights (tianwang.rings.statistics.RISK_WEIGHTS) and check them on other seeds.

    python bench/fit_ring_risk.py [--applications 100000] [--fit-seed 11] [--check-seeds 12,13]

Rings are found on generated traffic (the graph built from the generator's columns, as in
``bench/rings.py``) with no labels given to the job. Each ring becomes two weighted rows
of a logistic regression: "fraud" weighted by its fraud applications and "legit"
weighted by its legitimate ones, so a ring counts by its applications. The features are
those :func:`~tianwang.rings.statistics.ring_risk` takes, less the confirmed-fraud share
(no labels, so always 0 here: its weight is set by hand). The script prints the fitted
weights, rounded as they go into ``RISK_WEIGHTS``, then recall and precision at risk 0.5
(as ``bench/rings.py`` defines them) with the fitted weights and with the shipped ones,
for the fitting seed and each check seed.

Needs scikit-learn (a dev dependency).
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression

from fixtures.graph_export import export_from_columns
from fixtures.mix import TYPOLOGIES
from tianwang.rings.job import detect_rings_in_export
from tianwang.rings.statistics import RISK_WEIGHTS

FEATURES = (
    "log2_size",
    "strong_member_share",
    "burst_share",
    "top_dealer_share",
    "repeat_applicants",
    "density",
    "inflated_share",
)


def rings_of(n: int, seed: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """Features per ring, each ring's application positions, and the truth (typology, ring) per application."""
    export, truth = export_from_columns(n, seed)
    report = detect_rings_in_export(export)
    position = {f"APP-{k + 1:08d}": k for k in range(n)}
    rows, members = [], []
    for ring in report.rings:
        s = ring.statistics
        rows.append([
            np.log2(s.size), s.strong_member_share, s.burst_share, s.top_dealer_share,
            float(s.num_applications >= 1.5 * s.size), s.density, s.inflated_share,
        ])
        members.append(np.array([position[a] for a in ring.application_ids]))
    return np.array(rows), members, np.asarray(truth["typology"]), np.asarray(truth["ring"])


def quality(risk: np.ndarray, members: list[np.ndarray], typology: np.ndarray, ring: np.ndarray) -> str:
    caught = np.zeros(len(typology), dtype=bool)
    for r, m in zip(risk, members, strict=True):
        if r >= 0.5:
            caught[m] = True
    parts = []
    for name in ("cash_out_ring", "dealer_collusion"):
        planted = (typology == TYPOLOGIES.index(name) + 1) & (ring >= 0)
        parts.append(f"{name} recall {caught[planted].mean():.3f}")
    parts.append(f"precision {(typology[caught] > 0).mean():.3f}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--fit-seed", type=int, default=11)
    parser.add_argument("--check-seeds", default="12,13")
    args = parser.parse_args()
    fit_data = rings_of(args.applications, args.fit_seed)
    x, members, typology, _ = fit_data
    fraud = np.array([(typology[m] > 0).sum() for m in members], dtype=np.float64)
    legit = np.array([len(m) for m in members], dtype=np.float64) - fraud
    model = LogisticRegression(C=100.0, max_iter=10_000).fit(
        np.vstack([x, x]), np.r_[np.ones(len(x)), np.zeros(len(x))], sample_weight=np.r_[fraud, legit]
    )
    fitted = {"bias": round(float(model.intercept_[0]), 1)}
    fitted.update({name: round(float(w), 1) for name, w in zip(FEATURES, model.coef_[0], strict=True)})
    print(f"fitted on {len(x):,} rings of {args.applications:,} applications (seed {args.fit_seed}):")
    print("  " + ", ".join(f"{k} {v}" for k, v in fitted.items()))

    def risk(weights: dict[str, float], features: np.ndarray) -> np.ndarray:
        z = weights["bias"] + features @ np.array([weights[name] for name in FEATURES])
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    for seed in [args.fit_seed, *(int(s) for s in args.check_seeds.split(",") if s)]:
        x, members, typology, ring = fit_data if seed == args.fit_seed else rings_of(args.applications, seed)
        print(f"seed {seed}: fitted  {quality(risk(fitted, x), members, typology, ring)}")
        print(f"seed {seed}: shipped {quality(risk(RISK_WEIGHTS, x), members, typology, ring)}")


if __name__ == "__main__":
    main()
