"""The vault's cipher (tianwang.vault) and its keys in the settings."""

from __future__ import annotations

import base64

import pytest

from tests import builders
from tianwang.application import parse_application
from tianwang.errors import ConfigurationError
from tianwang.settings import DEV_VAULT_KEYS, load_settings
from tianwang.vault import (
    Sealed,
    Vault,
    VaultIntegrityError,
    VaultKeyMissingError,
    is_vault_field,
    new_key_entry,
    personal_fields,
)

K1 = ("k1", b"\x01" * 32)
K2 = ("k2", b"\x02" * 32)


def test_a_sealed_value_opens_only_for_its_application_and_field():
    vault = Vault([K1])
    sealed = vault.seal("APP-1", "applicant.phone", "13900000001")
    assert b"13900000001" not in sealed.ciphertext and len(sealed.nonce) == 12
    assert vault.open("APP-1", "applicant.phone", sealed) == "13900000001"
    for app, field in (("APP-2", "applicant.phone"), ("APP-1", "applicant.id_registered_phone")):
        with pytest.raises(VaultIntegrityError) as err:
            vault.open(app, field, sealed)
        assert "13900000001" not in str(err.value)
    flipped = Sealed(sealed.key_id, sealed.nonce, bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:])
    with pytest.raises(VaultIntegrityError):
        vault.open("APP-1", "applicant.phone", flipped)
    assert vault.seal("APP-1", "applicant.phone", "13900000001").nonce != sealed.nonce


def test_keys_rotate_the_first_seals_every_one_opens():
    old = Vault([K1])
    sealed = old.seal("APP-1", "applicant.name", "王一明")
    both = Vault([K2, K1])
    assert both.open("APP-1", "applicant.name", sealed) == "王一明"
    again = both.reseal("APP-1", "applicant.name", sealed)
    assert again.key_id == "k2" and both.reseal("APP-1", "applicant.name", again) is again
    assert Vault([K2]).open("APP-1", "applicant.name", again) == "王一明"
    with pytest.raises(VaultKeyMissingError, match="'k1' is not in TIANWANG_VAULT_KEYS"):
        Vault([K2]).open("APP-1", "applicant.name", sealed)


@pytest.mark.parametrize(("keys", "message"), [
    ([], "at least one key"),
    ([("k1", b"short")], "32 bytes"),
    ([("bad id!", b"\x01" * 32)], "key id"),
    ([K1, ("k1", b"\x03" * 32)], "twice"),
])
def test_bad_keys_are_refused_when_the_vault_is_built(keys, message):
    with pytest.raises(ValueError, match=message):
        Vault(keys)


def test_personal_fields_are_the_fields_the_record_masks():
    raw = builders.application(5, **{"vehicle.user_id_number": builders.resident_id(sequence=77)})
    fields = personal_fields(parse_application(raw))
    assert fields["applicant.phone"] == raw["applicant"]["phone"]
    assert fields["vehicle.user_id_number"] == raw["vehicle"]["user_id_number"]
    assert fields["applicant.emergency_contacts[0].phone"] == raw["applicant"]["emergency_contacts"][0]["phone"]
    assert all(is_vault_field(f) for f in fields)
    assert not is_vault_field("applicant.occupation") and not is_vault_field("applicant.emergency_contacts[x].name")


def test_settings_read_the_keys_and_refuse_bad_or_missing_ones_in_prod(monkeypatch):
    entry = new_key_entry("2026-12")
    kid, encoded = entry.split(":")
    settings = load_settings(vault_keys=f"{entry}, {DEV_VAULT_KEYS}")
    assert [k for k, _ in settings.vault_key_list] == ["2026-12", "dev"]
    assert dict(settings.vault_key_list)[kid] == base64.b64decode(encoded)
    assert [k for k, _ in load_settings().vault_key_list] == ["dev"]  # the dev key in dev and test
    assert load_settings(vault=False).vault_key_list == []
    secret = "a-production-secret-of-enough-length-0123"
    with pytest.raises(ConfigurationError, match="TIANWANG_VAULT_KEYS is not set"):
        load_settings(env="prod", secret=secret)
    with pytest.raises(ConfigurationError, match="built-in dev key"):
        load_settings(env="prod", secret=secret, vault_keys=DEV_VAULT_KEYS)
    assert load_settings(env="prod", secret=secret, vault=False).vault_key_list == []
    assert [k for k, _ in load_settings(env="prod", secret=secret, vault_keys=entry).vault_key_list] == ["2026-12"]
    for spec, message in (("k1", "entry 1 is not"), ("k1:!!!", "not base64"), ("k1:" + "QQ==", "32 bytes"),
                          (f"{entry},{entry}", "appears twice")):
        with pytest.raises(ConfigurationError, match=message) as err:
            load_settings(vault_keys=spec)
        assert encoded not in str(err.value)
