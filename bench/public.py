"""Results on the public data sets: Tolokers (10 standard splits) and S-FFSD (the usual split).

    python bench/public.py [--data-dir DIR] [--seed 0] [--dataset tolokers|s-ffsd ...]

Runs :func:`embeddings.public_eval.evaluate_public` on each data set and prints per
split and overall test AUROC and AUPRC (mean ± std over the splits), macro F1 at the
0.5 threshold, the wall time, and the published best for comparison. About a minute
on two CPU cores.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embeddings.public_eval import DATASETS, evaluate_public

PUBLISHED = {
    "tolokers": "published best AUROC 0.8378 (GAT-sep, Platonov et al. 2023)",
    "s-ffsd": "published best AUROC 0.8461 / F1 0.7513 / AP 0.6939 (RGTAN)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder of the data files (default: settings)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", action="append", choices=DATASETS, help="repeat to pick; default both")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for dataset in args.dataset or DATASETS:
        result = evaluate_public(dataset, seed=args.seed, data_dir=args.data_dir)
        print(f"== {dataset}: {result.model}")
        for split in result.splits:
            print(f"   split {split.split}: AUROC {split.auroc:.4f}  AUPRC {split.auprc:.4f}  F1-macro {split.f1:.4f}")
        print(f"   {result.summary()}")
        print(f"   {PUBLISHED[dataset]}")


if __name__ == "__main__":
    main()
