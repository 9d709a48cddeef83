"""From one validated :class:`~tianwang.application.Application` to graph records.

:func:`application_row` decides which nodes and relationships an application writes,
with which keys and properties, as one compact :class:`ApplicationRow` of plain
strings, numbers and tuples: cheap to build, to send between processes and to hand
to a database driver. Both stores write exactly these records, so the two stores
agree by construction. :func:`application_graph` gives the same records as objects
(:class:`ApplicationGraph`), for code that wants labels and property dicts.

Personal data leaves here only as HMAC keys and masked forms; the application itself
is kept as a redacted record (the same shape, personal fields masked, with their keys
beside them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType, label_from_code, rel_type_from_code
from tianwang.application import Application
from tianwang.errors import ApplicationValidationError, FieldError
from tianwang.identifiers import (
    is_mobile,
    mask_account,
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_address,
)
from tianwang.privacy import PersonalDataKeyer

__all__ = [
    "ApplicationGraph",
    "ApplicationRow",
    "GraphNode",
    "GraphRelationship",
    "application_graph",
    "application_row",
    "employer_key",
    "graph_from_row",
    "row_from_graph",
    "vehicle_model_name",
]


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A node to merge: label, key value and the properties set when it is created."""

    label: Label
    key: str
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GraphRelationship:
    """A relationship to merge between two nodes given by label and key."""

    source_label: Label
    source_key: str
    type: RelType
    target_label: Label
    target_key: str


@dataclass(slots=True)
class ApplicationGraph:
    """Everything one application writes. Every relationship gets ``at = submitted_ts``."""

    application_id: str
    submitted_ts: float
    content_hash: str
    application: dict[str, Any]
    """Properties of the Application node (the redacted record is ``record_json``, apart)."""
    record_json: str
    nodes: list[GraphNode] = field(default_factory=list)
    relationships: list[GraphRelationship] = field(default_factory=list)


NodeRow = tuple[int, str, str]
"""``(label code, key, properties as JSON text)`` of a node to merge."""

RelationshipRow = tuple[int, str, int, int, str]
"""``(source label code, source key, type code, target label code, target key)``."""


class ApplicationRow(NamedTuple):
    """What :class:`ApplicationGraph` holds, as plain values: what bulk writes take.

    Labels and relationship types are the integer codes of :mod:`graph_schema.schema`,
    properties are JSON text. A node appears at most once per application (the first
    occurrence wins, as in a ``MERGE ... ON CREATE``); the Application node itself is
    not among ``nodes``: its properties are ``properties``.
    """

    application_id: str
    submitted_ts: float
    dealer_id: str
    content_hash: str
    properties: str
    record_json: str
    nodes: tuple[NodeRow, ...]
    relationships: tuple[RelationshipRow, ...]


def vehicle_model_name(brand: str, model: str) -> str:
    """Brand and model as one name (``"Toyota Camry"``): the ``vehicle_model`` of an Application node.

    The embedded store's export builds the same name in SQL for applications stored before
    nodes carried it (:meth:`graph_schema.embedded.EmbeddedGraphStore.export_edges`).
    """
    return f"{brand} {model}"


def employer_key(name: str, credit_code: str | None) -> str:
    """Credit code when there is one, else ``name:`` and the normalised name."""
    if credit_code:
        return credit_code
    return "name:" + "".join(name.split()).upper()


_APPLICATION = NODE_TYPES[Label.APPLICATION].code
_PERSON = NODE_TYPES[Label.PERSON].code
_PHONE = NODE_TYPES[Label.PHONE].code
_EMPLOYER = NODE_TYPES[Label.EMPLOYER].code
_DEALER = NODE_TYPES[Label.DEALER].code
_DEVICE = NODE_TYPES[Label.DEVICE].code
_ADDRESS = NODE_TYPES[Label.ADDRESS].code
_BANK_ACCOUNT = NODE_TYPES[Label.BANK_ACCOUNT].code
_VEHICLE = NODE_TYPES[Label.VEHICLE].code
_SUBMITTED = RELATIONSHIP_TYPES[RelType.SUBMITTED].code
_USES_PHONE = RELATIONSHIP_TYPES[RelType.USES_PHONE].code
_LIVES_AT = RELATIONSHIP_TYPES[RelType.LIVES_AT].code
_PAYS_FROM = RELATIONSHIP_TYPES[RelType.PAYS_FROM].code
_FROM_DEVICE = RELATIONSHIP_TYPES[RelType.FROM_DEVICE].code
_DECLARES_EMPLOYER = RELATIONSHIP_TYPES[RelType.DECLARES_EMPLOYER].code
_LISTS_CONTACT = RELATIONSHIP_TYPES[RelType.LISTS_CONTACT].code
_AT_DEALER = RELATIONSHIP_TYPES[RelType.AT_DEALER].code
_FOR_VEHICLE = RELATIONSHIP_TYPES[RelType.FOR_VEHICLE].code
_VEHICLE_USER = RELATIONSHIP_TYPES[RelType.VEHICLE_USER].code
_NO_PROPERTIES = "{}"


