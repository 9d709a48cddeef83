"""Ring statistics and risk on hand-built projections whose every figure is known."""

from __future__ import annotations

import numpy as np
import pytest

from graph_schema.export import GraphExport
from graph_schema.schema import NODE_TYPES, Label
from tianwang.rings.links import LANDLINE, LANDLINE_CODE
from tianwang.rings.projection import ApplicantAttributes, Projection
from tianwang.rings.statistics import ring_risk, ring_shares, ring_statistics

DAY = 86_400.0
CODE = {label: NODE_TYPES[label].code for label in Label}

# Export nodes: applications 0-5, applicants 6-10, dealers 11-12, a mobile 13, a landline 14, an address 15.
KEYS = ["A0", "A1", "A2", "A3", "A4", "A5", "p0", "p1", "p2", "p3", "p4", "D1", "D2", "phone", "landline", "addr"]
LABELS = [CODE[Label.APPLICATION]] * 6 + [CODE[Label.PERSON]] * 5 + [CODE[Label.DEALER]] * 2 + [
    CODE[Label.PHONE], CODE[Label.PHONE], CODE[Label.ADDRESS]]


def _ring(landline_label: int = LANDLINE_CODE) -> tuple[GraphExport, Projection]:
    """Applicants 0-3 form a ring with five applications (applicant 0 applied twice, 50 days apart); applicant 4
    stands alone. 0 and 1 share a mobile, 2 and 3 a landline, 1 and 2 an address; application A2 is an inflated
    deal; four applications are at D1, one at D2; the projection links 0-1, 1-2 and 2-3."""
    export = GraphExport(np.array(LABELS, dtype=np.int16), KEYS, np.empty((2, 0), dtype=np.int64),
                         np.empty(0, dtype=np.int16), np.empty(0))
    attribute_label = np.array(LABELS, dtype=np.int16)
    attribute_label[14] = landline_label
    found = ApplicantAttributes(
        applicants=np.arange(6, 11),
        applications=np.arange(0, 6),
        applicant_of=np.array([0, 1, 2, 3, 0, 4]),
        submitted_at=np.array([0.0, 1.0, 2.0, 40.0, 50.0, 60.0]) * DAY,
        dealer_of=np.array([11, 11, 11, 12, 11, 11]),
        pair_applicant=np.array([0, 1, 1, 2, 2, 3]),
        pair_attribute=np.array([13, 13, 15, 14, 15, 14]),
        attribute_label=attribute_label,
        inflated=np.array([False, False, True, False, False, False]),
    )
    projection = Projection(found, np.array([0, 1, 2]), np.array([1, 2, 3]), np.ones(3), 3, 0)
    return export, projection


def test_a_hand_built_ring_has_the_statistics_counted_by_hand() -> None:
    export, projection = _ring()
    (ring,) = ring_statistics(export, projection, np.array([0, 0, 0, 0, 1]), labels={"A3": True})
    assert (ring.size, ring.num_applications) == (4, 5)
    assert ring.members.tolist() == [0, 1, 2, 3] and sorted(ring.applications.tolist()) == [0, 1, 2, 3, 4]
    assert ring.density == pytest.approx(3 / 6)  # 3 of the 6 pairs linked
    assert ring.strong_member_share == pytest.approx(2 / 4)  # the mobile's two; a landline is not strong
    assert ring.burst_share == pytest.approx(3 / 5)  # days 0, 1 and 2 within 21 days
    assert ring.top_dealer_share == pytest.approx(4 / 5) and ring.dealers == ["D1", "D2"] and ring.num_dealers == 2
    assert ring.inflated_share == pytest.approx(1 / 5)
    assert (ring.confirmed_fraud, ring.confirmed_fraud_share) == (1, pytest.approx(1 / 5))
    assert ring.shared == {"Phone": 1, "Address": 1, LANDLINE: 1}
    assert (ring.first_at, ring.last_at, ring.time_spread_days) == (0.0, 50 * DAY, 50.0)
    assert ring.risk == pytest.approx(float(ring_risk(4, 0.5, 0.6, 0.8, False, 0.5, 0.2, 0.2)))


def test_a_ring_sharing_a_landline_is_less_risky_than_one_sharing_a_mobile() -> None:
    export, landline = _ring()
    (weak,) = ring_statistics(export, landline, np.array([0, 0, 0, 0, 1]))
    export, mobile = _ring(landline_label=CODE[Label.PHONE])
    (strong,) = ring_statistics(export, mobile, np.array([0, 0, 0, 0, 1]))
    assert (weak.strong_member_share, strong.strong_member_share) == (0.5, 1.0)
    assert weak.risk < strong.risk


def test_communities_below_min_size_are_no_rings() -> None:
    export, projection = _ring()
    assert ring_statistics(export, projection, np.array([0, 0, 1, 1, 2])) == []
    assert len(ring_statistics(export, projection, np.array([0, 0, 1, 1, 2]), min_size=2)) == 2


def test_shares_are_capped_at_one_and_count_per_ring() -> None:
    found = ring_shares(size=[3, 2], applications=[3, 2], internal_links=[9, 1], strong_members=[5, 0],
                        top_dealer_applications=[3, 1], confirmed=[7, 0], inflated=[0, 2],
                        application_ring=np.array([0, 0, 0, 1, 1]),
                        application_times=np.array([0.0, 30.0, 60.0, 0.0, 1.0]) * DAY)
    assert found.density.tolist() == [1.0, 1.0]
    assert found.strong_member_share.tolist() == [1.0, 0.0]
    assert found.burst_share.tolist() == pytest.approx([1 / 3, 1.0])
    assert found.top_dealer_share.tolist() == pytest.approx([1.0, 0.5])
    assert found.confirmed_fraud_share.tolist() == [1.0, 0.0] and found.inflated_share.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(("name", "low", "high", "rises"), [
    ("size", 3, 12, True),
    ("strong_member_share", 0.0, 1.0, True),
    ("burst_share", 0.2, 1.0, True),
    ("top_dealer_share", 0.2, 1.0, True),
    ("repeat_applicants", False, True, False),
    ("density", 0.2, 1.0, False),
    ("confirmed_fraud_share", 0.0, 0.5, True),
    ("inflated_share", 0.0, 0.5, True),
])
def test_risk_moves_with_each_statistic_the_way_it_should(name: str, low: object, high: object, rises: bool) -> None:
    base = {"size": 6, "strong_member_share": 0.5, "burst_share": 0.6, "top_dealer_share": 0.5,
            "repeat_applicants": False, "density": 0.5, "confirmed_fraud_share": 0.0, "inflated_share": 0.0}
    lower, higher = ring_risk(**{**base, name: low}), ring_risk(**{**base, name: high})
    assert 0.0 < lower < 1.0 and 0.0 < higher < 1.0
    assert (higher > lower) is rises
