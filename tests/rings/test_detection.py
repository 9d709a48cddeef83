from __future__ import annotations

import itertools

import numpy as np
import pytest

from tianwang.rings.detection import assign_ring_ids, find_communities, format_ring_id, leiden_membership
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


def _planted(seed: int, groups: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Many small components (pairs, triangles, cliques) and a few larger ones of cliques joined by light
    links, with random weights: what a sparse applicant projection looks like."""
    rng = np.random.default_rng(seed)
    links: list[tuple[int, int, float]] = []
    start = 0
    for _ in range(groups):
        cliques = int(rng.integers(1, 5)) if rng.random() < 0.3 else 1
        firsts = []
        for _ in range(cliques):
            size = int(rng.integers(2, 7))
            firsts.append(start)
            links += [(start + a, start + b, float(rng.uniform(0.5, 2.0)))
                      for a in range(size) for b in range(a + 1, size)]  # fmt: skip
            start += size
        links += [(a, b, float(rng.uniform(0.02, 0.2))) for a, b in itertools.pairwise(firsts)]
    source, target, weight = (np.array(column) for column in zip(*links, strict=True))
    return source.astype(np.int64), target.astype(np.int64), weight.astype(float), start


@pytest.mark.parametrize(("objective", "resolution"), [("modularity", 1.0), ("modularity", 40.0), ("cpm", 0.3)])
def test_components_left_whole_are_whole_in_a_full_leiden_run_too(objective: str, resolution: float) -> None:
    import random

    import igraph as ig

    source, target, weight, n = _planted(5)
    membership = leiden_membership(source, target, weight, n, objective=objective, resolution=resolution, seed=3)
    assert membership.min() == 0 and set(np.unique(membership)) == set(range(int(membership.max()) + 1))
    graph = ig.Graph(n=n, edges=np.column_stack([source, target]).tolist())
    ig.set_random_number_generator(random.Random(3))
    full = np.asarray(graph.community_leiden(
        objective_function="modularity" if objective == "modularity" else "CPM", weights=weight.tolist(),
        resolution=resolution, n_iterations=-1,
    ).membership)  # fmt: skip
    ig.set_random_number_generator(random)
    components = np.asarray(graph.connected_components().membership)
    whole = [c for c in np.unique(components) if len(set(membership[components == c])) == 1]
    for component in whole:  # what was skipped is what the optimiser itself keeps whole
        assert len(set(full[components == component])) == 1
    if objective == "modularity":
        ours = graph.modularity(membership.tolist(), weights=weight.tolist(), resolution=resolution)
        theirs = graph.modularity(full.tolist(), weights=weight.tolist(), resolution=resolution)
        assert ours >= theirs - 1e-9
    assert len(whole) < len(np.unique(components))  # some planted cliques joined by light links were split


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_a_component_gets_the_same_communities_alone_or_among_others() -> None:
    """The Spark engine runs each component alone with the whole graph's weight: same communities."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    source, target, weight, n = _planted(8)
    together = leiden_membership(source, target, weight, n, resolution=30.0, seed=2)
    _, component = connected_components(coo_matrix((weight, (source, target)), shape=(n, n)), directed=False)
    split = 0
    for c in np.unique(component):
        inside = component[source] == c
        vertices, ends = np.unique(np.concatenate([source[inside], target[inside]]), return_inverse=True)
        m = int(inside.sum())
        alone = leiden_membership(ends[:m], ends[m:], weight[inside], len(vertices), resolution=30.0,
                                  total_weight=float(weight.sum()), seed=2)  # fmt: skip
        assert _same_partition(alone, together[vertices])
        split += len(np.unique(alone)) > 1
    assert split >= 3
