"""Evidence that adds up: a gradient-boosted model over an application's own figures and its links in time.

Subtle fraud hides in signs each too weak alone: a ring whose members each share just one
thing, over weeks; a dealer who marks up a few deals a little; a stolen id tried again at
another dealer with one flag only. And honest people look alike in the same ways:
households share an address, a contact and a computer; colleagues list each other.
Telling them apart takes the signs together: how many unrelated applicants a contact
links, over how long, how many kinds of thing the closest of them shares, what is
confirmed fraud one or two hops away, what the dealer's other deals look like.

The detector keeps an :class:`~detectors.evidence_features.EvidenceMemory` of the
applications it has seen and the labels known (training history, then verdicts), builds
one row per application from it (:data:`~detectors.evidence_features.EVIDENCE_FEATURE_NAMES`)
and the application's own figures (:data:`~detectors.application_features.FEATURE_NAMES`),
and scores it with a LightGBM model trained on the labelled history. Every feature of a
training row is as of that application's time, and a training label counts for later
rows only ``label_delay_days`` after its application (what an investigation takes), so
the model does not learn to lean on confirmations it will not have for a new ring.

Reasons say what each group of evidence added: the model scores the row again with that
group set to a typical legitimate application's values (the training median), in the same
call, and the difference in log-odds is the group's share. The groups read as sentences:
confirmed fraud nearby, what is shared and with how many, flagged neighbours, the same id
earlier, the dealer's pattern, the application's own figures (naming the ones that added
most, tried one by one the same way). Where the evidence points both ways, or the links
look like a household's, the reasons say so rather than hide it.

Examples
--------
>>> GraphEvidenceDetector.name, GraphEvidenceDetector.layer
('graph_evidence', 'deep')
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from detectors.application_features import FEATURE_NAMES, application_features
from detectors.base import Detector, DetectorError, DetectorSettings, Evidence, Reason, Vote
from detectors.context import LINK_KIND_NAMES, LabelledContext, ScoringContext
from detectors.evidence_features import EVIDENCE_FEATURE_NAMES, EVIDENCE_KINDS, EvidenceMemory
from detectors.evidence_profile import PROFILE_FEATURE_NAMES, ProfileTable
from tianwang.keys import vehicle_model_name

__all__ = ["ALL_FEATURE_NAMES", "GraphEvidenceDetector", "GraphEvidenceSettings"]

#: The model's columns: the evidence row, then the application's own figures and link counts.
ALL_FEATURE_NAMES: tuple[str, ...] = (*EVIDENCE_FEATURE_NAMES, *(f"own_{n}" for n in FEATURE_NAMES),
                                      *(f"own_{n}" for n in PROFILE_FEATURE_NAMES))
_INDEX = {name: i for i, name in enumerate(ALL_FEATURE_NAMES)}
_OWN_PROBES = 12  # own figures tried one by one for the reasons: those the model gains most from
_DAY = 86400.0


class GraphEvidenceSettings(DetectorSettings):
    """Model and memory settings.

    ``rounds``, ``learning_rate``, ``num_leaves``, ``min_data_in_leaf``: the boosting;
    ``label_delay_days``: how long after an application its training label counts for later
    rows; ``capacity``: applications remembered; ``target_typologies``: the fraud the model
    learns (all fraud when empty or when none of them occurs in the history).
    """

    rounds: int = Field(default=300, ge=10, le=5000)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=4, le=1024)
    min_data_in_leaf: int = Field(default=40, ge=1)
    label_delay_days: float = Field(default=14.0, ge=0, le=365)
    capacity: int = Field(default=1_000_000, ge=1000)
    num_threads: int = Field(default=2, ge=1, le=64)
    seed: int = 7
    target_typologies: list[str] | None = None
    #: the vote's "no news" score: this quantile of the model's scores on legitimate training
    #: applications (the lower quartile by default: the vote then ranks most honest traffic too,
    #: which the fusion reads better than a vote silent below the fraud rate); null: the training
    #: fraud rate
    baseline_quantile: float | None = Field(default=0.25, gt=0, lt=1)


class GraphEvidenceDetector(Detector):
    """Scores the evidence an application's links and figures add up to (see the module docstring)."""

    name = "graph_evidence"
    version = "1"
    layer = "deep"
    inline = True
    needs_graph = True
    needs_training = True
    supports_training = True
    Settings: ClassVar[type[DetectorSettings]] = GraphEvidenceSettings

    def __init__(self, settings: Mapping[str, Any] | DetectorSettings | None = None) -> None:
        super().__init__(settings)
        s: GraphEvidenceSettings = self.settings
        self.memory = EvidenceMemory(capacity=s.capacity)
        self.profile = ProfileTable()
        self._booster: Any = None
        self._baseline = 0.05
        self._typical = np.zeros(len(ALL_FEATURE_NAMES))
        self._probes: list[np.ndarray] = []
        self._probe_names: list[str] = []

    # -- training ---------------------------------------------------------------------------
    def _fit(self, history: Sequence[LabelledContext]) -> dict[str, Any] | None:
        import lightgbm as lgb

        s: GraphEvidenceSettings = self.settings
        ordered = sorted(history, key=lambda h: (h.context.as_of, h.context.application_id))
        prices: dict[str, list[float]] = {}
        for h in ordered:
            v = h.context.application.vehicle
            prices.setdefault(vehicle_model_name(v.brand, v.model), []).append(h.context.application.loan.vehicle_price)
        self.memory.set_model_prices({m: (float(np.median(p)), float(np.quantile(p, 0.95)))
                                      for m, p in prices.items() if len(p) >= 5})
        self.memory.forget_labels()
        self.profile.fit(h.context.application for h in ordered)
        for h in ordered:
            self.memory.remember(h.context)
            self.memory.label(h.context.application_id, h.fraud, h.context.as_of + s.label_delay_days * _DAY)
        targets = set(s.target_typologies or ())
        if targets and not any(h.typology in targets for h in ordered):
            targets = set()
        kept = [h for h in ordered if not h.fraud or not targets or h.typology in targets]
        y = np.array([1.0 if h.fraud else 0.0 for h in kept])
        if y.sum() < 10 or (1 - y).sum() < 10:
            raise DetectorError(f"detector {self.name!r} needs at least 10 fraud and 10 legitimate applications "
                                f"to train, got {int(y.sum())} and {int((1 - y).sum())}")
        x = np.vstack([self._row(h.context) for h in kept])
        params = {"objective": "binary", "learning_rate": s.learning_rate, "num_leaves": s.num_leaves,
                  "min_data_in_leaf": s.min_data_in_leaf, "feature_fraction": 0.8, "bagging_fraction": 0.8,
                  "bagging_freq": 1, "lambda_l2": 1.0, "num_threads": s.num_threads, "seed": s.seed,
                  "deterministic": True, "verbose": -1}
        data = lgb.Dataset(x, y, feature_name=list(ALL_FEATURE_NAMES), free_raw_data=True)
        self._booster = lgb.train(params, data, num_boost_round=s.rounds)
        self._baseline = float(min(max(y.mean(), 1e-4), 0.5))
        if s.baseline_quantile is not None:
            legit = self._booster.predict(x[y == 0], num_threads=s.num_threads)
            self._baseline = float(min(max(np.quantile(legit, s.baseline_quantile), 1e-6), 0.5))
        gains = self._booster.feature_importance("gain")
        self._typical = np.median(x[y == 0], axis=0)
        own = [i for i in np.argsort(-gains) if _GROUPS[i] == "OWN_FIGURES" and gains[i] > 0][:_OWN_PROBES]
        self._probes = [np.flatnonzero(_MASKS[g]) for g in _GROUP_NAMES] + [np.array([i]) for i in own]
        self._probe_names = [*_GROUP_NAMES, *(ALL_FEATURE_NAMES[i] for i in own)]
        top = np.argsort(-gains)[:8]
        total = float(gains.sum()) or 1.0
        return {"samples": len(kept), "fraud": int(y.sum()), "rounds": s.rounds, "baseline": round(self._baseline, 5),
                "top_features": {ALL_FEATURE_NAMES[i]: round(float(gains[i]) / total, 3) for i in top}}

    def _row(self, context: ScoringContext) -> np.ndarray:
        return np.concatenate([self.memory.row(context), application_features(context),
                               self.profile.row(context.application)])

    # -- keeping up -------------------------------------------------------------------------
    def observe(self, context: ScoringContext) -> None:
        self.memory.remember(context)

    def verdict(self, application_id: str, fraud: bool, typology: str | None = None) -> bool:
        """A verdict counts at once for the applications linked to this one (and its dealer)."""
        self.memory.label(application_id, fraud)
        return True

    # -- scoring ----------------------------------------------------------------------------
    def _score(self, context: ScoringContext) -> Vote:
        row = self._row(context)
        self.memory.remember(context)  # the next application may link to it before the pipeline observes it
        # the row, then the row with each group set to a typical legitimate application's: one call,
        # the difference in log-odds is what that group added (SHAP values would cost 40 times as much)
        groups = len(_GROUP_NAMES)
        z = raw_scores(self._booster, self._probed(row, self._probes[:groups]))
        p = float(1.0 / (1.0 + math.exp(-z[0])))
        if p <= self._baseline:
            return Vote(min(max(p, 1e-6), 1 - 1e-6), 1.0, (), self._baseline)
        added = z[0] - z[1:]
        if _names_own_figures(added, self._probe_names[:groups]) and len(self._probes) > groups:
            # the own figures one by one (a second, larger call) only where their reason will name them
            own = raw_scores(self._booster, self._probed(row, self._probes[groups:])[1:])
            added = np.concatenate([added, z[0] - own])
        reasons = _reasons(row, added, self._probe_names[:len(added)])
        return Vote(min(max(p, 1e-6), 1 - 1e-6), 1.0, reasons, self._baseline)

    def _probed(self, row: np.ndarray, probes: list[np.ndarray]) -> np.ndarray:
        """``row``, then one copy of it per probe with the probe's columns set to their typical values."""
        rows = np.repeat(row[None, :], 1 + len(probes), axis=0)
        for i, columns in enumerate(probes, start=1):
            rows[i, columns] = self._typical[columns]
        return rows


