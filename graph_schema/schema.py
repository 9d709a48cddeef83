"""Node labels, relationship types and node keys of the Tianwang graph, as code.

This module is the one source of truth both stores use: the embedded store stores the
integer ``code`` of each label and type, the Neo4j store the names, and the Neo4j
migrations derive their constraints from :data:`NODE_TYPES`.

Examples
--------
>>> NODE_TYPES[Label.PHONE].key
'phone_hash'
>>> RELATIONSHIP_TYPES[RelType.USES_PHONE].target
<Label.PHONE: 'Phone'>
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ATTRIBUTE_RELATIONSHIPS",
    "NODE_TYPES",
    "RELATIONSHIP_TYPES",
    "SCHEMA_VERSION",
    "Label",
    "NodeType",
    "RelType",
    "RelationshipType",
    "label_from_code",
    "rel_type_from_code",
]

#: Version of the graph model below; bumped when a label, type or key changes.
SCHEMA_VERSION = 1


class Label(StrEnum):
    """Node labels."""

    APPLICATION = "Application"
    PERSON = "Person"
    PHONE = "Phone"
    EMPLOYER = "Employer"
    DEALER = "Dealer"
    DEVICE = "Device"
    ADDRESS = "Address"
    BANK_ACCOUNT = "BankAccount"
    VEHICLE = "Vehicle"
    RING = "Ring"


class RelType(StrEnum):
    """Relationship types."""

    SUBMITTED = "SUBMITTED"
    AT_DEALER = "AT_DEALER"
    USES_PHONE = "USES_PHONE"
    FROM_DEVICE = "FROM_DEVICE"
    DECLARES_EMPLOYER = "DECLARES_EMPLOYER"
    LIVES_AT = "LIVES_AT"
    PAYS_FROM = "PAYS_FROM"
    LISTS_CONTACT = "LISTS_CONTACT"
    FOR_VEHICLE = "FOR_VEHICLE"
    VEHICLE_USER = "VEHICLE_USER"
    MEMBER_OF = "MEMBER_OF"


@dataclass(frozen=True, slots=True)
class NodeType:
    """A node label, its key property, and whether the key is derived from personal data."""

    label: Label
    key: str
    code: int
    personal: bool
    description: str


@dataclass(frozen=True, slots=True)
class RelationshipType:
    """A relationship type with the labels at its ends. Every relationship carries ``at``."""

    type: RelType
    source: Label
    target: Label
    code: int
    description: str


NODE_TYPES: dict[Label, NodeType] = {
    t.label: t
    for t in (
        NodeType(Label.APPLICATION, "application_id", 1, False, "one loan application"),
        NodeType(Label.PERSON, "id_hash", 2, True, "a resident, keyed by the HMAC of the identity number"),
        NodeType(Label.PHONE, "phone_hash", 3, True, "a phone number, keyed by its HMAC"),
        NodeType(Label.EMPLOYER, "employer_key", 4, False, "unified social credit code, else normalised name"),
        NodeType(Label.DEALER, "dealer_id", 5, False, "a car dealer"),
        NodeType(Label.DEVICE, "device_id", 6, False, "the device the application came from"),
        NodeType(Label.ADDRESS, "address_key", 7, True, "a home address, keyed by the HMAC of its normal form"),
        NodeType(Label.BANK_ACCOUNT, "account_hash", 8, True, "a bank account, keyed by its HMAC"),
        NodeType(Label.VEHICLE, "vin", 9, False, "a vehicle, keyed by its VIN"),
        NodeType(Label.RING, "ring_id", 10, False, "a fraud ring found by community detection"),
    )
}

RELATIONSHIP_TYPES: dict[RelType, RelationshipType] = {
    t.type: t
    for t in (
        RelationshipType(RelType.SUBMITTED, Label.PERSON, Label.APPLICATION, 1, "the applicant submitted it"),
        RelationshipType(RelType.AT_DEALER, Label.APPLICATION, Label.DEALER, 2, "taken at this dealer"),
        RelationshipType(RelType.USES_PHONE, Label.APPLICATION, Label.PHONE, 3, "the applicant's own phone"),
        RelationshipType(RelType.FROM_DEVICE, Label.APPLICATION, Label.DEVICE, 4, "submitted from this device"),
        RelationshipType(RelType.DECLARES_EMPLOYER, Label.APPLICATION, Label.EMPLOYER, 5, "declared employer"),
        RelationshipType(RelType.LIVES_AT, Label.APPLICATION, Label.ADDRESS, 6, "declared home address"),
        RelationshipType(RelType.PAYS_FROM, Label.APPLICATION, Label.BANK_ACCOUNT, 7, "repayment account"),
        RelationshipType(RelType.LISTS_CONTACT, Label.APPLICATION, Label.PHONE, 8, "an emergency contact's phone"),
        RelationshipType(RelType.FOR_VEHICLE, Label.APPLICATION, Label.VEHICLE, 9, "the vehicle financed"),
        RelationshipType(RelType.VEHICLE_USER, Label.APPLICATION, Label.PERSON, 10, "who will drive the vehicle"),
        RelationshipType(RelType.MEMBER_OF, Label.PERSON, Label.RING, 11, "member of a detected ring"),
    )
}

#: Relationships from an application to an attribute other applications can share.
ATTRIBUTE_RELATIONSHIPS: tuple[RelType, ...] = (
    RelType.AT_DEALER,
    RelType.USES_PHONE,
    RelType.FROM_DEVICE,
    RelType.DECLARES_EMPLOYER,
    RelType.LIVES_AT,
    RelType.PAYS_FROM,
    RelType.LISTS_CONTACT,
    RelType.FOR_VEHICLE,
    RelType.VEHICLE_USER,
)

_LABEL_BY_CODE = {t.code: t.label for t in NODE_TYPES.values()}
_TYPE_BY_CODE = {t.code: t.type for t in RELATIONSHIP_TYPES.values()}


def label_from_code(code: int) -> Label:
    """The label with integer ``code`` (as the embedded store stores it)."""
    return _LABEL_BY_CODE[code]


def rel_type_from_code(code: int) -> RelType:
    """The relationship type with integer ``code``."""
    return _TYPE_BY_CODE[code]
