"""Errors never echo a personal value: not in the answer, not in a log line."""

from __future__ import annotations

import logging

import orjson
import pytest

from tests import builders

BAD_PHONE = "19912345"  # too short for a mainland mobile
BAD_ID = "110105198806151239"  # wrong check character


def server_log(caplog) -> str:
    """What the service logged (the test client's own httpx lines, which hold its URLs, left out)."""
    return "\n".join(f"{r.name} {r.getMessage()} {vars(r)}" for r in caplog.records if not r.name.startswith("httpx"))


@pytest.mark.parametrize(("field", "value"), [("phone", BAD_PHONE), ("id_number", BAD_ID)])
def test_a_bad_personal_value_is_named_by_field_never_echoed(client, headers, caplog, field, value):
    app = builders.application(1)
    app["applicant"][field] = value
    with caplog.at_level(logging.DEBUG):
        r = client.post("/v1/applications/score", content=orjson.dumps(app),
                        headers={**headers["scorer"], "X-Request-ID": "err-1"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_application" and error["field"] == f"applicant.{field}"
    assert value not in r.text
    assert value not in server_log(caplog)
    access = [rec for rec in caplog.records if rec.name == "tianwang.access"]
    assert access and access[-1].status == 422 and access[-1].request_id == "err-1"


def test_a_bad_value_in_a_batch_line_is_not_echoed_either(client, headers, caplog):
    app = builders.application(2)
    app["applicant"]["phone"] = BAD_PHONE
    with caplog.at_level(logging.DEBUG):
        r = client.post("/v1/applications/batch", content=orjson.dumps(app), headers=headers["scorer"])
    assert r.status_code == 200 and orjson.loads(r.text)["error"]["field"] == "applicant.phone"
    assert BAD_PHONE not in r.text and BAD_PHONE not in server_log(caplog)


def test_a_request_validation_error_names_the_parameter_without_its_value(client, headers, caplog):
    with caplog.at_level(logging.DEBUG):
        r = client.get("/v1/audit", params={"limit": "13800138000"}, headers=headers["admin"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"
    assert "13800138000" not in r.text and "13800138000" not in server_log(caplog)


def test_a_conflicting_resubmission_names_fields_not_values(client, headers, caplog):
    app = builders.application(3)
    assert client.post("/v1/applications/score", content=orjson.dumps(app), headers=headers["scorer"]).status_code \
        == 201
    changed = builders.application(3)
    changed["applicant"]["bank_account"] = builders.account(999)
    with caplog.at_level(logging.DEBUG):
        r = client.post("/v1/applications/score", content=orjson.dumps(changed), headers=headers["scorer"])
    assert r.status_code == 409
    for value in (builders.account(999), app["applicant"]["bank_account"]):
        assert value not in r.text and value not in server_log(caplog)
