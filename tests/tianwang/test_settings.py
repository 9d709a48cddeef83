import pytest

from tianwang.errors import ConfigurationError
from tianwang.privacy import PersonalDataKeyer
from tianwang.settings import DEV_SECRET, load_settings


def test_dev_mode_accepts_the_builtin_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIANWANG_SECRET")
    settings = load_settings()
    assert settings.env == "dev" and settings.secret.get_secret_value() == DEV_SECRET


def test_production_refuses_the_dev_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIANWANG_ENV", "prod")
    monkeypatch.setenv("TIANWANG_SECRET", DEV_SECRET)
    with pytest.raises(ConfigurationError, match="built-in dev secret") as info:
        load_settings()
    assert DEV_SECRET not in str(info.value)


def test_short_secret_and_store_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIANWANG_SECRET", "short")
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        load_settings()
    monkeypatch.setenv("TIANWANG_SECRET", "x" * 40)
    monkeypatch.delenv("TIANWANG_NEO4J_URI", raising=False)
    assert load_settings().store == "embedded"
    monkeypatch.setenv("TIANWANG_NEO4J_URI", "bolt://127.0.0.1:1")
    assert load_settings().store == "neo4j"
    assert load_settings(store="embedded").store == "embedded"
    monkeypatch.delenv("TIANWANG_NEO4J_URI")
    with pytest.raises(ConfigurationError, match="needs TIANWANG_NEO4J_URI"):
        load_settings(store="neo4j")


def test_keys_depend_on_secret_and_kind() -> None:
    a = PersonalDataKeyer(b"a" * 32)
    b = PersonalDataKeyer(b"b" * 32)
    assert a.phone("13800138000") != b.phone("13800138000")
    assert a.phone("13800138000") != a.account("13800138000")
    with pytest.raises(ValueError, match="at least 32 bytes, got: 3 bytes"):
        PersonalDataKeyer(b"abc")