# -- the model's raw scores ------------------------------------------------------------------
_ONE_THREAD = b"num_threads=1"


def raw_scores(booster: Any, rows: np.ndarray) -> np.ndarray:
    """``booster.predict(rows, raw_score=True, num_threads=1)`` of a binary model, made the same C call.

    ``Booster.predict`` builds a predictor object and asks the library for the output's size on every
    call; for the eight rows an application scores, that wrapper cost several times the trees'
    own walk. The answer is the same (``tests/detectors/test_graph_evidence.py``). A LightGBM
    without this C function, or a model of more than one output, goes through ``predict``.
    """
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    library = _library()
    if library is None or rows.ndim != 2 or booster.num_model_per_iteration() != 1:
        return np.asarray(booster.predict(rows, num_threads=1, raw_score=True), dtype=np.float64)
    lib, safe_call = library
    out = np.empty(rows.shape[0], dtype=np.float64)
    written = ctypes.c_int64(0)
    safe_call(lib.LGBM_BoosterPredictForMat(
        booster._handle, rows.ctypes.data_as(_DOUBLE_P), ctypes.c_int(1),  # float64
        ctypes.c_int32(rows.shape[0]), ctypes.c_int32(rows.shape[1]), ctypes.c_int(1),  # row major
        ctypes.c_int(1), ctypes.c_int(0), ctypes.c_int(booster.best_iteration),  # raw score, all iterations
        ctypes.c_char_p(_ONE_THREAD), ctypes.byref(written), out.ctypes.data_as(_DOUBLE_P)))
    if written.value != rows.shape[0]:
        raise DetectorError(f"LightGBM wrote {written.value} scores for {rows.shape[0]} rows")
    return out