_dumps = orjson.dumps


def _json(value: dict[str, Any]) -> str:
    return _dumps(value).decode()


def application_row(app: Application, keyer: PersonalDataKeyer) -> ApplicationRow:
    """Map one application to the nodes, relationships and redacted record it writes."""
    # Written out flat (no helper closures): this runs once per ingested application.
    key = keyer.key
    applicant = app.applicant
    # model_dump_json is canonical for a given model (fields in declaration order).
    canonical = app.model_dump_json()
    content_hash = key("application", canonical)
    record = orjson.loads(canonical)
    rec_applicant = record["applicant"]
    app_key = app.application_id

    # Applicant: the person, their phone, address, account, device, employer.
    id_number = applicant.id_number
    id_hash = key("id", id_number)
    # validated already (GB 11643): read the fields by position
    id_masked = mask_id_number(id_number)
    name_masked = mask_name(applicant.name)
    person_props = {
        "id_masked": id_masked,
        "region_code": id_number[:6],
        "birth_year": int(id_number[6:10]),
        "sex": int(id_number[16]) % 2,
        "name_masked": name_masked,
    }
    nodes: list[NodeRow] = [(_PERSON, id_hash, _dumps(person_props).decode())]
    rels: list[RelationshipRow] = [(_PERSON, id_hash, _SUBMITTED, _APPLICATION, app_key)]
    rec_applicant["id_number"] = id_masked
    rec_applicant["id_hash"] = id_hash
    rec_applicant["name"] = name_masked

    phone = applicant.phone
    phone_hash = key("phone", phone)
    masked_phone = mask_phone(phone)
    nodes.append((_PHONE, phone_hash, _phone_props(masked_phone, phone)))
    rels.append((_APPLICATION, app_key, _USES_PHONE, _PHONE, phone_hash))
    rec_applicant["phone"] = masked_phone
    rec_applicant["phone_hash"] = phone_hash
    if applicant.id_registered_phone is not None:
        rec_applicant["id_registered_phone"] = mask_phone(applicant.id_registered_phone)
        rec_applicant["id_registered_phone_hash"] = key("phone", applicant.id_registered_phone)

    try:
        address_hash = key("address", normalize_address(applicant.address))
    except ValueError:  # nothing left to key it by: refused naming the field, as validation would
        raise ApplicationValidationError(
            [FieldError("applicant.address", "has no letter or digit to key it by")], app.application_id
        ) from None
    masked_address = mask_address(applicant.address)
    nodes.append((_ADDRESS, address_hash, _dumps({"masked": masked_address}).decode()))
    rels.append((_APPLICATION, app_key, _LIVES_AT, _ADDRESS, address_hash))
    rec_applicant["address"] = masked_address
    rec_applicant["address_hash"] = address_hash

    if applicant.bank_account is not None:
        account_hash = key("account", applicant.bank_account)
        masked = mask_account(applicant.bank_account)
        nodes.append((_BANK_ACCOUNT, account_hash, _dumps({"masked": masked}).decode()))
        rels.append((_APPLICATION, app_key, _PAYS_FROM, _BANK_ACCOUNT, account_hash))
        rec_applicant["bank_account"] = masked
        rec_applicant["account_hash"] = account_hash

    if applicant.device_id is not None:
        nodes.append((_DEVICE, applicant.device_id, _NO_PROPERTIES))
        rels.append((_APPLICATION, app_key, _FROM_DEVICE, _DEVICE, applicant.device_id))

    # So far every node differs from the others (distinct labels). From here on a node may
    # repeat one already listed (a contact's phone is the applicant's, the vehicle's user is
    # the applicant): its first occurrence is kept, as in a MERGE ... ON CREATE.
    employer = applicant.employer
    employer_props = {"name": employer.name}
    if employer.credit_code is not None:
        employer_props["credit_code"] = employer.credit_code
    employer_id = employer_key(employer.name, employer.credit_code)
    nodes.append((_EMPLOYER, employer_id, _dumps(employer_props).decode()))
    rels.append((_APPLICATION, app_key, _DECLARES_EMPLOYER, _EMPLOYER, employer_id))

    phones = {phone_hash}
    seen_contacts: set[str] = set()
    for contact, rec_contact in zip(applicant.emergency_contacts, rec_applicant["emergency_contacts"], strict=True):
        contact_phone = contact.phone
        contact_hash = key("phone", contact_phone)
        masked_phone = mask_phone(contact_phone)
        rec_contact["name"] = mask_name(contact.name)
        rec_contact["phone"] = masked_phone
        rec_contact["phone_hash"] = contact_hash
        if contact_hash not in seen_contacts:
            seen_contacts.add(contact_hash)
            if contact_hash not in phones:
                phones.add(contact_hash)
                nodes.append((_PHONE, contact_hash, _phone_props(masked_phone, contact_phone)))
            rels.append((_APPLICATION, app_key, _LISTS_CONTACT, _PHONE, contact_hash))

    dealer_id = app.dealer_id
    nodes.append((_DEALER, dealer_id, _NO_PROPERTIES))
    rels.append((_APPLICATION, app_key, _AT_DEALER, _DEALER, dealer_id))

    vehicle = app.vehicle
    if vehicle.vin is not None:
        nodes.append((_VEHICLE, vehicle.vin, _dumps({"brand": vehicle.brand, "model": vehicle.model}).decode()))
        rels.append((_APPLICATION, app_key, _FOR_VEHICLE, _VEHICLE, vehicle.vin))
    user_id_number = vehicle.user_id_number
    if user_id_number is not None:
        user_hash = key("id", user_id_number)
        user_masked = mask_id_number(user_id_number)
        if user_hash != id_hash:
            user_props = {
                "id_masked": user_masked,
                "region_code": user_id_number[:6],
                "birth_year": int(user_id_number[6:10]),
                "sex": int(user_id_number[16]) % 2,
            }
            nodes.append((_PERSON, user_hash, _dumps(user_props).decode()))
        rels.append((_APPLICATION, app_key, _VEHICLE_USER, _PERSON, user_hash))
        rec_vehicle = record["vehicle"]
        rec_vehicle["user_id_number"] = user_masked
        rec_vehicle["user_id_hash"] = user_hash

    loan = app.loan
    at = app.submitted_ts
    application_props = {
        "submitted_at": at,
        "dealer_id": dealer_id,
        "channel": app.channel,
        "product": loan.product,
        "amount": loan.amount,
        "vehicle_price": loan.vehicle_price,
        "vehicle_model": vehicle_model_name(vehicle.brand, vehicle.model),
        "term_months": loan.term_months,
        "content_hash": content_hash,
    }
    return ApplicationRow(
        app_key,
        at,
        dealer_id,
        content_hash,
        _dumps(application_props).decode(),
        _dumps(record).decode(),
        tuple(nodes),
        tuple(rels),
    )


