"""The personal-data keyer: keys are HMAC-SHA256 and must never change (stores persist them)."""

from __future__ import annotations

import hashlib
import hmac
import pickle

import pytest

from tianwang.privacy import PersonalDataKeyer


@pytest.mark.parametrize("length", [32, 63, 64, 65, 200])
def test_keys_are_truncated_hmac_sha256_of_kind_and_value(length: int) -> None:
    secret = bytes(range(length))
    keyer = PersonalDataKeyer(secret)
    for kind in ("id", "phone", "account", "address", "application"):
        for value in ("", "13800138000", "上海市黄浦区1号", "x" * 3000):
            expected = hmac.digest(secret, f"{kind}\x1f{value}".encode(), hashlib.sha256).hex()[:32]
            assert keyer.key(kind, value) == expected
            assert keyer.key(kind, value) == expected  # the cached per-kind state is not consumed


def test_a_pickled_keyer_gives_the_same_keys() -> None:
    keyer = PersonalDataKeyer(b"a test secret that is long enough!!")
    copy = pickle.loads(pickle.dumps(keyer))
    assert copy.phone("13800138000") == keyer.phone("13800138000")
    assert copy.fingerprint() == keyer.fingerprint()
