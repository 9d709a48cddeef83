"""The vault's cipher: raw personal values sealed with AES-256-GCM under rotating keys.

Kernel module. The graph and the records keep personal data only as HMAC keys and
masked forms (:mod:`tianwang.privacy`, :mod:`graph_schema.mapping`); the raw values an
investigator may need to see, and that re-keying under a new secret needs
(``tianwang rekey``), are sealed here, one value per field of an application
(:func:`personal_fields`: exactly the fields the stored record masks).

Each sealed value names the key it was sealed with (``key_id``), so keys rotate
without downtime: the first key of ``TIANWANG_VAULT_KEYS`` seals, every key listed
opens, and ``tianwang vault rotate`` re-seals what an older key sealed. The
additional authenticated data binds a ciphertext to its application id and field
path: a ciphertext copied to another row does not open.

Examples
--------
>>> vault = Vault([("k2", b"\\x02" * 32), ("k1", b"\\x01" * 32)])
>>> sealed = vault.seal("APP-1", "applicant.phone", "13800138000")
>>> sealed.key_id, vault.open("APP-1", "applicant.phone", sealed)
('k2', '13800138000')
>>> vault.open("APP-2", "applicant.phone", sealed)
Traceback (most recent call last):
...
tianwang.vault.VaultIntegrityError: the vault entry applicant.phone of application 'APP-2' does not open: ...
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tianwang.application import Application
from tianwang.errors import ConfigurationError, StoreError, shown_id
from tianwang.settings import Settings

__all__ = [
    "KEY_ID_PATTERN",
    "VAULT_FIELDS",
    "Sealed",
    "Vault",
    "VaultIntegrityError",
    "VaultKeyMissingError",
    "is_vault_field",
    "new_key_entry",
    "personal_fields",
    "vault_from_settings",
]

#: What a key id may be: letters, digits, ``_``, ``-`` and ``.``, 1 to 32 of them.
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,32}")
#: AES-256: 32-byte keys. GCM: 96-bit nonces, random per value (2^32 values per key stay far below the bound).
KEY_BYTES = 32
NONCE_BYTES = 12
_AAD_PREFIX = b"tianwang-vault/v1\x1f"

#: The fields kept in the vault, as schema paths (``[]`` stands for each emergency contact's index).
VAULT_FIELDS: tuple[str, ...] = (
    "applicant.id_number",
    "applicant.name",
    "applicant.phone",
    "applicant.id_registered_phone",
    "applicant.address",
    "applicant.bank_account",
    "applicant.emergency_contacts[].name",
    "applicant.emergency_contacts[].phone",
    "vehicle.user_id_number",
)
_CONTACT_FIELD = re.compile(r"applicant\.emergency_contacts\[(\d{1,2})\]\.(name|phone)")


class VaultKeyMissingError(ConfigurationError):
    """A vault entry was sealed under a key that is not in ``TIANWANG_VAULT_KEYS`` (any more)."""


class VaultIntegrityError(StoreError):
    """A vault entry does not open under its key: altered, or moved to another application or field."""


def is_vault_field(path: str) -> bool:
    """Whether ``path`` names a field the vault keeps (``applicant.emergency_contacts[0].phone`` …).

    >>> is_vault_field("applicant.phone"), is_vault_field("applicant.emergency_contacts[1].name")
    (True, True)
    >>> is_vault_field("loan.amount"), is_vault_field("applicant.emergency_contacts[].name")
    (False, False)
    """
    if "[]" in path:
        return False
    return path in VAULT_FIELDS or _CONTACT_FIELD.fullmatch(path) is not None


def personal_fields(application: Application) -> dict[str, str]:
    """``{schema path: raw value}`` of every personal field the stored record masks (present ones only),
    in the normalised form the application holds."""
    a = application.applicant
    fields = {"applicant.id_number": a.id_number, "applicant.name": a.name, "applicant.phone": a.phone,
              "applicant.address": a.address}
    if a.id_registered_phone is not None:
        fields["applicant.id_registered_phone"] = a.id_registered_phone
    if a.bank_account is not None:
        fields["applicant.bank_account"] = a.bank_account
    for i, contact in enumerate(a.emergency_contacts):
        fields[f"applicant.emergency_contacts[{i}].name"] = contact.name
        fields[f"applicant.emergency_contacts[{i}].phone"] = contact.phone
    if application.vehicle.user_id_number is not None:
        fields["vehicle.user_id_number"] = application.vehicle.user_id_number
    return fields


@dataclass(frozen=True, slots=True)
class Sealed:
    """One sealed value: the key that sealed it, the nonce, and the ciphertext with its GCM tag."""

    key_id: str
    nonce: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"Sealed(key_id={self.key_id!r}, {len(self.ciphertext)} bytes)"


def _aad(application_id: str, field: str) -> bytes:
    return _AAD_PREFIX + application_id.encode() + b"\x1f" + field.encode()


def new_key_entry(key_id: str) -> str:
    """A fresh ``key_id:base64key`` entry for ``TIANWANG_VAULT_KEYS`` (32 random bytes)."""
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValueError("a key id is 1-32 letters, digits, '_', '-' or '.'")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


class Vault:
    """Seals and opens personal values under a list of keys, the first of which seals.

    Parameters
    ----------
    keys : sequence of (key id, 32-byte key)
        The active key first; the others only open what they sealed (during a rotation).
    """

    __slots__ = ("_ciphers", "active_key_id")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a vault needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for kid, key in keys:
            if not KEY_ID_PATTERN.fullmatch(kid):
                raise ValueError(f"vault key id must be 1-32 letters, digits, '_', '-' or '.', got: {kid!r}")
            if len(key) != KEY_BYTES:
                raise ValueError(f"vault key {kid!r} must be {KEY_BYTES} bytes, got: {len(key)} bytes")
            if kid in self._ciphers:
                raise ValueError(f"vault key id {kid!r} appears twice")
            self._ciphers[kid] = AESGCM(bytes(key))
        self.active_key_id: str = keys[0][0]

    def __repr__(self) -> str:
        return f"Vault(active={self.active_key_id!r}, keys={list(self._ciphers)})"

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id this vault opens, the active one first."""
        return tuple(self._ciphers)

    def seal(self, application_id: str, field: str, value: str) -> Sealed:
        """Seal ``value`` of ``field`` of ``application_id`` under the active key."""
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self.active_key_id].encrypt(nonce, value.encode(), _aad(application_id, field))
        return Sealed(self.active_key_id, nonce, ciphertext)

    def open(self, application_id: str, field: str, sealed: Sealed) -> str:
        """The value ``sealed`` holds for ``field`` of ``application_id``.

        Raises
        ------
        VaultKeyMissingError
            When its key is not among this vault's keys.
        VaultIntegrityError
            When it does not open (altered, or sealed for another application or field).
        """
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise VaultKeyMissingError(f"the vault key {sealed.key_id!r} is not in TIANWANG_VAULT_KEYS; "
                                       "put it back (after the active key) until 'tianwang vault rotate' finishes")
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, _aad(application_id, field)).decode()
        except InvalidTag:
            raise VaultIntegrityError(f"the vault entry {field} of application {shown_id(application_id)!r} does "
                                      f"not open: altered, or not sealed for this application and field") from None

    def opens(self, key_id: str) -> bool:
        """Whether this vault holds the key ``key_id``."""
        return key_id in self._ciphers

    def reseal(self, application_id: str, field: str, sealed: Sealed) -> Sealed:
        """``sealed`` opened and sealed again under the active key (itself when the active key sealed it)."""
        if sealed.key_id == self.active_key_id:
            return sealed
        return self.seal(application_id, field, self.open(application_id, field, sealed))


def vault_from_settings(settings: Settings) -> Vault | None:
    """The vault of ``TIANWANG_VAULT_KEYS`` (``None`` when ``TIANWANG_VAULT=false``)."""
    keys = settings.vault_key_list
    return Vault(keys) if keys else None
