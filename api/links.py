"""OpenAPI links: which answer's ids feed which operation (the document's ``links``, per response).

A link names its target by ``operationRef`` (the path and method, not FastAPI's generated
``operationId``) and takes values from the answer with runtime expressions
(``$response.body#/case_id``). Clients and generated SDKs read them as "what to call next";
the stateful contract test (``tests/api/test_stateful.py``) walks them to chain real calls:
score an application, read its decision and its case, work and close the case, and so on.

Each router puts the links of its answers in ``responses`` (``{"links": ...}``); the sets
shared by several operations live here, so the graph of the API reads in one place.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CASE_LINKS", "DECISION_LINKS", "FIRST_CASE_LINKS", "link", "operation_ref"]


def operation_ref(method: str, path: str) -> str:
    """The JSON pointer of an operation in the document: ``#/paths/~1v1~1cases~1{case_id}/get``."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower()


def link(method: str, path: str, description: str, *, body: dict[str, str] | None = None,
         **parameters: str) -> dict[str, Any]:
    """A link to ``method path`` whose ``parameters`` (and ``body`` fields) are runtime expressions."""
    definition: dict[str, Any] = {"operationRef": operation_ref(method, path), "description": description}
    if parameters:
        definition["parameters"] = parameters
    if body:
        definition["requestBody"] = body
    return definition


def _case_links(case_id: str) -> dict[str, dict[str, Any]]:
    case = "/v1/cases/{case_id}"
    return {
        "GetCase": link("GET", case, "The case, with its timeline.", case_id=case_id),
        "AssignCase": link("POST", f"{case}/assign", "Assign the case.", case_id=case_id),
        "AddNote": link("POST", f"{case}/notes", "Add a note to the case.", case_id=case_id),
        "RequestVerification": link("POST", f"{case}/verification", "Ask for a verification task.",
                                    case_id=case_id),
        "HoldFunding": link("POST", f"{case}/hold", "Hold or release the dealer's funding.", case_id=case_id),
        "SnoozeCase": link("POST", f"{case}/snooze", "Snooze the case.", case_id=case_id),
        "CloseCase": link("POST", f"{case}/close", "Close the case with its outcome.", case_id=case_id),
    }


#: from a decision: the decision again, its application, network and case, and the labels sent on it
DECISION_LINKS: dict[str, dict[str, Any]] = {
    "GetDecision": link("GET", "/v1/decisions/{decision_id}", "The decision, with its current status.",
                        decision_id="$response.body#/decision_id"),
    "GetApplication": link("GET", "/v1/applications/{application_id}", "The application, masked by role.",
                           application_id="$response.body#/application_id"),
    "GetNetwork": link("GET", "/v1/applications/{application_id}/network", "The application's network.",
                       application_id="$response.body#/application_id"),
    "GetCase": link("GET", "/v1/cases/{case_id}", "The case a review decision opened.",
                    case_id="$response.body#/case_id"),
    "PostVerdict": link("POST", "/v1/verdicts", "A verdict on the application.",
                        body={"application_id": "$response.body#/application_id"}),
    "PostOutcome": link("POST", "/v1/outcomes", "A repayment outcome of the application.",
                        body={"application_id": "$response.body#/application_id"}),
    "ListVerdicts": link("GET", "/v1/verdicts", "The application's verdicts.",
                         application_id="$response.body#/application_id"),
}

#: from a case (any answer that is a case): the case and every action on it, and its decision
CASE_LINKS: dict[str, dict[str, Any]] = {
    **_case_links("$response.body#/case_id"),
    "GetDecision": link("GET", "/v1/decisions/{decision_id}", "The decision of an application's case.",
                        decision_id="$response.body#/decision_id"),
}

#: from the first case of a page of cases
FIRST_CASE_LINKS: dict[str, dict[str, Any]] = _case_links("$response.body#/data/0/case_id")
