"""From one validated :class:`~tianwang.application.Application` to graph records.

:func:`application_graph` decides which nodes and relationships an application
writes, with which keys and properties. Both stores write exactly these records, so
the two stores agree by construction. Personal data leaves here only as HMAC keys and
masked forms; the application itself is kept as a redacted record (the same shape,
personal fields masked, with their keys beside them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from graph_schema.schema import Label, RelType
from tianwang.application import Application
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

__all__ = ["ApplicationGraph", "GraphNode", "GraphRelationship", "application_graph", "employer_key"]


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


def employer_key(name: str, credit_code: str | None) -> str:
    """Credit code when there is one, else ``name:`` and the normalised name."""
    if credit_code:
        return credit_code
    return "name:" + "".join(name.split()).upper()


def application_graph(app: Application, keyer: PersonalDataKeyer) -> ApplicationGraph:
    """Map one application to the nodes, relationships and redacted record it writes."""
    applicant = app.applicant
    # model_dump_json is canonical for a given model (fields in declaration order).
    canonical = app.model_dump_json()
    content_hash = keyer.key("application", canonical)
    record = orjson.loads(canonical)
    rec_applicant = record["applicant"]
    at = app.submitted_ts
    app_key = app.application_id
    nodes: list[GraphNode] = []
    rels: list[GraphRelationship] = []

    def attach(rel: RelType, label: Label, key: str, props: dict[str, Any]) -> None:
        nodes.append(GraphNode(label, key, props))
        rels.append(GraphRelationship(Label.APPLICATION, app_key, rel, label, key))

    def person(id_number: str) -> tuple[str, dict[str, Any]]:
        # validated already (GB 11643): read the fields by position
        return keyer.id_number(id_number), {
            "id_masked": mask_id_number(id_number),
            "region_code": id_number[:6],
            "birth_year": int(id_number[6:10]),
            "sex": int(id_number[16]) % 2,
        }

    def phone_props(phone: str) -> dict[str, Any]:
        return {"masked": mask_phone(phone), "mobile": is_mobile(phone)}

    # Applicant: the person, their phone, address, account, device, employer.
    id_hash, person_props = person(applicant.id_number)
    person_props["name_masked"] = mask_name(applicant.name)
    nodes.append(GraphNode(Label.PERSON, id_hash, person_props))
    rels.append(GraphRelationship(Label.PERSON, id_hash, RelType.SUBMITTED, Label.APPLICATION, app_key))
    rec_applicant["id_number"] = person_props["id_masked"]
    rec_applicant["id_hash"] = id_hash
    rec_applicant["name"] = person_props["name_masked"]

    phone_hash = keyer.phone(applicant.phone)
    attach(RelType.USES_PHONE, Label.PHONE, phone_hash, phone_props(applicant.phone))
    rec_applicant["phone"] = mask_phone(applicant.phone)
    rec_applicant["phone_hash"] = phone_hash
    if applicant.id_registered_phone is not None:
        rec_applicant["id_registered_phone"] = mask_phone(applicant.id_registered_phone)
        rec_applicant["id_registered_phone_hash"] = keyer.phone(applicant.id_registered_phone)

    address_hash = keyer.address(normalize_address(applicant.address))
    attach(RelType.LIVES_AT, Label.ADDRESS, address_hash, {"masked": mask_address(applicant.address)})
    rec_applicant["address"] = mask_address(applicant.address)
    rec_applicant["address_hash"] = address_hash

    if applicant.bank_account is not None:
        account_hash = keyer.account(applicant.bank_account)
        masked = mask_account(applicant.bank_account)
        attach(RelType.PAYS_FROM, Label.BANK_ACCOUNT, account_hash, {"masked": masked})
        rec_applicant["bank_account"] = masked
        rec_applicant["account_hash"] = account_hash

    if applicant.device_id is not None:
        attach(RelType.FROM_DEVICE, Label.DEVICE, applicant.device_id, {})

    employer = applicant.employer
    employer_props = {"name": employer.name}
    if employer.credit_code is not None:
        employer_props["credit_code"] = employer.credit_code
    attach(RelType.DECLARES_EMPLOYER, Label.EMPLOYER, employer_key(employer.name, employer.credit_code), employer_props)

    seen_contacts: set[str] = set()
    for contact, rec_contact in zip(applicant.emergency_contacts, rec_applicant["emergency_contacts"], strict=True):
        contact_hash = keyer.phone(contact.phone)
        rec_contact["name"] = mask_name(contact.name)
        rec_contact["phone"] = mask_phone(contact.phone)
        rec_contact["phone_hash"] = contact_hash
        if contact_hash not in seen_contacts:
            seen_contacts.add(contact_hash)
            attach(RelType.LISTS_CONTACT, Label.PHONE, contact_hash, phone_props(contact.phone))

    attach(RelType.AT_DEALER, Label.DEALER, app.dealer_id, {})

    vehicle = app.vehicle
    if vehicle.vin is not None:
        attach(RelType.FOR_VEHICLE, Label.VEHICLE, vehicle.vin, {"brand": vehicle.brand, "model": vehicle.model})
    if vehicle.user_id_number is not None:
        user_hash, user_props = person(vehicle.user_id_number)
        attach(RelType.VEHICLE_USER, Label.PERSON, user_hash, user_props)
        record["vehicle"]["user_id_number"] = user_props["id_masked"]
        record["vehicle"]["user_id_hash"] = user_hash

    loan = app.loan
    application_props = {
        "submitted_at": at,
        "dealer_id": app.dealer_id,
        "channel": app.channel,
        "product": loan.product,
        "amount": loan.amount,
        "vehicle_price": loan.vehicle_price,
        "term_months": loan.term_months,
        "content_hash": content_hash,
    }
    record_json = orjson.dumps(record).decode()
    return ApplicationGraph(
        application_id=app_key,
        submitted_ts=at,
        content_hash=content_hash,
        application=application_props,
        record_json=record_json,
        nodes=nodes,
        relationships=rels,
    )
