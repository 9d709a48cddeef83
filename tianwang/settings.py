"""Settings, read from ``TIANWANG_*`` environment variables (and a ``.env`` file).

Every variable, its meaning and its default: ``docs/configuration.md``, which
``tests/docs/test_docs_content.py`` keeps in step with :class:`Settings` (a field added
here without a row there, or a row there that nothing reads, fails it).
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tianwang.errors import ConfigurationError

__all__ = ["DEV_SECRET", "DEV_VAULT_KEYS", "Settings", "get_settings", "load_settings", "parse_vault_keys"]

#: The built-in secret: fine on a laptop, refused when ``TIANWANG_ENV=prod``.
DEV_SECRET = "tianwang-dev-secret-do-not-use-in-production-0000"
#: The built-in vault key (``dev``, 32 bytes): fine on a laptop, refused when ``TIANWANG_ENV=prod``.
DEV_VAULT_KEYS = "dev:" + base64.b64encode(b"tianwang-dev-vault-key-not-prod!").decode()
#: What a vault key id may be: letters, digits, ``_``, ``-`` and ``.``, 1 to 32 of them.
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_VAULT_KEY_BYTES = 32


def parse_vault_keys(spec: str) -> list[tuple[str, bytes]]:
    """``kid:base64key,kid:base64key`` (the first seals) as ``[(kid, key), ...]``.

    Raises
    ------
    ValueError
        Naming the entry by its position and key id, never the key.

    >>> [(kid, len(key)) for kid, key in parse_vault_keys("new:" + "A" * 43 + "=, old:" + "B" * 43 + "=")]
    [('new', 32), ('old', 32)]
    """
    keys: list[tuple[str, bytes]] = []
    for position, entry in enumerate((e.strip() for e in spec.split(",")), start=1):
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        if not sep or not _KEY_ID.fullmatch(kid):
            raise ValueError(f"entry {position} is not 'key_id:base64key' with a key id of 1-32 letters, digits, "
                             "'_', '-' or '.'")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"entry {position} ({kid!r}): the key is not base64") from None
        if len(key) != _VAULT_KEY_BYTES:
            raise ValueError(f"entry {position} ({kid!r}): the key must be {_VAULT_KEY_BYTES} bytes, "
                             f"got: {len(key)} bytes")
        if any(kid == seen for seen, _ in keys):
            raise ValueError(f"entry {position}: key id {kid!r} appears twice")
        keys.append((kid, key))
    if not keys:
        raise ValueError("no key: give at least one 'key_id:base64key'")
    return keys


def _default_data_dir() -> Path | None:
    candidate = Path.cwd().parent / "shared" / "data"
    if candidate.is_dir():
        return candidate
    here = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return here if here.is_dir() else None


class Settings(BaseSettings):
    """Everything Tianwang reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="TIANWANG_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    secret: SecretStr = SecretStr(DEV_SECRET)
    store: Literal["embedded", "neo4j"] | None = None
    db_path: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "tianwang" / "graph.db")
    lock_timeout: float = Field(default=30.0, ge=0, le=86_400)
    sqlite_cache_mb: int = Field(default=64, ge=1, le=65_536)
    sqlite_mmap_mb: int = Field(default=4096, ge=0, le=1_048_576)
    neo4j_uri: str | None = None
    neo4j_user: str | None = None
    neo4j_password: SecretStr | None = None
    neo4j_database: str = "neo4j"
    neo4j_batch_size: int = Field(default=2000, ge=1, le=50_000)
    data_dir: Path | None = Field(default_factory=_default_data_dir)
    database_url: SecretStr | None = None
    scoring_config: Path | None = None
    bundle_dir: Path | None = None
    job_input_dir: Path | None = None
    webhook_url: str | None = None
    webhook_secrets: SecretStr | None = None
    webhook_backoff_seconds: float = Field(default=5.0, gt=0, le=3600)
    webhook_max_attempts: int = Field(default=12, ge=1, le=100)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    max_batch_bytes: int = Field(default=64 << 20, ge=1024, le=1 << 34)
    scoring_concurrency: int = Field(default=2, ge=1, le=64)
    token_ttl: int = Field(default=8 * 3600, ge=60, le=30 * 86_400)
    sync_seconds: float = Field(default=2.0, ge=0, le=3600)
    graph_timeout_ms: float | None = Field(default=None, ge=0, le=600_000)
    graph_outbox: bool = True
    rate_limit: float = Field(default=1000.0, ge=0, le=1_000_000)
    rate_burst: int = Field(default=2000, ge=1, le=10_000_000)
    login_attempts_per_minute: int = Field(default=10, ge=1, le=10_000)
    vault: bool = True
    vault_keys: SecretStr | None = None
    kafka_bootstrap: str | None = None
    kafka_follow: bool = True

    @model_validator(mode="after")
    def _check(self) -> Settings:
        secret = self.secret.get_secret_value()
        if len(secret.encode()) < 32:
            raise ValueError("TIANWANG_SECRET must be at least 32 bytes")
        if self.env == "prod" and secret == DEV_SECRET:
            raise ValueError("TIANWANG_SECRET is the built-in dev secret; set a secret of your own outside dev mode")
        if self.vault:
            self._check_vault_keys()
        if self.store is None:
            self.store = "neo4j" if self.neo4j_uri else "embedded"
        if self.store == "neo4j" and not self.neo4j_uri:
            raise ValueError("TIANWANG_STORE=neo4j needs TIANWANG_NEO4J_URI")
        return self

    def _check_vault_keys(self) -> None:
        if self.vault_keys is None:
            if self.env == "prod":
                raise ValueError("TIANWANG_VAULT_KEYS is not set: give the vault's keys ('tianwang vault new-key "
                                 "KEY_ID' makes one) or turn the vault off with TIANWANG_VAULT=false")
            return
        try:
            keys = parse_vault_keys(self.vault_keys.get_secret_value())
        except ValueError as exc:
            raise ValueError(f"TIANWANG_VAULT_KEYS: {exc}") from None
        if self.env == "prod" and any(key == parse_vault_keys(DEV_VAULT_KEYS)[0][1] for _, key in keys):
            raise ValueError("TIANWANG_VAULT_KEYS holds the built-in dev key; use keys of your own outside dev mode")

    @property
    def vault_key_list(self) -> list[tuple[str, bytes]]:
        """The vault's keys, ``[(key id, 32-byte key), ...]``, the one that seals first (the dev key when
        ``TIANWANG_VAULT_KEYS`` is unset outside prod); empty when the vault is off."""
        if not self.vault:
            return []
        return parse_vault_keys(self.vault_keys.get_secret_value() if self.vault_keys is not None
                                 else DEV_VAULT_KEYS)

    @property
    def operations_url(self) -> str:
        """The operational database's SQLAlchemy URL (default: SQLite beside the graph store)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.db_path.with_name('operations.db')}"

    @property
    def bundles_path(self) -> Path:
        """The folder of model bundles."""
        return self.bundle_dir or self.db_path.with_name("bundles")

    @property
    def job_inputs_path(self) -> Path:
        """The only folder jobs read application and label files from."""
        return self.job_input_dir or self.db_path.with_name("inputs")

    @property
    def webhook_secret_list(self) -> list[bytes]:
        """The webhook signing secrets, newest first as configured."""
        if self.webhook_secrets is None:
            return []
        return [s.strip().encode() for s in self.webhook_secrets.get_secret_value().split(",") if s.strip()]

    @property
    def secret_bytes(self) -> bytes:
        """The personal-data secret as bytes."""
        return self.secret.get_secret_value().encode()


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus ``overrides``; errors become :class:`ConfigurationError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_input=False)
        )
        raise ConfigurationError(f"invalid settings: {reasons}") from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache or pass overrides)."""
    return load_settings()
