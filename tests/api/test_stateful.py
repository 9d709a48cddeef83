"""The contract in sequences: schemathesis' state machine over the document's OpenAPI links.

``test_contract.py`` sends each operation generated requests on its own; here schemathesis
(4.x, ``schema.as_state_machine()``) chains them along the links the document declares
(``api/links.py``): an application is scored, its decision, application, network and case
are read with the ids the answer gave, the case is assigned, noted, held, snoozed and closed
(and closed again), verdicts and outcomes are sent on it, watchlist entries are added and
removed, proposals are made and approved or rejected, jobs are followed. Every step must
answer no server error, a status its operation declares and a body that matches it.

Each step calls the in-process application (schemathesis' ASGI transport) of one service on
a real embedded store in the test's temporary folder, with the key of a role the operation
allows (the last of ``ROLES`` its ``Allow`` names: a proposal is made by an analyst and
approved by an approver, so approving is not always a self-approval). The run is bounded
(:data:`SEQUENCES` sequences of at most :data:`STEPS` calls, about 750 calls in 15-20 s here)
and derandomized. Sequences start from what produces ids (scoring, lists, creations), not
from a made-up id in a path (:data:`BLIND_STARTS`: those are 404s the contract test sends).

Scoring is where the graph grows, but schemathesis does not start sequences with it: its
dependency analysis reads the body's ``application_id`` as a reference to a resource no
operation returns. The state machine gets two rules of ours that score an application the
way schemathesis' own first steps call an operation (recorded, checked, the answer feeding
the links): every sequence starts with a valid application, and scoring comes again later,
half the time a valid application of the sequence's pool (so the same one comes again, 200,
different content under an id already decided comes too, 409, and applicants sharing a device
make rings), half the time schemathesis' own body (mostly a 422).

After the run the graph and the decision log must agree with what the API answered: every
application that got a 2xx decision is in the graph exactly once, under the one decision it
was answered, and no decision (nor application in the graph) exists without the other.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from hypothesis.stateful import Bundle, initialize, rule
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput, normalize_name
from sqlalchemy import delete, select

from api.links import operation_ref
from tests import builders
from tests.api.conftest import ROLES
from tests.api.test_access import MATRIX
from tests.api.test_contract import CHECKS, DOCUMENT
from tianwang.application import parse_application
from tianwang.opsdb.models import Case as CaseRow
from tianwang.opsdb.models import DecisionRow, utcnow
from tianwang.service import Service

#: sequences (Hypothesis examples), the most calls in one, the most runs to get them (see run_sequences)
SEQUENCES = 40
STEPS = 16
ROUNDS = 4

# the links the document declares, and only those: schemathesis' inferred links would test its guesses
schema = schemathesis.openapi.from_dict(
    DOCUMENT, config=SchemathesisConfig.from_dict({"phases": {"stateful": {"inference": {"algorithms": []}}}}))
SCORE = schema["/v1/applications/score"]["POST"]
#: schemathesis' first steps that would call an operation with a made-up id in its path (a 404: the contract
#: test sends those); sequences start from what produces ids instead, and reach these by the links
BLIND_STARTS = frozenset(normalize_name(f"RANDOM -> {result.ok().label}") for result in schema.get_all_operations()
                         if isinstance(result, Ok) and result.ok().path_parameters)

#: ``(METHOD, path)``: the role whose key calls it (the last of ROLES that the route allows)
ROLE_OF = {(method, path): next(role for role in reversed(ROLES) if role in roles and role != "admin")
           if roles - {"admin"} else "admin" for method, path, roles in MATRIX}

#: monthly incomes that put builders' applications in the approve and the review band
INCOMES = (18000, 22000, 24000, 26000)
#: applications a sequence draws from (its own: sequence ``s`` scores builders' ``s * POOL + k``)
POOL = 8


@dataclass(frozen=True)
class Applicant:
    """The ``k``-th applicant of a sequence's pool, with a monthly income: the same one may come again, and
    one already decided may come with another income (different content under its id). Applicants share a
    device in threes, so a ring detection finds rings to open cases on and send verdicts for."""

    k: int
    income: int

    def application(self, sequence: int) -> dict[str, Any]:
        return builders.application(sequence * POOL + self.k, **{"applicant.monthly_income": self.income,
                                                                 "applicant.device_id": f"dev-{sequence}-{self.k % 3}"})


APPLICANTS = st.builds(Applicant, st.integers(1, POOL), st.sampled_from(INCOMES))


class Run:
    """What the API answered during the run: calls by operation and status, decisions by application,
    the checks that failed."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, int]] = Counter()
        self.sequences = 0
        self.decisions: dict[str, set[str]] = {}
        self.failures: list[str] = []
        self.cut_short = 0

    def record(self, case: Case, response: Response) -> None:
        self.calls[(case.operation.label, response.status_code)] += 1
        if case.operation.label == SCORE.label and response.status_code in (200, 201):
            decision = response.json()
            self.decisions.setdefault(decision["application_id"], set()).add(decision["decision_id"])

    @property
    def steps(self) -> int:
        return sum(self.calls.values())


