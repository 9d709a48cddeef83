"""Expert rules, written in the configuration file rather than in Python.

A rule names fields, compares each with a value, and, when every condition holds,
fires with its own reason sentence and log-odds weight. Fields are dotted paths:

* into the application: ``credit.worst_delinquency_days``, ``applicant.employer.credit_code``;
* ``facts.<name>``: figures derived from it (:class:`~detectors.facts.ApplicationFacts`:
  ``age``, ``dti_with_loan``, ``down_payment_ratio`` …);
* ``graph.<kind>_<count>``: window counts from the graph as of the application's time
  (:meth:`~detectors.context.GraphLinks.counts`: ``device_identities``,
  ``person_recent``, ``contact_max_identities`` …);
* ``history.<name>``: what :meth:`~detectors.base.Detector.fit` learned from labelled
  history: ``dealer_fraud_rate`` (smoothed) and ``price_over_model_median``.

Operators: ``== != < <= > >= in not_in present missing matches``. A ``hard`` rule
may decide alone. An analyst adds a rule by adding a YAML entry::

    - id: LONG_DELINQUENCY
      reason: "60+ days late on an existing loan"
      weight: 2.0
      when:
        - {field: credit.worst_delinquency_days, op: ">=", value: 60}

Examples
--------
>>> RulesDetector({"rules": [{"id": "X", "reason": "r", "when": [{"field": "nope.x", "op": "present"}]}]})
... # doctest: +ELLIPSIS
Traceback (most recent call last):
...
detectors.base.DetectorSettingsError: invalid settings for detector 'rules': rules.0.when.0.field: ...
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from detectors.base import Evidence, Vote
from detectors.context import LabelledContext, ScoringContext
from detectors.signals import Finding, SignalDetector, SignalSettings
from tianwang.application import Application
from tianwang.identifiers import mask_account, mask_address, mask_id_number, mask_name, mask_phone

__all__ = ["Condition", "Rule", "RulesDetector", "RulesSettings"]

Operator = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "present", "missing", "matches"]

_SPECIAL_ROOTS = {"facts", "graph", "history"}
_MASKERS: dict[str, Callable[[str], str]] = {
    "applicant.id_number": mask_id_number,
    "vehicle.user_id_number": mask_id_number,
    "applicant.phone": mask_phone,
    "applicant.id_registered_phone": mask_phone,
    "applicant.bank_account": mask_account,
    "applicant.name": mask_name,
    "applicant.address": mask_address,
}
_HIDDEN_ROOTS = ("applicant.emergency_contacts", "applicant.ip")


class Condition(BaseModel):
    """One comparison: ``field op value``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: Operator
    value: Any = None

    @field_validator("field")
    @classmethod
    def _known_root(cls, path: str) -> str:
        root = path.split(".", 1)[0]
        if root not in _SPECIAL_ROOTS and root not in Application.model_fields:
            known = sorted(_SPECIAL_ROOTS | set(Application.model_fields))
            raise ValueError(f"field {path!r} does not start with one of {known}")
        return path

    @model_validator(mode="after")
    def _value_fits(self) -> Condition:
        if self.op in ("present", "missing"):
            return self
        if self.value is None:
            raise ValueError(f"operator {self.op!r} needs a value")
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} needs a list value")
        if self.op in ("<", "<=", ">", ">=") and not isinstance(self.value, int | float):
            raise ValueError(f"operator {self.op!r} needs a number")
        if self.op == "matches":
            try:
                re.compile(str(self.value))
            except re.error as exc:
                raise ValueError(f"bad regular expression: {exc}") from None
        return self