def _phone_props(masked: str, phone: str) -> str:
    return _dumps({"masked": masked, "mobile": is_mobile(phone)}).decode()


def graph_from_row(row: ApplicationRow) -> ApplicationGraph:
    """The :class:`ApplicationGraph` of a row (labels, types and property dicts)."""
    return ApplicationGraph(
        application_id=row.application_id,
        submitted_ts=row.submitted_ts,
        content_hash=row.content_hash,
        application=orjson.loads(row.properties),
        record_json=row.record_json,
        nodes=[GraphNode(label_from_code(code), key, orjson.loads(props)) for code, key, props in row.nodes],
        relationships=[
            GraphRelationship(label_from_code(s), sk, rel_type_from_code(t), label_from_code(d), dk)
            for s, sk, t, d, dk in row.relationships
        ],
    )


def row_from_graph(graph: ApplicationGraph) -> ApplicationRow:
    """The :class:`ApplicationRow` of a graph: the inverse of :func:`graph_from_row`."""
    nodes: dict[tuple[int, str], str] = {}
    for node in graph.nodes:
        nodes.setdefault((NODE_TYPES[node.label].code, node.key), _json(node.properties))
    return ApplicationRow(
        application_id=graph.application_id,
        submitted_ts=graph.submitted_ts,
        dealer_id=graph.application["dealer_id"],
        content_hash=graph.content_hash,
        properties=_json(graph.application),
        record_json=graph.record_json,
        nodes=tuple((code, key, props) for (code, key), props in nodes.items()),
        relationships=tuple(
            (
                NODE_TYPES[rel.source_label].code,
                rel.source_key,
                RELATIONSHIP_TYPES[rel.type].code,
                NODE_TYPES[rel.target_label].code,
                rel.target_key,
            )
            for rel in graph.relationships
        ),
    )


def application_graph(app: Application, keyer: PersonalDataKeyer) -> ApplicationGraph:
    """Map one application to the nodes, relationships and redacted record it writes."""
    return graph_from_row(application_row(app, keyer))
