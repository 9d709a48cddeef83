"""An application's details for the people who review it, masked by role.

The graph store keeps each application redacted (personal fields masked, their keys
beside them; :class:`graph_schema.values.ApplicationRecord`). What a person sees of it:

* ``investigator`` (and ``admin``): the redacted application without the keys — masked
  identity number, name, phones, address and bank account, the loan, vehicle, credit
  and documents, as the case needs them;
* ``analyst``: the same without any personal field (applicant and contacts reduced to
  income, occupation and the checks' results), enough to judge a rule's effect.

Reading it writes an ``application.read`` audit entry.
"""

from __future__ import annotations

from typing import Any

from tianwang.errors import NotFoundError
from tianwang.service import Service
from tianwang.service.audit import audit

__all__ = ["PERSONAL_APPLICANT_FIELDS", "application_details"]

#: applicant fields an analyst does not see even masked
PERSONAL_APPLICANT_FIELDS = ("id_number", "name", "phone", "address", "id_registered_phone", "device_id", "ip",
                             "bank_account", "emergency_contacts")


def _without_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_keys(v) for k, v in value.items() if not k.endswith("_hash")}
    if isinstance(value, list):
        return [_without_keys(v) for v in value]
    return value


def application_details(service: Service, caller: Any, application_id: str, *,
                        request_id: str | None = None) -> dict[str, Any]:
    """The stored application ``application_id`` as ``caller``'s roles may see it; 404 if unknown."""
    stored = service.runtime.store.get_application(application_id)
    if stored is None:
        raise NotFoundError("application", application_id)
    record: dict[str, Any] = _without_keys(stored.record)
    personal = caller.has("investigator")
    if not personal:
        applicant = record.get("applicant") or {}
        for name in PERSONAL_APPLICANT_FIELDS:
            applicant.pop(name, None)
        if record.get("vehicle"):
            record["vehicle"].pop("user_id_number", None)
    with service.ops.session() as session:
        audit(session, caller, "application.read", "application", [application_id], request_id=request_id,
              personal=personal)
    return {"application_id": application_id, "personal_fields": "masked" if personal else "hidden",
            "application": record}
