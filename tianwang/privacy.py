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
from typing import Any

__all__ = ["KEY_HEX_LENGTH", "PersonalDataKeyer"]

#: Length of a key in hex characters: HMAC-SHA256 truncated to 128 bits (RFC 2104 §5).
KEY_HEX_LENGTH = 32

_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class PersonalDataKeyer:
    """Derives graph keys from personal data with HMAC-SHA256 under one secret.

    Parameters
    ----------
    secret : bytes
        At least 32 bytes. Changing it changes every key, so a store must be
        re-ingested under a new secret.
    """

    __slots__ = ("_inner", "_inner_by_kind", "_outer", "_secret")

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError(f"the personal-data secret must be at least 32 bytes, got: {len(secret)} bytes")
        self._secret = bytes(secret)
        # HMAC (RFC 2104) with its two pads hashed once: each key then costs two copies of a
        # SHA-256 state and two short updates instead of hashing the padded secret twice.
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(self._secret).digest() if len(self._secret) > block else self._secret).ljust(
            block, b"\0"
        )
        self._inner = hashlib.sha256(padded.translate(_IPAD))
        self._outer = hashlib.sha256(padded.translate(_OPAD))
        # the inner state after ``kind`` and the separator, per kind
        self._inner_by_kind: dict[str, Any] = {}

    def __reduce__(self) -> tuple[type[PersonalDataKeyer], tuple[bytes]]:
        # hash states do not pickle; a copy (a worker process's) derives them again
        return PersonalDataKeyer, (self._secret,)

    def __repr__(self) -> str:
        return f"PersonalDataKeyer(fingerprint={self.fingerprint()!r})"

    def key(self, kind: str, normalized_value: str) -> str:
        """The key of one normalised value of one kind (``"id"``, ``"phone"`` …).

        HMAC-SHA256 of ``kind``, a unit separator (0x1F) and the value, as hex, truncated.
        """
        inner = self._inner_by_kind.get(kind)
        if inner is None:
            inner = self._inner.copy()
            inner.update(f"{kind}\x1f".encode())
            self._inner_by_kind[kind] = inner
        inner = inner.copy()
        inner.update(normalized_value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:KEY_HEX_LENGTH]

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
