"""What the graph models add: the ensemble with and without the ring, GNN and similarity detectors.

    python bench/ensemble.py --applications A.ndjson --labels L.ndjson [--config C.yaml] [--json OUT]

Runs ``tianwang evaluate``'s backtest twice on the same files: once with the shipped
configuration (or ``--config``), once with the graph-model detectors (``fraud_ring``,
``gnn_ring``, ``known_fraud_similarity``, whichever the configuration has) turned
``off``, and prints AUROC, AUPRC, recall at 1 % FPR and the recall per typology of both
runs side by side. Everything else (strategies, learned weights, thresholds) is the same.
Without files it generates 50,000 applications with ``--seed`` (default 2026, a seed
no detector was tuned on).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors.registry import DetectorRegistry
from fixtures.generator import generate
from tianwang.backtest import BacktestReport, run_backtest
from tianwang.scoring.config import DEFAULT_CONFIG_PATH, parse_config

GRAPH_MODELS = ("fraud_ring", "gnn_ring", "known_fraud_similarity")


def _run(data: dict[str, Any], applications: Path, labels: Path, fraction: float) -> tuple[BacktestReport, float]:
    loaded = parse_config(yaml.safe_dump(data), DetectorRegistry.builtin())
    started = time.perf_counter()
    report = run_backtest(applications, labels, loaded, train_fraction=fraction)
    return report, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--applications", type=Path)
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    parser.add_argument("--train-fraction", type=float, default=0.6)
    parser.add_argument("--generate", type=int, default=50_000, help="applications to generate without files")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, help="write both reports here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tianwang-ensemble-") as tmp:
        applications, labels = args.applications, args.labels
        if applications is None or labels is None:
            summary = generate(args.generate, args.seed, Path(tmp))
            applications, labels = summary.applications_path, summary.labels_path
        full = yaml.safe_load(args.config.read_text())
        present = [name for name in GRAPH_MODELS if name in full["detectors"]]
        without = json.loads(json.dumps(full))
        for name in present:
            without["detectors"][name]["mode"] = "off"
        runs = {"without graph models": _run(without, applications, labels, args.train_fraction),
                f"with {', '.join(present)}": _run(full, applications, labels, args.train_fraction)}
    names = list(runs)
    print(f"{'':<44}" + "".join(f"{n:>52}" for n in names))
    rows = [("AUROC", lambda r: r.auroc), ("AUPRC", lambda r: r.auprc),
            ("recall at 1 % FPR", lambda r: r.recall_at_1pct_fpr),
            ("legitimate sent to review or reject", lambda r: r.legit_flagged_rate),
            ("latency p99 (ms)", lambda r: r.latency_ms["p99"])]
    typologies = sorted({t for report, _ in runs.values() for t in report.per_typology})
    rows += [(f"{t}: recall in review or reject", lambda r, t=t: r.per_typology.get(t, float("nan")))
             for t in typologies]
    rows += [("seconds", None)]
    for label, get in rows:
        cells = [f"{secs:>52.0f}" if get is None else f"{get(report):>52.4f}" for report, secs in runs.values()]
        print(f"{label:<44}" + "".join(cells))
    if args.json is not None:
        args.json.write_text(json.dumps({n: {**r.as_json(), "fit": r.fit} for n, (r, _) in runs.items()},
                                        indent=1, default=str))


if __name__ == "__main__":
    main()
