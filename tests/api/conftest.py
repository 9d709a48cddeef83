"""Fixtures for the service's tests: a service on a fresh store and operational database,
an HTTP client over it (and its application, for schemathesis), and a credential per role.

``ops_url`` is where the operational records live: every test runs twice, on SQLite in a
temporary directory and on PostgreSQL in a schema of its own (``TIANWANG_TEST_POSTGRES_URL``;
without it the PostgreSQL run skips, except with ``CI=true`` where it fails).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.python.asgi import shutdown_lifespans

from api.app import create_app
from api.examples import APPLICATION_EXAMPLE
from tianwang.service import Service, open_service
from tianwang.settings import load_settings

ROLES = ("scorer", "investigator", "analyst", "approver", "admin")


@pytest.fixture
def ops_url(any_ops_url: str) -> str:
    return any_ops_url


@pytest.fixture
def service(tmp_path: Path, ops_url: str) -> Iterator[Service]:
    settings = load_settings(db_path=tmp_path / "graph.db", store="embedded")
    with open_service(settings, ops_url=ops_url) as svc:
        yield svc


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service=service)) as test_client:
        yield test_client


@pytest.fixture
def asgi_app(service: Service) -> Iterator[FastAPI]:
    """The application over ``service``, for schemathesis' ASGI transport (which starts its lifespan)."""
    app = create_app(service=service)
    yield app
    shutdown_lifespans()  # stop the lifespan schemathesis started before the service closes


@pytest.fixture
def headers(service: Service) -> dict[str, dict[str, str]]:
    """``{role: {"X-API-Key": ...}}``: one API key per role."""
    return {role: {"X-API-Key": service.accounts.create_key(f"client-{role}", [role])[0]} for role in ROLES}


@pytest.fixture
def application() -> Callable[..., dict[str, Any]]:
    """``application(**changes)``: a valid schema-v1 application (the OpenAPI example), changed."""

    def make(**changes: Any) -> dict[str, Any]:
        app = copy.deepcopy(APPLICATION_EXAMPLE)
        app.update(changes)
        return app

    return make
