"""Project the application graph onto applicants linked by the attributes they share.

Each applicant (a ``Person`` who submitted at least one application) is a vertex. Two
applicants are linked when their applications share an attribute: a phone (own or
listed as a contact), a device, a bank account, an address, an employer, a vehicle, a
dealer, or a person (one applicant named as the vehicle user of another's
application). An attribute shared by ``d`` applicants adds
``weight(label) / log2(d)`` to the link of every pair of them, so the more widely an
attribute is shared the less it says. Attributes shared by more than ``max_sharing``
applicants (big employers, dealers, popular addresses; for phones, ``max_sharing_by_label``
raises the limit) are hubs and are dropped, so they cannot glue the graph together;
labels weighted 0 are dropped too. With
``time_half_life_days`` a link also halves for every that many days between the two
applicants' first applications (off by default; it matters with the CPM objective).

Examples
--------
>>> ProjectionSettings().label_weights["Dealer"]
0.0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from graph_schema.schema import ATTRIBUTE_RELATIONSHIPS, NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType
from graph_schema.store import GraphExport

__all__ = [
    "DEFAULT_LABEL_WEIGHTS",
    "DEFAULT_MAX_SHARING_BY_LABEL",
    "ApplicantAttributes",
    "Projection",
    "ProjectionSettings",
    "attributes_of",
    "project",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: How much sharing one attribute of each label says, before the sharing discount.
DEFAULT_LABEL_WEIGHTS: dict[str, float] = {
    Label.PHONE: 1.0,
    Label.DEVICE: 1.0,
    Label.BANK_ACCOUNT: 1.0,
    Label.PERSON: 1.0,
    Label.VEHICLE: 1.0,
    Label.ADDRESS: 0.6,
    Label.EMPLOYER: 0.0,
    Label.DEALER: 0.0,
}

#: Labels whose hub limit differs from ``max_sharing``: a phone listed as the emergency
#: contact of a few dozen applicants (a dealer's sales manager behind collusion rings)
#: still links them; measured with ``bench/rings.py`` (dealer-collusion recall 0.59 ->
#: 0.66 at 100k, seed 12, precision unchanged).
DEFAULT_MAX_SHARING_BY_LABEL: dict[str, int] = {Label.PHONE: 60}

_SUBMITTED = RELATIONSHIP_TYPES[RelType.SUBMITTED].code
_AT_DEALER = RELATIONSHIP_TYPES[RelType.AT_DEALER].code
_ATTRIBUTE_CODES = np.array([RELATIONSHIP_TYPES[t].code for t in ATTRIBUTE_RELATIONSHIPS], dtype=np.int16)


@dataclass(frozen=True, slots=True)
class ProjectionSettings:
    """How attributes weigh.

    Raises
    ------
    ValueError
        If ``max_sharing`` is below 2 or a weight is negative or names no label.
    """

    max_sharing: int = 20
    time_half_life_days: float | None = None
    label_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LABEL_WEIGHTS))
    max_sharing_by_label: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MAX_SHARING_BY_LABEL))

    def __post_init__(self) -> None:
        if self.time_half_life_days is not None and not self.time_half_life_days > 0:
            raise ValueError(f"time_half_life_days must be positive or None, got: {self.time_half_life_days}")
        if self.max_sharing < 2 or any(most < 2 for most in self.max_sharing_by_label.values()):
            raise ValueError(f"max_sharing must be at least 2, got: {self.max_sharing}, {self.max_sharing_by_label}")
        labels = {str(label) for label in Label}
        choices = ", ".join(sorted(labels))
        for name in self.max_sharing_by_label:
            if name not in labels:
                raise ValueError(f"unknown label {name!r} in max_sharing_by_label; choose from: {choices}")
        for name, weight in self.label_weights.items():
            if name not in labels:
                raise ValueError(f"unknown label {name!r} in label_weights; choose from: {', '.join(sorted(labels))}")
            if not weight >= 0.0:
                raise ValueError(f"label weight of {name} must be non-negative, got: {weight}")


@dataclass(frozen=True, slots=True)
class ApplicantAttributes:
    """Applicants, their applications and attributes, as arrays over the export's nodes.

    ``applicants[i]`` is the export node of applicant ``i``; application ``j`` is export
    node ``applications[j]``, submitted by applicant ``applicant_of[j]`` at
    ``submitted_at[j]``, at dealer node ``dealer_of[j]`` (-1 if none). Each distinct
    (applicant, attribute) pair is ``(pair_applicant[k], pair_attribute[k])``, the
    attribute an export node.
    """

    applicants: IntArray
    applications: IntArray
    applicant_of: IntArray
    submitted_at: FloatArray
    dealer_of: IntArray
    pair_applicant: IntArray
    pair_attribute: IntArray

    @property
    def num_applicants(self) -> int:
        return len(self.applicants)


@dataclass(frozen=True, slots=True)
class Projection:
    """The weighted applicant graph: links ``(source[k], target[k])`` with ``source < target``.

    Vertices are applicants, numbered as in :attr:`attributes`. ``hubs`` counts the
    attributes dropped for being shared by more than ``max_sharing`` applicants.
    """

    attributes: ApplicantAttributes
    source: IntArray
    target: IntArray
    weight: FloatArray
    attributes_used: int
    hubs: int

    @property
    def num_links(self) -> int:
        return len(self.source)


def _distinct(values: IntArray) -> IntArray:
    """Sorted distinct values; ``np.unique`` without ``return_*`` hashes, 20x slower at 10M (numpy 2.4)."""
    ordered = np.sort(values)
    first = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def attributes_of(export: GraphExport) -> ApplicantAttributes:
    """The applicants of ``export``, their applications, and what those applications link to."""
    src, dst = export.edge_index
    types = export.edge_type
    submitted = np.flatnonzero(types == _SUBMITTED)
    person_node, application_node = src[submitted], dst[submitted]
    applicants, applicant_of = np.unique(person_node, return_inverse=True)
    order = np.argsort(application_node, kind="stable")
    applications = application_node[order]
    applicant_of = applicant_of[order].astype(np.int64)
    submitted_at = export.edge_at[submitted][order].astype(np.float64)

    attribute_edges = np.flatnonzero(np.isin(types, _ATTRIBUTE_CODES))
    owner = np.searchsorted(applications, src[attribute_edges])
    owner = np.minimum(owner, max(len(applications) - 1, 0))
    known = (applications[owner] == src[attribute_edges]) if len(applications) else np.zeros(0, dtype=bool)
    owner, attribute = owner[known], dst[attribute_edges][known]
    dealer_of = np.full(len(applications), -1, dtype=np.int64)
    is_dealer = types[attribute_edges][known] == _AT_DEALER
    dealer_of[owner[is_dealer]] = attribute[is_dealer]

    # Every applicant also "has" its own person node, which links it to the applications
    # that name it as the vehicle user.
    pair_applicant = np.concatenate([applicant_of[owner], np.arange(len(applicants), dtype=np.int64)])
    pair_attribute = np.concatenate([attribute, applicants]).astype(np.int64)
    code = _distinct(pair_applicant * np.int64(export.num_nodes) + pair_attribute)
    return ApplicantAttributes(
        applicants=applicants.astype(np.int64),
        applications=applications.astype(np.int64),
        applicant_of=applicant_of,
        submitted_at=submitted_at,
        dealer_of=dealer_of,
        pair_applicant=code // export.num_nodes,
        pair_attribute=code % export.num_nodes,
    )


def project(export: GraphExport, settings: ProjectionSettings | None = None) -> Projection:
    """The weighted applicant graph of ``export`` (see the module docstring)."""
    settings = settings or ProjectionSettings()
    found = attributes_of(export)
    n = found.num_applicants
    weight_of_label = np.zeros(max(t.code for t in NODE_TYPES.values()) + 1, dtype=np.float64)
    for label, weight in settings.label_weights.items():
        weight_of_label[NODE_TYPES[Label(label)].code] = weight

    max_of_label = np.full(len(weight_of_label), settings.max_sharing, dtype=np.int64)
    for label, most in settings.max_sharing_by_label.items():
        max_of_label[NODE_TYPES[Label(label)].code] = most

    attribute_ids, column, sharing = np.unique(found.pair_attribute, return_inverse=True, return_counts=True)
    label_weight = weight_of_label[export.node_label[attribute_ids]]
    most_sharing = max_of_label[export.node_label[attribute_ids]]
    hubs = int(((sharing > most_sharing) & (label_weight > 0)).sum())
    keep = (sharing >= 2) & (sharing <= most_sharing) & (label_weight > 0)
    attribute_weight = np.where(keep, label_weight / np.log2(np.maximum(sharing, 2)), 0.0)
    used = keep[column]
    rows, columns = found.pair_applicant[used], column[used]
    incidence = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(n, len(attribute_weight)))
    links = sp.triu(incidence @ sp.diags(attribute_weight) @ incidence.T, k=1).tocoo()
    source, target, weight = links.row.astype(np.int64), links.col.astype(np.int64), links.data.astype(np.float64)
    if settings.time_half_life_days is not None:
        first = np.full(n, np.inf)
        np.minimum.at(first, found.applicant_of, found.submitted_at)
        gap_days = np.abs(first[source] - first[target]) / 86_400.0
        weight = weight * np.exp2(-gap_days / settings.time_half_life_days)
    return Projection(
        attributes=found,
        source=source,
        target=target,
        weight=weight,
        attributes_used=int(keep.sum()),
        hubs=hubs,
    )
