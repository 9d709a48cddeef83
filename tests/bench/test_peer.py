"""bench/peer.py: point-in-time link counts, the split of tianwang evaluate, and a quality floor."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bench.peer import LINK_KINDS, fraud_known_from, link_counts, point_in_time_links, run_peer, split
from fixtures.generator import generate
from tests.builders import application, mobile
from tianwang.application import parse_application
from tianwang.backtest import Label

_PHONE = LINK_KINDS.index("phone")
_CONTACT = LINK_KINDS.index("contact")


def _keys(phone: str = "", contacts: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    keys: dict[str, tuple[str, ...]] = {kind: () for kind in LINK_KINDS}
    keys["phone"] = (phone,) if phone else ()
    keys["contact"] = contacts
    return keys


def test_an_application_counts_only_earlier_ones_never_itself() -> None:
    keys = [_keys("A"), _keys("A", ("X",)), _keys("A"), _keys("B", ("X", "Y")), _keys("B")]
    shared, fraud = link_counts(keys, [True, False, True, True, False])
    assert shared[:, _PHONE].tolist() == [0, 1, 2, 0, 1]
    assert fraud[:, _PHONE].tolist() == [0, 1, 1, 0, 1]  # the first, confirmed, never counts itself
    assert shared[:, _CONTACT].tolist() == [0, 0, 0, 1, 0]
    assert fraud[:, _CONTACT].tolist() == [0, 0, 0, 0, 0]


def test_confirmed_fraud_comes_from_the_training_period_only() -> None:
    apps = [parse_application(application(n, **{"applicant.phone": mobile(7)})) for n in range(1, 7)]
    labels = {a.application_id: Label(a.application_id in ("APP-000002", "APP-000004"), None) for a in apps}
    ordered, train = split(list(reversed(apps)), labels, 0.5)
    assert [a.application_id for a in ordered] == [f"APP-{n:06d}" for n in range(1, 7)]
    assert train.tolist() == [True, True, True, False, False, False]  # as run_backtest cuts: int(6 * 0.5)
    shared, fraud = point_in_time_links(ordered, labels, train)
    assert shared[:, _PHONE].tolist() == [0, 1, 2, 3, 4, 5]
    assert fraud[:, _PHONE].tolist() == [0, 0, 1, 1, 1, 1]  # APP-000004's label is never known


def test_a_first_payment_default_confirms_fraud_from_when_it_is_known() -> None:
    apps = [parse_application(application(n, **{"applicant.phone": mobile(7)})) for n in range(1, 7)]
    labels = {a.application_id: Label(a.application_id in ("APP-000002", "APP-000004"), None) for a in apps}
    ordered, train = split(apps, labels, 0.5)
    at = [a.submitted_ts for a in ordered]
    # APP-000004 (scored period) defaults; known between the 5th and the 6th application
    _, fraud = point_in_time_links(ordered, labels, train, {"APP-000004": (at[4] + at[5]) / 2})
    assert fraud[:, _PHONE].tolist() == [0, 0, 1, 1, 1, 2]


def test_outcomes_file_gives_first_payment_defaults_only(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.ndjson"
    path.write_text('{"application_id": "A", "kind": "charge_off", "observed_on": "2025-03-01"}\n'
                    '{"application_id": "B", "kind": "first_payment_default", "observed_on": "2025-03-01"}\n')
    assert fraud_known_from(path) == {"B": 1740844800.0}  # the end of 1 March, +08:00


def test_the_peer_learns_the_easy_data(tmp_path: Path) -> None:
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but lightgbm is missing: scripts/bootstrap.sh installs the bench extra")
        pytest.skip("the peer needs the bench extra (lightgbm): pip install -e '.[bench]'")
    summary = generate(4000, 3, tmp_path)
    result = run_peer(summary.applications_path, summary.labels_path)
    assert result.n_trained == 2400 and result.n_scored == 1600
    assert result.auroc > 0.8 and np.isfinite(result.auprc)
    assert set(result.per_typology) <= set(summary.typology_counts)
