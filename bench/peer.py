"""The flat-GBDT peer: what a practitioner builds in an afternoon, on the split of ``tianwang evaluate``.

    python bench/peer.py --applications A.ndjson --labels L.ndjson [--train-fraction 0.6]
                         [--outcomes O.ndjson] [--tianwang | --tianwang-json EVAL.json] [--json OUT.json]

A LightGBM classifier over the flat fields of each application (identity checks, income,
loan, vehicle, bureau, document metadata, dealer) plus point-in-time link counts: for
each of phone, device, emergency-contact phone, address, bank account, driver (the
vehicle user's id) and id number, how many EARLIER applications share it, and how many
of those were confirmed fraud. Only labels of the training period count as confirmed:
the model never sees a label from the scored period, and an application never counts
itself or a later one.

With ``--outcomes`` (what ``tianwang evaluate --outcomes`` replays), a first-payment default
also confirms an earlier application as fraud from the end of the day it was observed:
for every application, funded or not (the peer makes no decisions), which is more than
Tianwang's replay learns (only the loans it approved).

The split is the one of :func:`tianwang.backtest.run_backtest`: labelled applications
in ``(submitted_at, application_id)`` order, the earliest ``--train-fraction`` train,
the rest are scored. It prints AUROC, AUPRC and recall at 1 % FPR, and per typology the
recall at the threshold that gives 1 % FPR overall (the peer has no bands).

``--tianwang`` also runs ``tianwang evaluate`` on the same files (a subprocess with
``--json``; several minutes at 20,000 applications), ``--tianwang-json`` reads the JSON
of such a run instead; both print the two side by side with the difference per metric
and per typology. Tianwang's per-typology figure is the share reaching review or
reject, so the operating points differ a little (Tianwang sends its own share of
legitimate traffic to review, the peer 1 %).

LightGBM comes with Tianwang itself (the ``graph_evidence`` detector is built on it); the peer
adds nothing to the runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tianwang.application import Application
from tianwang.backtest import Label, read_applications, read_labels, read_outcomes
from tianwang.outcomes import counts_as_fraud
from tianwang.stats import auprc, auroc, recall_at_fpr

__all__ = ["LINK_KINDS", "PeerResult", "flat_features", "fraud_known_from", "link_counts", "link_keys",
           "point_in_time_links", "run_peer", "split"]

#: The attributes whose earlier sharers are counted, in feature order.
LINK_KINDS = ("phone", "device", "contact", "address", "account", "driver", "id_number")

_MVNO = ("170", "171", "162", "165", "167")
_CATEGORICAL = ("dealer", "channel", "product", "statement_producer", "statement_template", "statement_issuer",
                "brand")
FloatArray = npt.NDArray[np.float64]


def link_keys(app: Application) -> dict[str, tuple[str, ...]]:
    """The values of each link kind of one application (empty where it has none)."""
    a = app.applicant

    def one(value: str | None) -> tuple[str, ...]:
        return (value,) if value else ()

    return {
        "phone": one(a.phone),
        "device": one(a.device_id),
        "contact": tuple(sorted({c.phone for c in a.emergency_contacts})),
        "address": one(a.address),
        "account": one(a.bank_account),
        "driver": one(app.vehicle.user_id_number),
        "id_number": one(a.id_number),
    }


def link_counts(keys: Sequence[dict[str, tuple[str, ...]]], confirmed: npt.ArrayLike, *,
                confirmed_from: npt.ArrayLike | None = None,
                at: npt.ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
    """Point-in-time counts, applications in submission order.

    Returns ``(shared, fraud)``, each ``len(keys) x len(LINK_KINDS)``: for application
    ``i`` and kind ``k``, how many applications before ``i`` share a value of kind ``k``
    with it (an earlier application sharing two contacts counts twice), and how many of
    those are ``confirmed`` fraud, or known as fraud by ``i``'s time: ``confirmed_from[j]
    <= at[i]`` (timestamps; both or neither given).
    """
    confirmed = np.asarray(confirmed, dtype=bool)
    n = len(keys)
    since = np.full(n, np.inf) if confirmed_from is None else np.asarray(confirmed_from, dtype=np.float64)
    since = np.where(confirmed, -np.inf, since)
    when = np.zeros(n) if at is None else np.asarray(at, dtype=np.float64)
    shared = np.zeros((n, len(LINK_KINDS)))
    fraud = np.zeros((n, len(LINK_KINDS)))
    seen: list[dict[str, list[float]]] = [{} for _ in LINK_KINDS]  # value -> confirmed-from time of each sharer
    for i, app_keys in enumerate(keys):
        for k, kind in enumerate(LINK_KINDS):
            for value in app_keys[kind]:
                sharers = seen[k].get(value)
                if sharers is not None:
                    shared[i, k] += len(sharers)
                    fraud[i, k] += sum(1 for t in sharers if t <= when[i])
        for k, kind in enumerate(LINK_KINDS):  # only now: an application never counts itself
            for value in app_keys[kind]:
                seen[k].setdefault(value, []).append(float(since[i]))
    return shared, fraud


def point_in_time_links(ordered: Sequence[Application], labels: dict[str, Label], train: npt.ArrayLike,
                        fraud_known_from: dict[str, float] | None = None) -> tuple[FloatArray, FloatArray]:
    """:func:`link_counts` of applications in submission order, with confirmed fraud only
    among the training period's (``train``) labelled applications, and from ``fraud_known_from``
    (application id -> timestamp: a first-payment default known) for the others."""
    fraud = np.array([(lab := labels.get(a.application_id)) is not None and lab.fraud for a in ordered], dtype=bool)
    known = fraud_known_from or {}
    return link_counts([link_keys(a) for a in ordered], fraud & np.asarray(train, dtype=bool),
                       confirmed_from=[known.get(a.application_id, np.inf) for a in ordered],
                       at=[a.submitted_ts for a in ordered])


def fraud_known_from(outcomes_path: Path) -> dict[str, float]:
    """When each application became known as fraud from its repayment outcomes (a first-payment default)."""
    known: dict[str, float] = {}
    for outcome in read_outcomes(Path(outcomes_path)):
        if counts_as_fraud(outcome.kind):
            known.setdefault(outcome.application_id, outcome.known_ts)
    return known


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def flat_features(app: Application) -> dict[str, Any]:
    """The flat fields of one application as numbers (NaN when absent); categorical ones as strings."""
    a, loan, veh, cr = app.applicant, app.loan, app.vehicle, app.credit
    docs = {d.type: d for d in app.documents}
    st, pr = docs.get("bank_statement"), docs.get("income_proof")
    nan = float("nan")
    salary = (st.salary_deposits or []) if st else []
    deposits = (st.monthly_deposits or []) if st else []
    submitted = app.submitted_at
    statement_times = st is not None and st.created_at is not None and st.modified_at is not None
    return {
        "dealer": app.dealer_id, "channel": app.channel, "product": loan.product, "brand": veh.brand,
        "statement_producer": (st.producer or "") if st else "", "statement_template": (st.template_id or "") if st
        else "", "statement_issuer": (st.issuer_name or "") if st else "",
        "hour": submitted.hour, "weekday": submitted.weekday(),
        "age": (submitted.date() - app.birth_date).days / 365.25, "sex": int(a.id_number[16]) % 2,
        "face": a.face_match_score if a.face_match_score is not None else nan,
        "liveness": nan if a.liveness_passed is None else float(a.liveness_passed),
        "reg_phone_missing": float(a.id_registered_phone is None),
        "phone_not_registered": nan if a.id_registered_phone is None else float(a.id_registered_phone != a.phone),
        "mvno_phone": float(a.phone[:3] in _MVNO),
        "device_missing": float(a.device_id is None), "ip_missing": float(a.ip is None),
        "account_missing": float(a.bank_account is None), "n_contacts": len(a.emergency_contacts),
        "landline_contacts": sum(c.phone.startswith("0") for c in a.emergency_contacts),
        "credit_code_missing": float(a.employer.credit_code is None),
        "si_missing": float(a.employer.social_insurance_employer is None),
        "si_differs": float(a.employer.social_insurance_employer not in (None, a.employer.name)),
        "income": a.monthly_income, "price": loan.vehicle_price, "down": loan.down_payment, "amount": loan.amount,
        "term": loan.term_months, "rate": loan.annual_rate, "down_share": loan.down_payment / loan.vehicle_price,
        "loan_to_income": _ratio(loan.amount, 12 * a.monthly_income), "is_new": float(veh.is_new),
        "vin_missing": float(veh.vin is None), "user_present": float(veh.user_id_number is not None),
        "user_differs": float(veh.user_id_number not in (None, a.id_number)),
        "inquiries": cr.inquiries_3m, "open_loans": cr.open_loans, "cards": cr.credit_cards,
        "card_limit": cr.card_limit_total, "card_used": cr.card_used_total, "debt": cr.monthly_debt_payments,
        "delinquency": cr.worst_delinquency_days, "bureau": cr.bureau_score if cr.bureau_score is not None else nan,
        "utilisation": _ratio(cr.card_used_total, cr.card_limit_total),
        "debt_to_income": _ratio(cr.monthly_debt_payments, a.monthly_income),
        "n_documents": len(app.documents), "has_statement": float(st is not None), "has_proof": float(pr is not None),
        "has_id_card": float("id_card" in docs),
        "statement_edit_hours": (st.modified_at - st.created_at).total_seconds() / 3600  # type: ignore[operator,union-attr]
        if statement_times else nan,
        "statement_age_days": (submitted - st.created_at).total_seconds() / 86400  # type: ignore[operator,union-attr]
        if statement_times else nan,
        "income_over_salary": _ratio(a.monthly_income, float(np.mean(salary))) if salary else nan,
        "n_salary": len(salary), "round_deposits": float(bool(deposits) and all(d % 1000 == 0 for d in deposits)),
        "deposit_cv": float(np.std(deposits) / np.mean(deposits)) if deposits and np.mean(deposits) > 0 else nan,
        "income_over_deposits": _ratio(a.monthly_income, float(np.mean(deposits))) if deposits else nan,
        "seal_differs": float(pr is not None and pr.seal_company not in (None, a.employer.name)),
        "stated_over_income": _ratio(pr.stated_monthly_income, a.monthly_income)
        if pr is not None and pr.stated_monthly_income is not None else nan,
    }


def split(applications: Sequence[Application], labels: dict[str, Label],
          train_fraction: float) -> tuple[list[Application], npt.NDArray[np.bool_]]:
    """Applications in submission order and whether each is in the training period.

    The cut is :func:`tianwang.backtest.run_backtest`'s: the earliest ``train_fraction``
    of the labelled applications; unlabelled ones before the cut are in the period too.
    """
    ordered = sorted(applications, key=lambda a: (a.submitted_ts, a.application_id))
    labelled = [a for a in ordered if a.application_id in labels]
    n_train = int(len(labelled) * train_fraction)
    if not n_train:
        return ordered, np.zeros(len(ordered), dtype=bool)
    cutoff = (labelled[n_train - 1].submitted_ts, labelled[n_train - 1].application_id)
    return ordered, np.array([(a.submitted_ts, a.application_id) <= cutoff for a in ordered], dtype=bool)


@dataclass
class PeerResult:
    """The peer's figures on the scored period."""

    auroc: float
    auprc: float
    recall_at_1pct_fpr: float
    per_typology: dict[str, float]  #: recall at the threshold giving 1 % FPR overall
    n_trained: int
    n_scored: int
    seconds: float
    top_features: list[tuple[str, float]]

    def as_json(self) -> dict[str, Any]:
        return {"auroc": self.auroc, "auprc": self.auprc, "recall_at_1pct_fpr": self.recall_at_1pct_fpr,
                "per_typology": self.per_typology, "n_trained": self.n_trained, "n_scored": self.n_scored}


