"""The keys of one application's personal data and attributes, computed once.

Kernel module. An application is keyed here and nowhere else: the graph mapping
(:func:`graph_schema.mapping.application_row`), the scoring context
(:func:`detectors.context.build_context`) and the watchlist all take the
:class:`PersonalKeys` of :func:`personal_keys` (or, for a raw value an analyst types,
the same rules through :func:`watchlist_key`). Identity numbers, phones, accounts and
addresses become HMAC keys (:class:`~tianwang.privacy.PersonalDataKeyer`); devices,
dealers and vehicles are keyed by their own ids; an employer by its credit code, else
its normalised name.

Examples
--------
>>> employer_key("Acme  Trading", None)
'name:ACMETRADING'
>>> employer_key("Acme", "91350100M000100Y43")
'91350100M000100Y43'
>>> vehicle_model_name("Toyota", "Camry")
'Toyota Camry'
"""

from __future__ import annotations

from dataclasses import dataclass

from tianwang.application import Application
from tianwang.errors import ApplicationValidationError, FieldError
from tianwang.identifiers import is_valid_credit_code, normalize_account, normalize_address, normalize_phone
from tianwang.privacy import PersonalDataKeyer

__all__ = ["WATCHLIST_KINDS", "PersonalKeys", "employer_key", "personal_keys", "vehicle_model_name", "watchlist_key"]

#: What a watchlist entry can name.
WATCHLIST_KINDS: tuple[str, ...] = ("id", "phone", "device", "account", "employer")


def employer_key(name: str, credit_code: str | None) -> str:
    """The ``Employer`` node's key: the credit code when there is one, else ``name:`` and the normalised name.

    The name is normalised by dropping white space and upper-casing.
    """
    if credit_code:
        return credit_code
    return "name:" + "".join(name.split()).upper()


def vehicle_model_name(brand: str, model: str) -> str:
    """Brand and model as one name (``"Toyota Camry"``): the ``vehicle_model`` of an Application node."""
    return f"{brand} {model}"


@dataclass(frozen=True, slots=True)
class PersonalKeys:
    """HMAC keys (never raw values) of an application's personal data, plus its plain keys.

    ``contact_hashes`` has one key per emergency contact, in the application's order
    (two contacts with one phone share a key); :attr:`distinct_contact_hashes` drops
    the repeats.
    """

    id_hash: str
    phone_hash: str
    registered_phone_hash: str | None
    account_hash: str | None
    vehicle_user_hash: str | None
    contact_hashes: tuple[str, ...]
    address_hash: str
    device_id: str | None
    employer_key: str

    @property
    def distinct_contact_hashes(self) -> tuple[str, ...]:
        """The contacts' phone keys without repeats, first occurrence first."""
        return tuple(dict.fromkeys(self.contact_hashes))


def personal_keys(application: Application, keyer: PersonalDataKeyer) -> PersonalKeys:
    """The keys of ``application``'s personal data under ``keyer`` (the application is validated).

    Raises
    ------
    ApplicationValidationError
        If a field has nothing left to key it by (naming the field, never the value).
    """
    a = application.applicant
    user = application.vehicle.user_id_number
    try:
        address_hash = keyer.address(normalize_address(a.address))
    except ValueError:  # validation refuses such an address; a model built without it is refused here
        raise ApplicationValidationError(
            [FieldError("applicant.address", "has no letter or digit to key it by")], application.application_id
        ) from None
    return PersonalKeys(
        id_hash=keyer.id_number(a.id_number),
        phone_hash=keyer.phone(a.phone),
        registered_phone_hash=keyer.phone(a.id_registered_phone) if a.id_registered_phone else None,
        account_hash=keyer.account(a.bank_account) if a.bank_account else None,
        vehicle_user_hash=keyer.id_number(user) if user else None,
        contact_hashes=tuple(keyer.phone(c.phone) for c in a.emergency_contacts),
        address_hash=address_hash,
        device_id=a.device_id,
        employer_key=employer_key(a.employer.name, a.employer.credit_code),
    )


def watchlist_key(keyer: PersonalDataKeyer, kind: str, value: str) -> str:
    """The key a raw value typed by an analyst is listed under: the key an application would carry.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`WATCHLIST_KINDS` (the message names the kinds, not the value).
    """
    if kind == "id":
        return keyer.id_number(value.strip().upper())
    if kind == "phone":
        return keyer.phone(normalize_phone(value))
    if kind == "account":
        return keyer.account(normalize_account(value))
    if kind == "device":
        return value.strip()
    if kind == "employer":
        value = value.strip().upper()
        return employer_key(value, value if is_valid_credit_code(value) else None)
    raise ValueError(f"watchlist kind must be one of {list(WATCHLIST_KINDS)}, got: {kind!r}")
