"""The contract: schemathesis (4.x) over every route of the OpenAPI document.

Each operation gets a bounded, derandomized run of generated requests with an admin's
API key (admin passes every role check, so the routes themselves are exercised). A
response must never be a server error, its status must be one the document declares,
and its body and content type must match the declared schema.

The operations are read from the document at collection time (``from_dict`` on an
application without a service: building the document needs none); each test then calls
the application of its own fresh service in-process (schemathesis' ASGI transport).
``schemathesis.pytest.from_fixture`` would do both at once but does not run under
pytest 9 (it reads ``request.node._nodeid``); ``test_the_served_document_is_the_one_tested``
loads the document with ``schemathesis.openapi.from_asgi`` and checks it is the same.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# the batch body is NDJSON text: send the generated string as it is
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

DOCUMENT = create_app(service=None).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_served_document_is_the_one_tested(asgi_app):
    served = schemathesis.openapi.from_asgi("/openapi.json", asgi_app)
    assert served.raw_schema == DOCUMENT
    assert len(list(schema.get_all_operations())) >= 4


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case, asgi_app, headers):
    case.call_and_validate(app=asgi_app, headers=headers["admin"], checks=CHECKS)


def _resolve(node: dict, document: dict) -> dict:
    while "$ref" in node:
        target: dict = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def bodies_without_example(document: dict) -> list[str]:
    """``METHOD path media-type`` of every request body with no example (on the media type or its schema)."""
    missing = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody")
            if not body:
                continue
            for media_type, content in _resolve(body, document)["content"].items():
                schema = _resolve(content.get("schema", {}), document)
                if not ({"example", "examples"} & (set(content) | set(schema))):
                    missing.append(f"{method.upper()} {path} {media_type}")
    return missing


def test_every_request_body_has_an_example():
    assert bodies_without_example(DOCUMENT) == []
    assert any(op.get("requestBody") for item in DOCUMENT["paths"].values() for op in item.values())


def test_a_body_without_an_example_is_caught():
    document = {"paths": {"/v1/x": {"post": {"requestBody": {"content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/X"}}}}}}}, "components": {"schemas": {"X": {"type": "object"}}}}
    assert bodies_without_example(document) == ["POST /v1/x application/json"]


def test_a_body_that_is_not_utf8_is_a_422_not_an_undocumented_400(client):
    # found by schemathesis: FastAPI answered 400 "There was an error parsing the body"
    r = client.post("/v1/auth/login", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"] == {"code": "invalid_request", "message": "body: not a JSON document in UTF-8",
                                 "field": "body"}
