"""Project the application graph onto applicants linked by the attributes they share.

Each applicant (a ``Person`` who submitted at least one application) is a vertex. Two
applicants are linked when their applications share an attribute: a phone (own or
listed as a contact), a device, a bank account, an address, an employer, a vehicle, a
dealer, or a person (one applicant named as the vehicle user of another's
application). A phone that is not a mobile (the export's ``landline``) is a
:data:`~tianwang.rings.links.LANDLINE`, weighed as :mod:`tianwang.rings.links` says,
like an address. An attribute shared by ``d`` applicants adds
``weight(label) / log2(d)`` to the link of every pair of them, so the more widely an
attribute is shared the less it says. Attributes shared by more than ``max_sharing``
applicants (big employers, dealers, popular addresses; for phones, ``max_sharing_by_label``
raises the limit) are hubs and are dropped, so they cannot glue the graph together;
labels weighted 0 are dropped too (landlines have the ``max_sharing`` limit, not the
phones'). With
``time_half_life_days`` a link also halves for every that many days between the two
applicants' first applications (off by default; it matters with the CPM objective).

Dealers are hubs, but a dealer that colludes leaves a trace that is not: vehicles sold
far above what that model usually costs. When the export carries the deal terms
(:class:`~graph_schema.export.ApplicationDeals`), an application priced above
``inflated_price_ratio`` times its model's 95th-percentile price (over the export's
applications of that model) gets an *inflated deal* attribute: its dealer and a window
of ``inflated_window_days`` (two windows, offset by half a window, so two deals close in
time always share one). Applicants with inflated deals at the same dealer in the same
window are linked like applicants sharing any other attribute (label
:data:`INFLATED_DEAL`, weight ``inflated_deal_weight``). ``bench/rings.py`` measures
what they add (recall per ring typology, precision).

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

from graph_schema.export import ApplicationDeals, GraphExport, model_percentile_prices
from graph_schema.schema import ATTRIBUTE_RELATIONSHIPS, RELATIONSHIP_TYPES, Label, RelType
from tianwang.rings.links import (
    DERIVED_LABEL_CODES,
    INFLATED_DEAL,
    INFLATED_DEAL_CODE,
    LANDLINE,
    LANDLINE_CODE,
    LANDLINE_WEIGHT,
    label_code,
)

__all__ = [
    "DEFAULT_LABEL_WEIGHTS",
    "DEFAULT_MAX_SHARING_BY_LABEL",
    "INFLATED_DEAL",
    "INFLATED_DEAL_CODE",
    "ApplicantAttributes",
    "Projection",
    "ProjectionSettings",
    "attributes_of",
    "inflated_deal_mask",
    "model_reference_prices",
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
    LANDLINE: LANDLINE_WEIGHT,
}

#: Labels whose hub limit differs from ``max_sharing``: a phone listed as the emergency
#: contact of a few dozen applicants (a dealer's sales manager behind collusion rings)
#: still links them (measured in ``docs/rings.md``).
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
    #: A deal is inflated above this multiple of its model's 95th-percentile price; None: no inflated deals.
    inflated_price_ratio: float | None = 1.1
    inflated_window_days: float = 30.0
    #: Models with fewer priced applications in the export have no reference price.
    inflated_min_model_applications: int = 20
    inflated_deal_weight: float = 1.0
    inflated_deal_max_sharing: int = 60

    def __post_init__(self) -> None:
        if self.inflated_price_ratio is not None and not self.inflated_price_ratio > 0:
            raise ValueError(f"inflated_price_ratio must be positive or None, got: {self.inflated_price_ratio}")
        if not self.inflated_window_days > 0:
            raise ValueError(f"inflated_window_days must be positive, got: {self.inflated_window_days}")
        if self.inflated_min_model_applications < 1:
            raise ValueError(
                f"inflated_min_model_applications must be at least 1, got: {self.inflated_min_model_applications}"
            )
        if not self.inflated_deal_weight >= 0.0:
            raise ValueError(f"inflated_deal_weight must be non-negative, got: {self.inflated_deal_weight}")
        if self.inflated_deal_max_sharing < 2:
            raise ValueError(f"inflated_deal_max_sharing must be at least 2, got: {self.inflated_deal_max_sharing}")
        if self.time_half_life_days is not None and not self.time_half_life_days > 0:
            raise ValueError(f"time_half_life_days must be positive or None, got: {self.time_half_life_days}")
        if self.max_sharing < 2 or any(most < 2 for most in self.max_sharing_by_label.values()):
            raise ValueError(f"max_sharing must be at least 2, got: {self.max_sharing}, {self.max_sharing_by_label}")
        labels = {str(label) for label in Label} | {LANDLINE}
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
    (applicant, attribute) pair is ``(pair_applicant[k], pair_attribute[k])``. Attributes
    ``0 .. num_nodes - 1`` are the export's nodes; those after them are derived (inflated
    deals). ``attribute_label`` gives every attribute's label code (a landline's is
    :data:`~tianwang.rings.links.LANDLINE_CODE`), ``inflated[j]`` says
    whether application ``j`` is an inflated deal.
    """

    applicants: IntArray
    applications: IntArray
    applicant_of: IntArray
    submitted_at: FloatArray
    dealer_of: IntArray
    pair_applicant: IntArray
    pair_attribute: IntArray
    attribute_label: npt.NDArray[np.int16]
    inflated: npt.NDArray[np.bool_]

    @property
    def num_applicants(self) -> int:
        return len(self.applicants)

    @property
    def num_attributes(self) -> int:
        return len(self.attribute_label)


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