_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


@functools.cache
def _library() -> tuple[Any, Any] | None:
    """LightGBM's library handle and error check, as ``Booster.predict`` uses them (imported when first needed)."""
    try:
        from lightgbm.basic import _LIB, _safe_call
    except ImportError:  # another LightGBM layout: Booster.predict
        return None
    return _LIB, _safe_call


# -- reasons ---------------------------------------------------------------------------------
_NEIGHBOUR_RISK = {"linked_flagged_2hop", "linked_max_price_to_income", "linked_expensive", "linked_max_tells",
                   "linked_tells_2plus"}


def _group(name: str) -> str:
    if name.endswith("_confirmed") or name.startswith("linked_confirmed"):
        return "CONFIRMED_FRAUD_NEARBY"
    if name.endswith("_flagged") or name in _NEIGHBOUR_RISK:
        return "FLAGGED_NEIGHBOURS"
    if name.startswith(("same_id_", "own_graph_person_")):
        return "SAME_ID_EARLIER"
    if name.startswith("dealer_"):
        return "DEALER_PATTERN"
    if name.startswith(("linked_", "own_graph_")) or name.split("_")[0] in EVIDENCE_KINDS or \
            name.startswith("vehicle_user_"):
        return "SHARED_LINKS"
    return "OWN_FIGURES"


