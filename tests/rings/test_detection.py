from __future__ import annotations

import numpy as np
import pytest

from tianwang.rings.detection import assign_ring_ids, find_communities, format_ring_id
from tianwang.rings.projection import ApplicantAttributes, Projection


def _projection(n: int, links: list[tuple[int, int, float]]) -> Projection:
    empty = np.empty(0, dtype=np.int64)
    attributes = ApplicantAttributes(
        applicants=np.arange(n), applications=np.arange(n), applicant_of=np.arange(n),
        submitted_at=np.zeros(n), dealer_of=np.full(n, -1), pair_applicant=empty, pair_attribute=empty,
        attribute_label=np.zeros(n, dtype=np.int16), inflated=np.zeros(n, dtype=bool),
    )  # fmt: skip
    source, target, weight = (np.array(column) for column in zip(*links, strict=True))
    return Projection(attributes, source.astype(np.int64), target.astype(np.int64), weight.astype(float), 0, 0)


def test_two_cliques_joined_by_a_weak_link_are_two_communities() -> None:
    clique = [(a, b, 1.0) for a in range(5) for b in range(a + 1, 5)]
    other = [(a + 5, b + 5, 1.0) for a, b, _ in clique]
    community = find_communities(_projection(11, [*clique, *other, (4, 5, 0.1)]), seed=1)
    assert len(set(community[:5])) == 1 and len(set(community[5:10])) == 1
    assert community[0] != community[5]
    assert community[10] == -1  # no link, no community
    again = find_communities(_projection(11, [*clique, *other, (4, 5, 0.1)]), seed=1)
    assert np.array_equal(community, again)
    with pytest.raises(ValueError, match="resolution must be positive, got: 0"):
        find_communities(_projection(11, clique), resolution=0)


def test_ring_ids_stay_stable_when_a_ring_mostly_keeps_its_members() -> None:
    previous = {"R-000003": ["a", "b", "c", "d"], "R-000009": ["x", "y", "z"]}
    rings = [["p", "q", "r"], ["a", "b", "c", "e", "f"], ["x", "y", "z"]]
    assert assign_ring_ids(rings, previous) == ["R-000010", "R-000003", "R-000009"]
    assert assign_ring_ids(rings, {}) == [format_ring_id(1), format_ring_id(2), format_ring_id(3)]


def test_a_split_ring_keeps_its_id_on_the_larger_part_only() -> None:
    previous = {"R-000001": ["a", "b", "c", "d", "e", "f"]}
    assert assign_ring_ids([["a", "b"], ["c", "d", "e", "f"]], previous) == ["R-000002", "R-000001"]
    # a ring that lost most of its members, or was swamped by newcomers, gets a new id
    assert assign_ring_ids([["a", "b", "c"]], previous) == ["R-000002"]
    assert assign_ring_ids([["a", "b", "c", "d", *"uvwxyz"]], previous) == ["R-000002"]


def test_min_overlap_is_checked() -> None:
    with pytest.raises(ValueError, match="min_overlap must be in"):
        assign_ring_ids([], {}, min_overlap=1.0)


def test_cpm_splits_what_modularity_keeps_in_one_small_component() -> None:
    clique = [(a, b, 1.0) for a in range(4) for b in range(a + 1, 4)]
    other = [(a + 4, b + 4, 1.0) for a, b, _ in clique]
    projection = _projection(8, [*clique, *other, (3, 4, 0.05)])
    cpm = find_communities(projection, objective="CPM", resolution=0.2)
    assert cpm[0] != cpm[4] and len(set(cpm[:4])) == 1
    with pytest.raises(ValueError, match="unknown objective 'louvain'; choose from: cpm, modularity"):
        find_communities(projection, objective="louvain")