def _matrix(rows: list[dict[str, Any]], train: npt.NDArray[np.bool_]) -> tuple[FloatArray, list[str]]:
    names = list(rows[0])
    matrix = np.full((len(rows), len(names)), np.nan)
    for j, name in enumerate(names):
        column = [r[name] for r in rows]
        if name in _CATEGORICAL:  # codes from the training period; unseen values are missing
            vocabulary = {v: c for c, v in enumerate(sorted({v for v, t in zip(column, train, strict=True) if t}))}
            matrix[:, j] = [vocabulary.get(v, np.nan) for v in column]
        else:
            matrix[:, j] = np.asarray(column, dtype=np.float64)
    return matrix, names


def _recall_by_typology(y: npt.NDArray[np.bool_], score: FloatArray, typology: npt.NDArray[np.str_],
                        fpr: float = 0.01) -> dict[str, float]:
    negatives = np.sort(score[~y])[::-1]
    allowed = int(np.floor(fpr * len(negatives)))
    threshold = negatives[allowed] if allowed < len(negatives) else -np.inf  # as tianwang.stats.recall_at_fpr
    return {t: round(float(np.mean(score[typology == t] > threshold)), 4)
            for t in sorted(set(typology[y].tolist())) if t}


def run_peer(applications_path: Path, labels_path: Path, *, train_fraction: float = 0.6, seed: int = 0,
             threads: int = 1, outcomes_path: Path | None = None) -> PeerResult:
    """Fit the peer on the training period of the files and score the rest (with the outcomes known by then)."""
    import lightgbm

    started = time.perf_counter()
    applications, _ = read_applications(Path(applications_path))
    labels = read_labels(Path(labels_path))
    ordered, train = split(applications, labels, train_fraction)
    label = [labels.get(a.application_id) for a in ordered]
    fraud = np.array([lab is not None and lab.fraud for lab in label], dtype=bool)
    known = np.array([lab is not None for lab in label], dtype=bool)
    defaulted = fraud_known_from(outcomes_path) if outcomes_path is not None else None
    shared, confirmed = point_in_time_links(ordered, labels, train, defaulted)
    flat, names = _matrix([flat_features(a) for a in ordered], train)
    x = np.hstack([flat, shared, confirmed])
    names += [f"earlier_{k}" for k in LINK_KINDS] + [f"earlier_fraud_{k}" for k in LINK_KINDS]
    fit_rows, test_rows = train & known, ~train & known
    model = lightgbm.LGBMClassifier(n_estimators=400, learning_rate=0.05, num_leaves=31, min_child_samples=20,
                                    subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                                    n_jobs=threads, verbose=-1)
    categorical = [names.index(c) for c in _CATEGORICAL]
    model.fit(x[fit_rows], fraud[fit_rows], categorical_feature=categorical)
    score = np.asarray(model.predict_proba(x[test_rows]))[:, 1]
    y = fraud[test_rows]
    typology = np.array([(lab.typology or "") if lab is not None else "" for lab in label])[test_rows]
    gain = model.booster_.feature_importance(importance_type="gain")
    top = sorted(zip(names, (gain / max(gain.sum(), 1e-12)).tolist(), strict=True), key=lambda t: -t[1])[:12]
    return PeerResult(
        auroc=round(auroc(y, score), 4), auprc=round(auprc(y, score), 4),
        recall_at_1pct_fpr=round(recall_at_fpr(y, score, 0.01), 4),
        per_typology=_recall_by_typology(y, score, typology), n_trained=int(fit_rows.sum()),
        n_scored=int(test_rows.sum()), seconds=time.perf_counter() - started, top_features=top)