_GROUPS = np.array([_group(n) for n in ALL_FEATURE_NAMES])
_GROUP_NAMES = tuple(dict.fromkeys(_GROUPS.tolist()))
_MASKS = {g: np.array([x == g for x in _GROUPS.tolist()]) for g in _GROUP_NAMES}


def _value(row: np.ndarray, name: str) -> float:
    return float(row[_INDEX[name]])


def _kinds(row: np.ndarray, suffix: str) -> list[str]:
    return [LINK_KIND_NAMES[k] for k in EVIDENCE_KINDS if _value(row, f"{k}_{suffix}") > 0]


def _text(group: str, row: np.ndarray, own: list[tuple[float, str]]) -> tuple[str, tuple[Evidence, ...]]:
    v = lambda name: _value(row, name)  # noqa: E731 - a short reader
    if group == "CONFIRMED_FRAUD_NEARBY":
        kinds = ", ".join(_kinds(row, "confirmed")) or "no direct link"
        return (f"linked to {v('linked_confirmed'):.0f} application(s) confirmed as fraud (through: {kinds}) and "
                f"{v('linked_confirmed_2hop'):.0f} two links away",
                (Evidence("links", f"{v('linked_confirmed'):.0f}", detail="confirmed fraud linked"),))
    if group == "FLAGGED_NEIGHBOURS":
        kinds = ", ".join(_kinds(row, "flagged")) or "two links away"
        return (f"linked applications look like fraud themselves: identity flags (through: {kinds}; "
                f"{v('linked_flagged_2hop'):.0f} two links away), {v('linked_expensive'):.0f} with a car far above "
                f"income, {v('linked_tells_2plus'):.0f} with two or more tell-tales of a made-up identity",
                (Evidence("links", kinds, detail="flagged neighbours"),))
    if group == "SAME_ID_EARLIER":
        parts = [f"{math.expm1(v('own_graph_person_applications')):.0f} time(s), last "
                 f"{v('same_id_days_since'):.0f} day(s) ago"]
        if v("same_id_other_dealer"):
            parts.append("at another dealer")
        if v("same_id_other_phone"):
            parts.append("with another phone")
        if v("same_id_min_face") < 0.85:
            parts.append(f"lowest face match {v('same_id_min_face'):.2f}")
        return (f"the same id applied before: {', '.join(parts)}",
                (Evidence("applicant.id_number", "same id", detail="earlier applications"),))
    if group == "DEALER_PATTERN":
        return (f"the dealer's last {math.expm1(v('dealer_deals')):.0f} deal(s): "
                f"{v('dealer_above_price_share'):.0%} priced above the model's usual price and "
                f"{v('dealer_above_top_share'):.0%} above the top of its range, confirmed fraud rate "
                f"{v('dealer_fraud_rate'):.1%}; this deal at {v('dealer_price_ratio'):.2f}x the usual price",
                (Evidence("dealer_id", f"{v('dealer_above_price_share'):.0%}", detail="deals above usual price"),))
    if group == "SHARED_LINKS":
        shared = [LINK_KIND_NAMES[k] for k in EVIDENCE_KINDS if v(f"{k}_span_days") > 0 or v(f"{k}_within_30d") > 0]
        span = max((v(f"{k}_span_days") for k in EVIDENCE_KINDS), default=0.0)
        return (f"shares its {', '.join(shared) or 'attributes'} with {v('linked_identities'):.0f} other applicant(s) "
                f"over {span:.0f} day(s); the closest shares {v('linked_max_kinds_one_identity'):.0f} kind(s) of thing",
                (Evidence("links", f"{v('linked_identities'):.0f}", detail="linked applicants"),))
    named = [f"{n.removeprefix('own_').replace('_', ' ')} {row[_INDEX[n]]:.2f}" for _, n in own[:3]]
    return (f"the application's own figures look like fraud: {', '.join(named)}",
            tuple(Evidence(n.removeprefix("own_"), f"{row[_INDEX[n]]:.2f}") for _, n in own[:3]))


