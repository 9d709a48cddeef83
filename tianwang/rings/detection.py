"""Communities of the applicant graph (Leiden), and ring ids that stay stable across runs.

:func:`find_communities` runs Leiden (igraph's, modularity with a resolution) on
the projected graph, one connected component at a time, skipping the components no split
could improve (:func:`leiden_membership`). :func:`assign_ring_ids` matches this run's rings to the
previous run's by member overlap: pairs are taken greedily from the largest overlap
down, each ring used once, and a pair counts only when the overlap holds more than
``min_overlap`` of the previous ring's members and of the new ring's. A matched ring
keeps its id; the others get fresh ids after the largest id seen.

Examples
--------
>>> assign_ring_ids([["a", "b", "c"], ["x", "y", "z"]], {"R-000007": ["a", "b", "d"]})
['R-000007', 'R-000008']
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import igraph as ig
import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tianwang.rings.projection import Projection

__all__ = [
    "OBJECTIVES",
    "RING_ID_PREFIX",
    "assign_ring_ids",
    "find_communities",
    "format_ring_id",
    "leiden_membership",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

RING_ID_PREFIX = "R-"
_RING_NUMBER = re.compile(r"^R-(\d+)$")


def format_ring_id(number: int) -> str:
    """``R-000017`` for 17."""
    return f"{RING_ID_PREFIX}{number:06d}"


OBJECTIVES = ("cpm", "modularity")


def find_communities(
    projection: Projection, *, objective: str = "modularity", resolution: float = 1.0, seed: int = 0
) -> IntArray:
    """Leiden community of every applicant; -1 for applicants with no link.

    ``objective`` is ``"cpm"`` (the constant Potts model: a community is worth keeping
    while its links weigh more than ``resolution`` per pair of members, whatever the
    size of the rest of the graph) or ``"modularity"`` (with ``resolution`` as its
    resolution parameter, the default). Modularity rarely splits the small components
    a sparse projection falls into; CPM does (it splits a dealer's successive
    collusion rings; what it did to precision is in ``docs/rings.md``). How the work is
    split by connected component is :func:`leiden_membership`'s.

    Raises
    ------
    ValueError
        If ``resolution`` is not positive.
    """
    kind = _checked(objective, resolution)
    n = projection.attributes.num_applicants
    community = np.full(n, -1, dtype=np.int64)
    if projection.num_links == 0:
        return community
    linked, ends = np.unique(np.concatenate([projection.source, projection.target]), return_inverse=True)
    m = projection.num_links
    community[linked] = leiden_membership(
        ends[:m], ends[m:], projection.weight, len(linked), objective=kind, resolution=resolution,
        total_weight=float(projection.weight.sum()), seed=seed,
    )  # fmt: skip
    return community


def _checked(objective: str, resolution: float) -> str:
    if not resolution > 0:
        raise ValueError(f"resolution must be positive, got: {resolution}")
    kind = objective.lower()
    if kind not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose from: {', '.join(OBJECTIVES)}")
    return kind


_RANDOM = threading.Lock()  # igraph draws from one process-wide generator, set per call


def leiden_membership(
    source: IntArray,
    target: IntArray,
    weight: FloatArray,
    num_vertices: int,
    *,
    objective: str = "modularity",
    resolution: float = 1.0,
    total_weight: float | None = None,
    seed: int = 0,
) -> IntArray:
    """Leiden's community of each of ``num_vertices`` vertices joined by weighted links, numbered from 0.

    The graph may be a union of whole components of a larger one whose links weigh
    ``total_weight`` in all (the default: this graph's own weight); with modularity,
    the resolution is then scaled by this graph's share of it, so the objective is the
    larger graph's restricted to these components (a community spanning two components
    only loses modularity, so each component can be optimised alone). CPM is local and
    keeps its resolution.

    Connected components come first. A component that no split could improve stays one
    community without running the optimiser: splitting it cuts at least its lightest
    link ``w``, and gains at most ``resolution * W_k**2 / (2 * W)`` under modularity
    (``W_k`` its links' weight, ``W`` the total) or ``resolution * n_k**2 / 4`` under CPM
    (``n_k`` its vertices); when the gain is below the cut, Leiden (which stops only where
    no merge of two adjacent communities improves the objective) returns it whole too.
    The others run igraph's Leiden (until stable) one component at a time, each seeded
    with ``seed`` and its vertices in the order given: the same component gets the same
    communities whichever engine or batch it runs in.

    Examples
    --------
    Two triangles joined by a light link: modularity keeps them apart.

    >>> import numpy as np
    >>> leiden_membership(np.array([0, 1, 0, 3, 4, 3, 2]), np.array([1, 2, 2, 4, 5, 5, 3]),
    ...                   np.array([1.0, 1, 1, 1, 1, 1, 0.1]), 6).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    kind = _checked(objective, resolution)
    membership = np.full(num_vertices, -1, dtype=np.int64)
    if len(source) == 0:
        return membership
    weight = np.asarray(weight, dtype=np.float64)
    total = float(weight.sum()) if total_weight is None else float(total_weight)
    count, label = connected_components(
        coo_matrix((np.ones(len(source)), (source, target)), shape=(num_vertices, num_vertices)), directed=False
    )
    link_component = label[source]
    lightest = np.full(count, np.inf)
    np.minimum.at(lightest, link_component, weight)
    if kind == "modularity":
        inside = np.bincount(link_component, weights=weight, minlength=count)
        gain = resolution * inside**2 / (2.0 * total)
    else:
        gain = resolution * np.bincount(label, minlength=count).astype(np.float64) ** 2 / 4.0
    whole = gain < lightest * (1.0 - 1e-9)
    # components keep scipy's numbers (by first vertex); the further parts of split ones come after them
    membership[:] = label
    following = count
    split = np.flatnonzero(~whole)
    if len(split):
        order = np.argsort(link_component, kind="stable")
        sorted_component = link_component[order]
        starts, ends = np.searchsorted(sorted_component, split), np.searchsorted(sorted_component, split, "right")
        by_label = np.argsort(label, kind="stable")
        first, last = np.searchsorted(label[by_label], split), np.searchsorted(label[by_label], split, "right")
        with _RANDOM:
            try:
                for component, start, end, low, high in zip(
                    split.tolist(), starts.tolist(), ends.tolist(), first.tolist(), last.tolist(), strict=True
                ):
                    links = order[start:end]
                    vertices = by_label[low:high]
                    local_source = np.searchsorted(vertices, source[links])
                    local_target = np.searchsorted(vertices, target[links])
                    sort = np.lexsort((local_target, local_source))
                    links_weight = weight[links][sort]
                    graph = ig.Graph(
                        n=len(vertices), edges=np.column_stack([local_source[sort], local_target[sort]]).tolist()
                    )
                    ig.set_random_number_generator(random.Random(seed))
                    scaled = resolution * float(links_weight.sum()) / total if kind == "modularity" else resolution
                    local = np.asarray(graph.community_leiden(
                        objective_function="modularity" if kind == "modularity" else "CPM",
                        weights=links_weight.tolist(), resolution=scaled, n_iterations=-1,
                    ).membership, dtype=np.int64)  # fmt: skip
                    membership[vertices] = np.where(local == 0, component, following + local - 1)
                    following += int(local.max())
            finally:
                ig.set_random_number_generator(random)
    return membership


def assign_ring_ids(
    rings: Sequence[Collection[str]],
    previous: Mapping[str, Collection[str]],
    *,
    min_overlap: float = 0.5,
) -> list[str]:
    """An id for each ring (members as keys): a previous ring's id when it mostly kept its members.

    ``rings`` should come in a deterministic order (fresh ids are handed out in it).

    Raises
    ------
    ValueError
        If ``min_overlap`` is not in [0, 1).
    """
    if not 0.0 <= min_overlap < 1.0:
        raise ValueError(f"min_overlap must be in [0, 1), got: {min_overlap}")
    ring_of_member = {member: ring_id for ring_id, members in previous.items() for member in members}
    previous_size = {ring_id: len(members) for ring_id, members in previous.items()}
    candidates: list[tuple[int, float, int, str]] = []
    for index, members in enumerate(rings):
        overlaps = Counter(ring_of_member[m] for m in members if m in ring_of_member)
        for ring_id, overlap in overlaps.items():
            if overlap > min_overlap * previous_size[ring_id] and overlap > min_overlap * len(members):
                union = previous_size[ring_id] + len(members) - overlap
                candidates.append((overlap, overlap / union, index, ring_id))
    # Largest overlap first, then the closer match; ties by position and id, so reruns agree.
    candidates.sort(key=lambda c: (-c[0], -c[1], c[2], c[3]))
    ids: list[str | None] = [None] * len(rings)
    taken: set[str] = set()
    for _, _, index, ring_id in candidates:
        if ids[index] is None and ring_id not in taken:
            ids[index] = ring_id
            taken.add(ring_id)
    numbers = [int(match.group(1)) for ring_id in previous if (match := _RING_NUMBER.match(ring_id))]
    next_number = max(numbers, default=0) + 1
    result = []
    for matched in ids:
        if matched is None:
            matched = format_ring_id(next_number)
            next_number += 1
        result.append(matched)
    return result
