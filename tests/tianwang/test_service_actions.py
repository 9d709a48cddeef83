"""Actions: every reason code an action table names is one some detector gives."""

from __future__ import annotations

import re
from pathlib import Path

from tianwang.service.actions import HOLD_FUNDING_REASONS, VERIFICATION_TASKS, choose_action

ROOT = Path(__file__).resolve().parents[2]


def _codes_in_detectors() -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for folder in ("detectors", "tianwang/scoring")
                     for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".yaml"})
    return set(re.findall(r"\b[A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+\b", text))


def test_every_code_in_the_action_tables_is_given_by_a_detector():
    known = _codes_in_detectors()
    named = set(HOLD_FUNDING_REASONS).union(*VERIFICATION_TASKS.values())
    assert named - known == set()


def test_actions_by_band():
    assert choose_action("reject", ["RING_MEMBER"]).type == "reject"
    review = choose_action("review", ["LOW_FACE_MATCH"])
    assert review.type == "review" and not review.hold_funding
    tasks = choose_action("approve", ["INCOME_ABOVE_SALARY", "NO_SOCIAL_INSURANCE", "LOW_FACE_MATCH"])
    assert tasks.type == "approve_with_verification"
    assert [t["task"] for t in tasks.as_dict()["verification_tasks"]] == [
        "proof_of_income", "employment_check", "identity_check"]
    assert tasks.as_dict()["verification_tasks"][0]["reasons"] == ["INCOME_ABOVE_SALARY"]