def _names_own_figures(added: np.ndarray, groups: list[str]) -> bool:
    """Whether :func:`_reasons` gives the own-figures reason for these groups' contributions (it then
    needs what each own figure added)."""
    strength = dict(zip(groups, added.tolist(), strict=True)).get("OWN_FIGURES", 0.0)
    above = sorted((float(a) for a in added if a >= 0.25), reverse=True)
    return strength >= 0.25 and strength in above[:3]


def _reasons(row: np.ndarray, added: np.ndarray, names: list[str]) -> tuple[Reason, ...]:
    """Reasons from what each group (``names[i]``, a group or one own figure) added in log-odds (``added[i]``)."""
    by_group = {g: float(added[i]) for i, g in enumerate(names) if g in _MASKS}
    own = sorted(((float(added[i]), n) for i, n in enumerate(names) if n not in _MASKS and added[i] > 0.05),
                 reverse=True)
    out: list[Reason] = []
    for group, strength in sorted(by_group.items(), key=lambda kv: -kv[1]):
        if strength < 0.25 or len(out) == 3:
            break
        if group == "OWN_FIGURES" and not own:
            continue
        text, evidence = _text(group, row, own)
        out.append(Reason(f"EVIDENCE_{group}", text, evidence, strength))
    against = sorted((g for g, c in by_group.items() if c <= -0.5), key=lambda g: by_group[g])
    if out and against:
        lowered = ", ".join(g.lower().replace("_", " ") for g in against[:2])
        out.append(Reason("EVIDENCE_MIXED", f"the evidence points both ways: {lowered} lowered the score "
                          f"({sum(by_group[g] for g in against):+.1f} in log-odds)", (), 0.0))
    if _value(row, "linked_max_kinds_one_identity") >= 2 and _value(row, "linked_identities") <= 2 and \
            by_group.get("SHARED_LINKS", 0.0) <= 0:
        out.append(Reason("EVIDENCE_HOUSEHOLD_LIKE", "shares several things with one or two other applicants, as a "
                          "household does: weighed as a household, not as a ring", (), 0.0))
    return tuple(out)
