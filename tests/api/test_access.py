"""The role matrix, endpoint by endpoint, read off the routes themselves.

Every route declares its roles with :class:`api.deps.Allow`; this test walks
``app.routes``, finds each route's ``Allow`` dependencies and checks, for every method:
no credentials is a 401, a key whose roles are all outside ``Allow.roles`` is a 403 and a
key with an allowed role gets past the check (any status but 401/403). A route without
``Allow`` must be listed in :data:`PUBLIC` (no credentials at all) or
:data:`ANY_CALLER` (credentials, any role): a new route that forgets its roles fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from api.app import create_app
from api.deps import Allow
from tests.api.conftest import ROLES

#: routes that answer without credentials
PUBLIC = {"/healthz", "/readyz", "/metrics", "/v1/auth/login", "/v1/auth/session", "/openapi.json", "/docs",
          "/docs/oauth2-redirect", "/redoc", "/", "/static"}
#: routes that need valid credentials but no particular role
ANY_CALLER = {"/v1/auth/me"}


def _allows(dependant: Dependant) -> Iterator[Allow]:
    for dep in dependant.dependencies:
        if isinstance(dep.call, Allow):
            yield dep.call
        yield from _allows(dep)


def routes(app: FastAPI) -> list[RouteContext]:
    """Every route as served (prefixes and a router's own dependencies included)."""
    return list(iter_route_contexts(app.routes))


def allowed_roles(route: RouteContext) -> frozenset[str] | None:
    """The roles a route lets through (every ``Allow`` on it must pass), or ``None`` without ``Allow``."""
    if not isinstance(route.original_route, APIRoute):
        return None
    found = list(_allows(route.dependant))
    if not found:
        return None
    roles = frozenset(found[0].roles)
    for allow in found[1:]:
        roles &= allow.roles
    return roles


def unguarded(app: FastAPI) -> list[str]:
    """Routes with neither an ``Allow`` nor a place in PUBLIC / ANY_CALLER."""
    out = []
    for route in routes(app):
        if allowed_roles(route) is not None:
            continue
        if route.path not in PUBLIC | ANY_CALLER:
            out.append(f"{sorted(route.methods or ())} {route.path}")
    return out


def _matrix() -> list[tuple[str, str, frozenset[str]]]:
    app = create_app(service=None)  # routes only: the lifespan does not run
    cases = []
    for route in routes(app):
        if route.path.startswith("/v1"):
            roles = allowed_roles(route)
            if roles is not None:
                for method in sorted(route.methods):
                    cases.append((method, route.path, roles))
    return cases


MATRIX = _matrix()


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _call(client, method: str, path: str, headers: dict[str, str]):
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return client.request(method, _url(path), json=body, headers=headers)


def test_every_route_declares_its_roles_or_is_listed_public():
    assert unguarded(create_app(service=None)) == []


def test_a_route_that_forgets_its_roles_is_caught():
    app = create_app(service=None)

    @app.get("/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    assert unguarded(app) == ["['GET'] /v1/forgotten"]


def test_the_matrix_covers_the_scoring_routes():
    paths = {(m, p) for m, p, _ in MATRIX}
    assert {("POST", "/v1/applications/score"), ("GET", "/v1/decisions/{decision_id}"),
            ("GET", "/v1/audit")} <= paths


@pytest.mark.parametrize(("method", "path", "roles"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_role_matrix(client, headers, method, path, roles):
    r = _call(client, method, path, {})
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    for role in ROLES:
        r = _call(client, method, path, headers[role])
        if role in roles:
            assert r.status_code not in (401, 403), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("path", sorted(ANY_CALLER))
def test_routes_for_any_caller_need_credentials_but_no_role(client, headers, path):
    assert client.get(path).status_code == 401
    for role in ROLES:
        assert client.get(path, headers=headers[role]).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_public_routes_answer_without_credentials(client, path):
    assert client.get(path).status_code == 200
