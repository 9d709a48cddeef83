"""Keys and masked forms for personal data.

Identity numbers, phones, bank accounts and addresses never become graph keys or log
fields as they are. :class:`PersonalDataKeyer` turns each into a keyed hash
(HMAC-SHA256 under the secret from the settings, with a domain tag per kind so that
the same digits as a phone and as an account give different keys), and the
``mask_*`` helpers of :mod:`tianwang.identifiers` give the forms a person may see.

Examples
--------
>>> keyer = PersonalDataKeyer(b"a test secret that is long enough!!")
>>> k = keyer.phone("13800138000")
>>> len(k), k == keyer.phone("13800138000"), k == keyer.account("13800138000")
(32, True, False)
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["KEY_HEX_LENGTH", "PersonalDataKeyer"]

#: Length of a key in hex characters: HMAC-SHA256 truncated to 128 bits (RFC 2104 §5).
KEY_HEX_LENGTH = 32


class PersonalDataKeyer:
    """Derives graph keys from personal data with HMAC-SHA256 under one secret.

    Parameters
    ----------
    secret : bytes
        At least 32 bytes. Changing it changes every key, so a store must be
        re-ingested under a new secret.
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError(f"the personal-data secret must be at least 32 bytes, got: {len(secret)} bytes")
        self._secret = bytes(secret)

    def __repr__(self) -> str:
        return f"PersonalDataKeyer(fingerprint={self.fingerprint()!r})"

    def key(self, kind: str, normalized_value: str) -> str:
        """The key of one normalised value of one kind (``"id"``, ``"phone"`` …)."""
        digest = hmac.digest(self._secret, f"{kind}\x1f{normalized_value}".encode(), hashlib.sha256)
        return digest.hex()[:KEY_HEX_LENGTH]

    def id_number(self, value: str) -> str:
        """Key of a resident identity number (normalised, upper-case ``X``)."""
        return self.key("id", value)

    def phone(self, value: str) -> str:
        """Key of a normalised phone number."""
        return self.key("phone", value)

    def account(self, value: str) -> str:
        """Key of a normalised bank account number."""
        return self.key("account", value)

    def address(self, value: str) -> str:
        """Key of a normalised address."""
        return self.key("address", value)

    def fingerprint(self) -> str:
        """A short public fingerprint of the secret, to detect stores keyed under another one."""
        return self.key("fingerprint", "tianwang")[:12]