class Rule(BaseModel):
    """A named rule: all of ``when`` must hold; ``reason`` is what a person reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")
    reason: str = Field(min_length=1, max_length=300)
    when: list[Condition] = Field(min_length=1)
    weight: float = Field(default=1.0, ge=0, le=50)
    hard: bool = False


class RulesSettings(SignalSettings):
    """The rule list; ``bias``, ``train`` and ``l2`` as for every signal detector."""

    rules: list[Rule] = Field(default_factory=list)
    dealer_prior_weight: float = Field(default=50.0, gt=0, description="pseudo-count of the dealer fraud-rate prior")

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[Rule]) -> list[Rule]:
        seen = Counter(r.id for r in rules)
        twice = sorted(i for i, n in seen.items() if n > 1)
        if twice:
            raise ValueError(f"rule ids must be unique, repeated: {twice}")
        return rules


def _read_path(obj: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if obj is None:
            return None
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return obj


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "present":
        return actual is not None
    if op == "missing":
        return actual is None
    if actual is None:
        return False
    try:
        if op == "==":
            return bool(actual == expected)
        if op == "!=":
            return bool(actual != expected)
        if op == "<":
            return bool(actual < expected)
        if op == "<=":
            return bool(actual <= expected)
        if op == ">":
            return bool(actual > expected)
        if op == ">=":
            return bool(actual >= expected)
        if op == "in":
            return actual in expected
        if op == "not_in":
            return actual not in expected
        if op == "matches":
            return re.search(str(expected), str(actual)) is not None
    except TypeError:
        return False
    raise ValueError(f"unknown operator {op!r}")


def _display(path: str, value: Any) -> str | None:
    if value is None:
        return None
    if path.startswith(_HIDDEN_ROOTS):
        return "(personal data)"
    masker = _MASKERS.get(path)
    if masker is not None:
        return masker(str(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)[:80]


class RulesDetector(SignalDetector):
    """Fires the expert rules of its settings; learns their weights when trained."""

    name = "rules"
    version = "1"
    needs_graph = True
    layer = "fast"
    inline = True
    Settings = RulesSettings
    SIGNALS: ClassVar[dict[str, float]] = {}

    def __init__(self, settings: Any = None) -> None:
        validated = self.validate_settings(settings)
        self.SIGNALS = {r.id: r.weight for r in validated.rules}  # type: ignore[misc]
        self._rules = {r.id: r for r in validated.rules}
        super().__init__(validated)
        self._dealer_rate: dict[str, float] = {}
        self._base_rate = 0.0
        self._model_price: dict[tuple[str, str], float] = {}

    def _history(self, context: ScoringContext) -> dict[str, float | None]:
        app = context.application
        median = self._model_price.get((app.vehicle.brand, app.vehicle.model))
        return {
            "dealer_fraud_rate": self._dealer_rate.get(app.dealer_id, self._base_rate) if self.is_fitted else None,
            "price_over_model_median": app.loan.vehicle_price / median if median else None,
        }

    def _value(self, context: ScoringContext, path: str, cache: dict[str, Any]) -> Any:
        root, _, rest = path.partition(".")
        if root == "facts":
            return _read_path(context.facts, rest.split("."))
        if root == "graph":
            if "graph" not in cache:
                cache["graph"] = context.links.counts() if context.links is not None else {}
            return cache["graph"].get(rest)
        if root == "history":
            if "history" not in cache:
                cache["history"] = self._history(context)
            return cache["history"].get(rest)
        return _read_path(context.application, path.split("."))

    def findings(self, context: ScoringContext) -> list[Finding]:
        out = []
        cache: dict[str, Any] = {}
        for rule in self._rules.values():
            evidence = []
            for cond in rule.when:
                actual = self._value(context, cond.field, cache)
                if not _compare(cond.op, actual, cond.value):
                    break
                evidence.append(Evidence(cond.field, _display(cond.field, actual), detail=f"{cond.op} {cond.value}"
                                         if cond.value is not None else cond.op))
            else:
                out.append(Finding(rule.id, 1.0, rule.reason, tuple(evidence)))
        return out

    def _score(self, context: ScoringContext) -> Vote:
        vote = super()._score(context)
        hard = [r for r in vote.reasons if self._rules[r.code].hard]
        if not hard:
            return vote
        return Vote(max(vote.score, 0.999), 1.0, vote.reasons, vote.baseline, hard=True)

    def _fit(self, history: Sequence[LabelledContext]) -> dict[str, Any] | None:
        frauds: dict[str, int] = defaultdict(int)
        totals: dict[str, int] = defaultdict(int)
        prices: dict[tuple[str, str], list[float]] = defaultdict(list)
        for item in history:
            app = item.context.application
            totals[app.dealer_id] += 1
            frauds[app.dealer_id] += int(item.fraud)
            if not item.fraud:
                prices[(app.vehicle.brand, app.vehicle.model)].append(app.loan.vehicle_price)
        n = sum(totals.values())
        self._base_rate = sum(frauds.values()) / n if n else 0.0
        k = self.settings.dealer_prior_weight
        self._dealer_rate = {d: (frauds[d] + k * self._base_rate) / (totals[d] + k) for d in totals}
        self._model_price = {m: statistics.median(p) for m, p in prices.items() if len(p) >= 5}
        # the history fields now have values: mark fitted before learning the weights
        self._fit_state.fitted = True
        details = super()._fit(history) or {}
        details.update(dealers=len(self._dealer_rate), models_priced=len(self._model_price),
                       base_rate=round(self._base_rate, 5))
        return details