def run_tianwang(applications_path: Path, labels_path: Path, train_fraction: float,
                 outcomes_path: Path | None = None) -> dict[str, Any]:
    """``tianwang evaluate --json`` of this checkout on the same files, as a dict."""
    root = Path(__file__).resolve().parent.parent
    path = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path}
    with tempfile.TemporaryDirectory(prefix="tianwang-peer-") as folder:
        out = Path(folder) / "evaluate.json"
        subprocess.run([sys.executable, "-m", "tianwang.cli", "evaluate", "--applications", str(applications_path),
                        "--labels", str(labels_path), "--train-fraction", str(train_fraction), "--json", str(out),
                        *(["--outcomes", str(outcomes_path)] if outcomes_path is not None else [])],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        return dict(json.loads(out.read_text(encoding="utf-8")))


def side_by_side(peer: PeerResult, tianwang: dict[str, Any]) -> list[str]:
    """Lines comparing the peer with a ``tianwang evaluate`` JSON: value, value, Tianwang minus peer."""
    lines = [f"{'':34s} {'tianwang':>9s} {'peer':>9s} {'diff':>8s}"]
    for key, title in (("auroc", "AUROC"), ("auprc", "AUPRC"), ("recall_at_1pct_fpr", "recall at 1 % FPR")):
        ours, theirs = float(tianwang[key]), float(getattr(peer, key))
        lines.append(f"{title:34s} {ours:9.4f} {theirs:9.4f} {ours - theirs:+8.4f}")
    for name in sorted(set(peer.per_typology) | set(tianwang.get("per_typology", {}))):
        ours, theirs = tianwang.get("per_typology", {}).get(name, float("nan")), peer.per_typology.get(name,
                                                                                                      float("nan"))
        lines.append(f"{'  ' + name:34s} {ours:9.4f} {theirs:9.4f} {ours - theirs:+8.4f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--train-fraction", type=float, default=0.6)
    parser.add_argument("--outcomes", type=Path, help="repayment outcomes; first-payment defaults confirm fraud "
                                                      "from the day after they were observed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads (the machine may be shared)")
    parser.add_argument("--tianwang", action="store_true", help="also run tianwang evaluate on the same files")
    parser.add_argument("--tianwang-json", type=Path, help="the JSON of a tianwang evaluate run on the same files")
    parser.add_argument("--json", type=Path, help="write the peer's figures (and Tianwang's) to this file")
    args = parser.parse_args()
    if not 0.0 < args.train_fraction < 1.0:
        parser.error(f"--train-fraction must be in (0, 1), got: {args.train_fraction}")
    peer = run_peer(args.applications, args.labels, train_fraction=args.train_fraction, seed=args.seed,
                    threads=args.threads, outcomes_path=args.outcomes)
    print(f"peer (LightGBM, flat fields + point-in-time link counts): trained on {peer.n_trained}, "
          f"scored {peer.n_scored} in {peer.seconds:.1f} s")
    print(f"  AUROC {peer.auroc:.4f}  AUPRC {peer.auprc:.4f}  recall at 1 % FPR {peer.recall_at_1pct_fpr:.4f}")
    print("  recall per typology at the 1 % FPR threshold: "
          + ", ".join(f"{t} {r:.3f}" for t, r in peer.per_typology.items()))
    print("  top features by gain: " + ", ".join(f"{n} {g:.2f}" for n, g in peer.top_features[:8]))
    tianwang = None
    if args.tianwang_json is not None:
        tianwang = json.loads(args.tianwang_json.read_text(encoding="utf-8"))
    elif args.tianwang:
        tianwang = run_tianwang(args.applications, args.labels, args.train_fraction, args.outcomes)
    if tianwang is not None:
        print("tianwang evaluate vs peer (per typology: tianwang = share to review or reject, "
              "peer = recall at 1 % FPR)")
        print("\n".join(side_by_side(peer, tianwang)))
    if args.json is not None:
        args.json.write_text(json.dumps({"peer": peer.as_json(), "tianwang": tianwang}, indent=1) + "\n",
                             encoding="utf-8")


if __name__ == "__main__":
    main()
