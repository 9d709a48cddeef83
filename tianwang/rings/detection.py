"""Communities of the applicant graph (Leiden), and ring ids that stay stable across runs.

:func:`find_communities` runs Leiden (``leidenalg``, modularity with a resolution) on
the projected graph in igraph. :func:`assign_ring_ids` matches this run's rings to the
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

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import igraph as ig
import leidenalg
import numpy as np
import numpy.typing as npt

from tianwang.rings.projection import Projection

__all__ = ["OBJECTIVES", "RING_ID_PREFIX", "assign_ring_ids", "find_communities", "format_ring_id"]

IntArray = npt.NDArray[np.int64]

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
    collusion rings; what it did to precision is in ``docs/rings.md``).

    Raises
    ------
    ValueError
        If ``resolution`` is not positive.
    """
    if not resolution > 0:
        raise ValueError(f"resolution must be positive, got: {resolution}")
    kind = objective.lower()
    if kind not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose from: {', '.join(OBJECTIVES)}")
    n = projection.attributes.num_applicants
    community = np.full(n, -1, dtype=np.int64)
    if projection.num_links == 0:
        return community
    linked, ends = np.unique(np.concatenate([projection.source, projection.target]), return_inverse=True)
    m = projection.num_links
    graph = ig.Graph(n=len(linked), edges=np.column_stack([ends[:m], ends[m:]]).tolist())
    partition = leidenalg.find_partition(
        graph,
        leidenalg.CPMVertexPartition if kind == "cpm" else leidenalg.RBConfigurationVertexPartition,
        weights=projection.weight.tolist(),
        resolution_parameter=resolution,
        n_iterations=2,
        seed=seed,
    )
    community[linked] = np.asarray(partition.membership, dtype=np.int64)
    return community


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