def state_machine(app: FastAPI, headers: dict[str, dict[str, str]], run: Run) -> type:
    """The state machine of :data:`schema` calling ``app``, each operation with its role's key."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            run.sequences += 1
            self.sequence = run.sequences

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            # a copy: the transport adds its own headers to the dict it is given
            return {"app": app, "headers": dict(headers[ROLE_OF[(case.method.upper(), case.path)]])}

        def after_call(self, response: Response, case: Case) -> None:
            super().after_call(response, case)
            run.record(case, response)

        def validate_response(self, response: Response, case: Case, additional_checks: Any = None,
                              **kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs, recorder=self.recorder)
            except FailureGroup as exc:
                run.failures.append(f"{case.operation.label} answered {response.status_code}: {exc}")
                raise

        def score(self, applicant: Applicant | Case) -> StepOutput:
            """A first step as schemathesis makes its own (``RANDOM -> POST /v1/applications/score``): recorded,
            checked, and its answer feeding the links."""
            case = applicant if isinstance(applicant, Case) else SCORE.Case(
                body=applicant.application(self.sequence), media_type="application/json")
            step = StepInput.initial(case)
            self.recorder.record_case(case=case)
            self.control.record_step(step, self.recorder)
            return self.step(step)

        @initialize(target=Bundle("catch_all"), applicant=APPLICANTS)
        def start_with_an_application(self, applicant: Applicant) -> StepOutput:
            """Each sequence starts by scoring a valid application of its pool, so its links have somewhere to go."""
            return self.score(applicant)

        @rule(target=Bundle("catch_all"), applicant=st.one_of(APPLICANTS, SCORE.as_strategy()))
        def score_an_application(self, applicant: Applicant | Case) -> StepOutput:
            """Score a valid application of the sequence's pool, or schemathesis' own body (mostly a 422)."""
            return self.score(applicant)

    for name in BLIND_STARTS & Workflow.root_rules:
        setattr(Workflow, name, None)  # not a rule any more
    Workflow.root_rules = Workflow.root_rules - BLIND_STARTS
    return Workflow


def run_sequences(workflow: Any, run: Run) -> None:
    """Run the state machine until :data:`SEQUENCES` sequences have run (in at most :data:`ROUNDS` runs).

    The service keeps its state from one sequence to the next, as a deployment does, and schemathesis
    follows a link only most of the time (by a random draw Hypothesis does not see): so a sequence replayed
    with a prefix Hypothesis has seen can answer another status and offer other steps, which Hypothesis
    reports as ``FlakyStrategyDefinition``. schemathesis' own runner ends a run there; this one starts
    another. A failed check is in ``run.failures`` before that, and a failure that does not come back
    when replayed is a ``FlakyFailure``, which is raised.
    """
    for _ in range(ROUNDS):
        try:
            workflow.run(settings=settings(workflow.TestCase.settings, max_examples=SEQUENCES,
                                           stateful_step_count=STEPS, derandomize=True, database=None))
            return
        except FlakyStrategyDefinition:
            run.cut_short += 1
            if run.sequences >= SEQUENCES:
                return


def _resolve_ref(reference: str) -> Any:
    node: Any = DOCUMENT
    for part in reference.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def declared_links() -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """``(source, name, source response, link)`` of every link of the document."""
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for name, link in response.get("links", {}).items():
                    yield f"{method.upper()} {path} {status}", name, response, link


def _field_schema(node: dict[str, Any], pointer: str) -> dict[str, Any] | None:
    """The schema of the field ``pointer`` (``/data/0/case_id``) names in an answer of schema ``node``."""
    for part in pointer.strip("/").split("/"):
        if "$ref" in node:
            node = _resolve_ref(node["$ref"])
        node = next((option for option in node.get("anyOf", []) if option.get("type") != "null"), node)
        if "$ref" in node:
            node = _resolve_ref(node["$ref"])
        if part.isdigit() and node.get("type") == "array":
            node = node["items"]
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            return None
    return node


def test_every_link_takes_a_field_of_its_answer_to_a_parameter_of_an_operation():
    links = list(declared_links())
    assert len(links) >= 40
    for source, name, response, link in links:
        answer = response["content"]["application/json"]["schema"]
        for expression in [*link.get("parameters", {}).values(), *link.get("requestBody", {}).values()]:
            assert expression.startswith("$response.body#/"), f"{source} {name}"
            assert _field_schema(answer, expression.removeprefix("$response.body#")), f"{source} {name} {expression}"
        target = _resolve_ref(link["operationRef"])
        names = {parameter["name"] for parameter in target.get("parameters", [])}
        assert set(link.get("parameters", {})) <= names, f"{source} {name}"
        if "requestBody" in link:
            body = _resolve_ref(target["requestBody"]["content"]["application/json"]["schema"]["$ref"])
            assert set(link["requestBody"]) <= set(body["properties"]), f"{source} {name}"
    assert operation_ref("GET", "/v1/cases/{case_id}") == "#/paths/~1v1~1cases~1{case_id}/get"


def test_every_link_is_a_step_of_the_state_machine():
    # schemathesis makes one rule per link (named after its source, status, name and target); a link it
    # could not follow (an unknown target, a parameter the target does not take) fails building the machine
    machine = state_machine(FastAPI(), {}, Run())
    followed = [name for name in dir(machine) if "__" in name and not name.startswith(("_", "RANDOM"))]
    assert len(followed) == len(list(declared_links()))
    assert any(name.startswith("POST_v1_applications_score___201_GetCase") for name in followed)
    starts = {name for name in dir(machine) if name.startswith("RANDOM") and callable(getattr(machine, name))}
    assert "RANDOM__GET_v1_cases" in starts and "RANDOM__POST_v1_cases_case_id_close" in BLIND_STARTS
    assert starts and not starts & BLIND_STARTS


def _graph_and_log_agree(service: Service, run: Run) -> None:
    """Every application answered a 2xx decision is in the graph under that one decision; the graph holds
    no application without a decision and the log no decision without its application (nor its case)."""
    store = service.runtime.store
    with service.ops.session() as session:
        logged = {row.application_id: row for row in session.scalars(select(DecisionRow))}
        cases = {row.id: row for row in session.scalars(select(CaseRow))}
    for application_id, decision_ids in run.decisions.items():
        assert len(decision_ids) == 1, f"{application_id} was answered {len(decision_ids)} decisions"
        assert application_id in logged, f"{application_id} was answered a decision the log does not hold"
        assert logged[application_id].id in decision_ids, f"{application_id} was answered another decision"
    for application_id, row in logged.items():
        assert store.get_application(application_id) is not None, f"decision {row.id} has no application"
        if row.case_id is not None:
            assert cases[row.case_id].application_id == application_id, f"decision {row.id} has no case"
    # exactly once: as many applications in the graph as decisions in the log (each with its application)
    in_graph = store.counts().nodes.get("Application", 0)
    assert in_graph == len(logged), f"{in_graph - len(logged)} applications in the graph without a decision"
    assert len(logged) == len(run.decisions), "decisions in the log that no answer gave"


@pytest.mark.slow
def test_sequences_keep_the_contract_and_the_graph_whole(asgi_app, headers, service, capsys):
    run = Run()
    started = time.monotonic()
    run_sequences(state_machine(asgi_app, headers, run), run)
    seconds = time.monotonic() - started
    statuses = Counter(status for (_, status) in run.calls.elements())
    with capsys.disabled():
        print(f"\nstateful: {run.sequences} sequences ({run.cut_short} runs cut short), {run.steps} calls "
              f"in {seconds:.1f} s; statuses {dict(sorted(statuses.items()))}; {len(run.decisions)} applications "
              f"decided")
    assert not run.failures, "\n".join(run.failures)
    _graph_and_log_agree(service, run)
    # the run went somewhere: decisions were made, and cases were worked through the links
    assert run.sequences >= SEQUENCES // 2
    assert run.decisions
    assert any(label.startswith("POST /v1/cases/{case_id}/") and status == 200 for label, status in run.calls)


def test_the_graph_check_finds_what_is_half_written(client, headers, service):
    run = Run()
    for n in (1, 2):
        r = client.post("/v1/applications/score", json=builders.application(n), headers=headers["scorer"])
        assert r.status_code == 201, r.text
        run.decisions[r.json()["application_id"]] = {r.json()["decision_id"]}
    _graph_and_log_agree(service, run)

    with service.ops.session() as session:  # a decision without its application
        session.add(DecisionRow(id="dec_ghost", application_id="APP-GHOST", decided_at=utcnow(), submitted_at="",
                                fraud_score=0, band="approve", action="approve", strategy="champion",
                                config_version="1", record={}))
    with pytest.raises(AssertionError, match="dec_ghost"):
        _graph_and_log_agree(service, run)
    with service.ops.session() as session:
        session.execute(delete(DecisionRow).where(DecisionRow.id == "dec_ghost"))
    _graph_and_log_agree(service, run)

    service.runtime.store.upsert_application(parse_application(builders.application(3)))  # no decision
    with pytest.raises(AssertionError, match="without a decision"):
        _graph_and_log_agree(service, run)
