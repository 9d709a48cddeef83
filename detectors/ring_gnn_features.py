"""What the ring GNN reads of an application: its input row and its earlier linked applications.

The network (:mod:`embeddings.ring_gnn`) takes arrays; this module makes them from a
scoring context. A node's row is the application's feature row
(:mod:`detectors.application_features`) plus the ``log1p`` of the number of earlier
applications linked to it (:data:`RING_FEATURE_NAMES` names the columns; the training
graph and the saved artifact carry these names, and an artifact trained on other
columns is refused). Its in-neighbours are the ``others`` of its graph links: the
applicant, phone, device, bank account, address, contacts, vehicle and its driver.

Examples
--------
>>> RING_FEATURE_NAMES[-1]
'ring_linked_applications'
>>> len(RING_FEATURE_NAMES) == len(set(RING_FEATURE_NAMES))
True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from detectors.application_features import FEATURE_NAMES, application_features
from detectors.context import SINGLE_LINK_KINDS

if TYPE_CHECKING:
    from detectors.context import ScoringContext

__all__ = ["RING_FEATURE_NAMES", "linked_applications", "ring_features", "row_without_links"]

FloatArray = npt.NDArray[np.float64]

#: Columns of a node's input row: the application's own row, then its link count.
RING_FEATURE_NAMES: tuple[str, ...] = (*FEATURE_NAMES, "ring_linked_applications")

_LINK_COLUMNS = np.array([i for i, n in enumerate(RING_FEATURE_NAMES) if n.startswith(("graph_", "ring_"))])


def linked_applications(context: ScoringContext) -> dict[str, tuple[str, ...]]:
    """The earlier applications linked to ``context``'s, each with the kinds of link (in order read)."""
    links = context.links
    if links is None:
        return {}
    kinds: dict[str, list[str]] = {}
    own = context.application_id
    for kind, link in [*((k, links.get(k)) for k in SINGLE_LINK_KINDS), *(("contact", c) for c in links.contacts)]:
        if link is None:
            continue
        for other in link.others:
            if other != own and kind not in kinds.setdefault(other, []):
                kinds[other].append(kind)
    return {other: tuple(k) for other, k in kinds.items()}


def ring_features(context: ScoringContext, n_linked: int) -> FloatArray:
    """The input row of one application (``len(RING_FEATURE_NAMES)`` floats, unscaled)."""
    return np.append(application_features(context), math.log1p(n_linked))


def row_without_links(row: np.ndarray) -> np.ndarray:
    """The row as if the application shared nothing with anyone (graph counts zeroed)."""
    out = row.copy()
    out[_LINK_COLUMNS] = 0.0
    return out