def attributes_of(export: GraphExport, settings: ProjectionSettings | None = None) -> ApplicantAttributes:
    """The applicants of ``export``, their applications, and what those applications link to."""
    settings = settings or ProjectionSettings()
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
    inflated = _inflated_deals(export, applications, settings)
    deal_application, deal_attribute = _inflated_deal_windows(
        inflated, dealer_of, submitted_at, export.num_nodes, settings.inflated_window_days
    )
    num_deal_attributes = int(deal_attribute.max()) + 1 - export.num_nodes if len(deal_attribute) else 0
    pair_applicant = np.concatenate([pair_applicant, applicant_of[deal_application]])
    pair_attribute = np.concatenate([pair_attribute, deal_attribute])
    num_attributes = np.int64(export.num_nodes + num_deal_attributes)
    node_label = export.node_label.astype(np.int16)
    if export.landline is not None:
        node_label[export.landline] = LANDLINE_CODE
    code = _distinct(pair_applicant * num_attributes + pair_attribute)
    return ApplicantAttributes(
        applicants=applicants.astype(np.int64),
        applications=applications.astype(np.int64),
        applicant_of=applicant_of,
        submitted_at=submitted_at,
        dealer_of=dealer_of,
        pair_applicant=code // num_attributes,
        pair_attribute=code % num_attributes,
        attribute_label=np.concatenate(
            [node_label, np.full(num_deal_attributes, INFLATED_DEAL_CODE, dtype=np.int16)]
        ),
        inflated=inflated,
    )


def model_reference_prices(deals: ApplicationDeals, min_applications: int) -> FloatArray:
    """Per model code, the 95th-percentile price (nearest rank) of its priced applications; NaN with fewer
    than ``min_applications`` of them."""
    counts, p95 = model_percentile_prices(deals)
    return np.where(counts >= min_applications, p95, np.nan)


def inflated_deal_mask(
    deals: ApplicationDeals, settings: ProjectionSettings, reference: FloatArray | None = None
) -> npt.NDArray[np.bool_]:
    """Per row of ``deals``, whether the price is above ``inflated_price_ratio`` times its model's reference
    (``reference``: :func:`model_reference_prices` of ``deals``, computed here when not given)."""
    if settings.inflated_price_ratio is None or not len(deals.model):
        return np.zeros(len(deals.model), dtype=bool)
    if reference is None:
        reference = model_reference_prices(deals, settings.inflated_min_model_applications)
    known = deals.model >= 0
    limit = np.full(len(deals.model), np.nan)
    limit[known] = settings.inflated_price_ratio * reference[deals.model[known]]
    with np.errstate(invalid="ignore"):
        return np.asarray(deals.vehicle_price > limit)  # NaN (no reference, no price) compares False


def _inflated_deals(export: GraphExport, applications: IntArray, settings: ProjectionSettings) -> npt.NDArray[np.bool_]:
    """Per application (as ordered in ``applications``), whether its price is inflated for its model."""
    inflated = np.zeros(len(applications), dtype=bool)
    deals = export.deals
    if deals is None or settings.inflated_price_ratio is None or not len(applications):
        return inflated
    rows = np.flatnonzero(inflated_deal_mask(deals, settings))
    position = np.minimum(np.searchsorted(applications, deals.node[rows]), len(applications) - 1)
    present = applications[position] == deals.node[rows]
    inflated[position[present]] = True
    return inflated


def _inflated_deal_windows(
    inflated: npt.NDArray[np.bool_], dealer_of: IntArray, submitted_at: FloatArray, first_id: int, window_days: float
) -> tuple[IntArray, IntArray]:
    """Pairs (application, derived attribute): each inflated deal at a dealer gets two windows.

    Windows of ``window_days`` start at multiples of the window and, for the second, half
    a window later, so two deals less than half a window apart share at least one.
    Derived attributes are numbered from ``first_id``.
    """
    rows = np.flatnonzero(inflated & (dealer_of >= 0))
    if not len(rows):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    span = window_days * 86_400.0
    windows = []
    for offset in (0.0, 0.5):
        bucket = np.floor(submitted_at[rows] / span + offset).astype(np.int64)
        windows.append(np.column_stack([dealer_of[rows], np.full(len(rows), int(offset * 2)), bucket]))
    keys = np.vstack(windows)
    _, attribute = np.unique(keys, axis=0, return_inverse=True)
    return np.concatenate([rows, rows]), first_id + attribute.reshape(-1).astype(np.int64)


def project(export: GraphExport, settings: ProjectionSettings | None = None) -> Projection:
    """The weighted applicant graph of ``export`` (see the module docstring)."""
    settings = settings or ProjectionSettings()
    found = attributes_of(export, settings)
    n = found.num_applicants
    weight_of_label = np.zeros(max(DERIVED_LABEL_CODES.values()) + 1, dtype=np.float64)
    for label, weight in settings.label_weights.items():
        weight_of_label[label_code(label)] = weight
    weight_of_label[INFLATED_DEAL_CODE] = settings.inflated_deal_weight

    max_of_label = np.full(len(weight_of_label), settings.max_sharing, dtype=np.int64)
    for label, most in settings.max_sharing_by_label.items():
        max_of_label[label_code(label)] = most
    max_of_label[INFLATED_DEAL_CODE] = settings.inflated_deal_max_sharing

    attribute_ids, column, sharing = np.unique(found.pair_attribute, return_inverse=True, return_counts=True)
    label_weight = weight_of_label[found.attribute_label[attribute_ids]]
    most_sharing = max_of_label[found.attribute_label[attribute_ids]]
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
