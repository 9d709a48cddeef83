"""What each kind of shared attribute says about two applicants: one table for the batch job and for scoring.

The ring batch job links applicants through attribute *labels* (a graph label such as
``Phone``, or a derived one: :data:`LANDLINE`, :data:`INFLATED_DEAL`); the ``fraud_ring``
detector follows an application's links by *kind* (``phone``, ``contact``,
``landline``...). :data:`KIND_LABEL` maps each kind to its label, so both agree on:

* what a landline is: a phone or emergency-contact number that is not a mobile
  (:func:`phone_kind`; ``Phone`` nodes carry a ``mobile`` property, and a store's
  export marks the others in :attr:`~graph_schema.store.GraphExport.landline`). It is
  its own kind, weighing :data:`LANDLINE_WEIGHT` like an address: households share the
  home landline;
* which links are *strong* (:func:`is_strong`, :data:`STRONG_LABELS`): sharing a phone,
  device, account, vehicle or person is hard to explain innocently; an address, a
  landline or an inflated deal at the same dealer is not. A ring's strong-member share
  counts the members with a strong link.

Examples
--------
>>> phone_kind("contact", mobile=False), phone_kind("phone", mobile=True)
('landline', 'phone')
>>> is_strong("contact"), is_strong("landline"), is_strong("address")
(True, False, False)
"""

from __future__ import annotations

from graph_schema.schema import NODE_TYPES, Label

__all__ = [
    "DERIVED_LABEL_CODES",
    "INFLATED_DEAL",
    "INFLATED_DEAL_CODE",
    "KIND_LABEL",
    "LANDLINE",
    "LANDLINE_CODE",
    "LANDLINE_WEIGHT",
    "STRONG_LABELS",
    "is_strong",
    "label_code",
    "phone_kind",
]

#: The label of a derived attribute (not a node of the store): inflated deals at one dealer
#: within one window. Its code follows the node labels' codes.
INFLATED_DEAL = "InflatedDeal"
INFLATED_DEAL_CODE = max(t.code for t in NODE_TYPES.values()) + 1
#: The label of a ``Phone`` node that is not a mobile, in the projection.
LANDLINE = "Landline"
LANDLINE_CODE = INFLATED_DEAL_CODE + 1
#: Derived labels and their codes.
DERIVED_LABEL_CODES: dict[str, int] = {INFLATED_DEAL: INFLATED_DEAL_CODE, LANDLINE: LANDLINE_CODE}

#: How much a shared landline weighs, in the projection and online: as an address (about).
LANDLINE_WEIGHT = 0.5

#: Labels whose sharing between two applicants is hard to explain innocently.
STRONG_LABELS: tuple[str, ...] = (Label.PHONE, Label.DEVICE, Label.BANK_ACCOUNT, Label.PERSON, Label.VEHICLE)

#: The label of each kind of link the detector follows.
KIND_LABEL: dict[str, str] = {
    "person": Label.PERSON,
    "vehicle_user": Label.PERSON,
    "driver_in_ring": Label.PERSON,
    "phone": Label.PHONE,
    "contact": Label.PHONE,
    "landline": LANDLINE,
    "device": Label.DEVICE,
    "account": Label.BANK_ACCOUNT,
    "vehicle": Label.VEHICLE,
    "address": Label.ADDRESS,
    "employer": Label.EMPLOYER,
    "inflated_deal": INFLATED_DEAL,
}


def label_code(label: str) -> int:
    """The code of a graph label or a derived one.

    Raises
    ------
    ValueError
        If ``label`` is neither.
    """
    if label in DERIVED_LABEL_CODES:
        return DERIVED_LABEL_CODES[label]
    return NODE_TYPES[Label(label)].code


def phone_kind(kind: str, *, mobile: bool) -> str:
    """The kind of a phone link (``phone`` or ``contact``): ``landline`` when the number is not a mobile."""
    return "landline" if kind in ("phone", "contact") and not mobile else kind


def is_strong(kind: str) -> bool:
    """Whether a link of this kind makes its two applicants' link strong."""
    return KIND_LABEL.get(kind) in STRONG_LABELS
