"""Quality floor on generated data, on the column export of the generator (no store: fast)."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.graph_export import export_from_columns
from fixtures.mix import TYPOLOGIES
from tianwang.rings import detect_rings_in_export

N, SEED, THRESHOLD = 30_000, 5, 0.5


@pytest.fixture(scope="module")
def caught() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    export, truth = export_from_columns(N, SEED)
    report = detect_rings_in_export(export)
    flagged = np.zeros(N, dtype=bool)
    for ring in report.rings:
        if ring.risk >= THRESHOLD:
            flagged[[int(a[4:]) - 1 for a in ring.application_ids]] = True
    # a rerun on the same graph keeps every ring id
    rerun = detect_rings_in_export(export, previous={r.ring_id: r.members for r in report.rings})
    assert rerun.new_ids == 0 and [r.ring_id for r in rerun.rings] == [r.ring_id for r in report.rings]
    return flagged, truth


def _recall(flagged: np.ndarray, truth: dict[str, np.ndarray], typology: str) -> float:
    members = (truth["ring"] >= 0) & (truth["typology"] == TYPOLOGIES.index(typology) + 1)
    return float(flagged[members].mean())


def test_cash_out_rings_are_caught(caught: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    flagged, truth = caught
    assert _recall(flagged, truth, "cash_out_ring") >= 0.85


def test_dealer_collusion_floor(caught: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    # Members that share nothing with their ring but the (hub) dealer cannot be linked
    # (15 % of them carry none of the dealer's instruments). 0.894 is measured here
    # (0.82-0.84 at 100k, seeds 11-13, bench/rings.py); this is the floor we hold.
    flagged, truth = caught
    assert _recall(flagged, truth, "dealer_collusion") >= 0.85


def test_precision(caught: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    flagged, truth = caught
    assert float((truth["typology"][flagged] > 0).mean()) >= 0.8
