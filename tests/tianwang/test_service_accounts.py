"""Accounts: hashed passwords, signed login tokens, hashed API keys with prefixes, revocation, audit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tianwang.errors import InvalidRequestError, NotFoundError, StateConflictError
from tianwang.opsdb import OpsDB
from tianwang.opsdb.models import ApiKey, AuditEntry, User
from tianwang.service.accounts import Accounts, hash_password, verify_password

SECRET = b"tianwang-test-secret-0123456789abcdef"


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    return Accounts(OpsDB(f"sqlite:///{tmp_path / 'ops.db'}"), SECRET, token_ttl=60)


def test_passwords_are_salted_hashes_that_verify():
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and "correct horse" not in one
    assert verify_password("correct horse", one) and not verify_password("wrong horse", one)


def test_login_gives_a_token_naming_the_person_and_roles(accounts):
    accounts.add_user("li.na", "password123", ["investigator"])
    assert accounts.login("li.na", "wrong-password") is None
    assert accounts.login("nobody", "password123") is None
    token, principal = accounts.login("li.na", "password123")
    again = accounts.from_token(token)
    assert again == principal and again.roles == {"investigator"} and again.kind == "user"
    with accounts.ops.session() as session:
        stored = session.scalar(select(User))
        assert "password123" not in stored.password_hash


def test_forged_or_expired_tokens_are_refused(accounts, monkeypatch):
    accounts.add_user("li.na", "password123", ["investigator"])
    token, _ = accounts.login("li.na", "password123")
    body, signature = token.rsplit(".", 1)
    assert accounts.from_token(body + "." + "0" * len(signature)) is None
    other = Accounts(accounts.ops, b"another-secret-0123456789abcdefghij")
    assert other.from_token(token) is None
    monkeypatch.setattr(time, "time", lambda: 10**10)
    assert accounts.from_token(token) is None


def test_bad_usernames_passwords_and_roles_name_the_field(accounts):
    with pytest.raises(InvalidRequestError) as exc:
        accounts.add_user("li na!", "password123", ["investigator"])
    assert exc.value.field == "username"
    with pytest.raises(InvalidRequestError) as exc:
        accounts.add_user("li.na", "short", ["investigator"])
    assert exc.value.field == "password"
    with pytest.raises(InvalidRequestError):
        accounts.add_user("li.na", "password123", ["superuser"])
    accounts.add_user("li.na", "password123", ["investigator"])
    with pytest.raises(StateConflictError):
        accounts.add_user("li.na", "password456", ["analyst"])


def test_api_keys_are_stored_hashed_and_named_by_a_prefix(accounts):
    raw, record = accounts.create_key("approval-system", ["scorer"])
    assert raw.startswith(f"tw_{record.prefix}_")
    with accounts.ops.session() as session:
        stored = session.scalar(select(ApiKey))
        assert raw not in stored.key_hash and stored.prefix == record.prefix
    principal = accounts.from_key(raw)
    assert principal is not None and principal.roles == {"scorer"} and principal.name == "approval-system"
    assert accounts.from_key(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert accounts.from_key("not-a-key") is None


def test_a_client_may_hold_several_keys_and_a_revoked_one_stops_at_once(accounts):
    old, old_record = accounts.create_key("approval-system", ["scorer"])
    new, _ = accounts.create_key("approval-system", ["scorer"])
    assert accounts.from_key(old) is not None  # cached now
    accounts.revoke_key(old_record.prefix, actor="admin-1")
    assert accounts.from_key(old) is None
    assert accounts.from_key(new) is not None
    with pytest.raises(NotFoundError):
        accounts.revoke_key("nope")


def test_key_and_user_changes_are_audited_without_secrets(accounts):
    raw, record = accounts.create_key("approval-system", ["scorer"], created_by="admin-1")
    accounts.revoke_key(record.prefix, actor="admin-1")
    accounts.add_user("li.na", "password123", ["investigator"])
    with accounts.ops.session() as session:
        lines = [(e.actor, e.action, e.target_ids) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        text = repr([(e.detail, e.target_ids) for e in session.scalars(select(AuditEntry))])
    assert lines[0] == ("admin-1", "key.create", [record.prefix])
    assert lines[1] == ("admin-1", "key.revoke", [record.prefix])
    assert lines[2][1] == "user.create"
    assert raw not in text and "password123" not in text
