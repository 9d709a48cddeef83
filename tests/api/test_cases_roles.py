"""The role matrix of the cases and feedback endpoints: each allows its roles (and admin), 403 for the rest,
401 without credentials."""

from __future__ import annotations

import pytest

from tests.api.conftest import ROLES

INVESTIGATOR = {"investigator", "admin"}
MATRIX = [
    ("GET", "/v1/cases", None, INVESTIGATOR),
    ("POST", "/v1/cases", {"ring_id": "R-000001"}, INVESTIGATOR),
    ("POST", "/v1/cases/next", None, INVESTIGATOR),
    ("GET", "/v1/cases/case_x", None, INVESTIGATOR),
    ("POST", "/v1/cases/case_x/assign", {"assignee": "li.na"}, INVESTIGATOR),
    ("POST", "/v1/cases/case_x/notes", {"text": "n"}, INVESTIGATOR),
    ("POST", "/v1/cases/case_x/snooze", {"until": "2026-03-03T09:00:00+08:00"}, INVESTIGATOR),
    ("POST", "/v1/cases/case_x/close", {"outcome": "false_positive"}, INVESTIGATOR),
    ("POST", "/v1/verdicts", {"application_id": "APP-1", "fraud": False}, INVESTIGATOR),
    ("GET", "/v1/verdicts", None, INVESTIGATOR | {"analyst"}),
    ("POST", "/v1/outcomes", {"application_id": "APP-1", "kind": "charge_off", "observed_on": "2026-04-01"},
     INVESTIGATOR | {"scorer"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_each_endpoint_allows_only_its_roles(client, headers, method, path, body, allowed):
    assert client.request(method, path, json=body).status_code == 401
    for role in ROLES:
        status = client.request(method, path, json=body, headers=headers[role]).status_code
        assert (status == 403) == (role not in allowed), (role, status)
