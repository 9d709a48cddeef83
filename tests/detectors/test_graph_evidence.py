"""The graph_evidence detector: point-in-time evidence rows, training in the pipeline, readable reasons
without personal data, verdicts that count at once, and a model that survives a bundle (pickle)."""

from __future__ import annotations

import bisect
import math
import pickle
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pytest
from lightgbm.basic import LightGBMError

from detectors import DetectorError, DetectorNotFittedError, DetectorRegistry, LabelledContext
from detectors.context import GraphLinks, Link
from detectors.evidence_features import EVIDENCE_FEATURE_NAMES, EvidenceMemory
from detectors.evidence_profile import PROFILE_FEATURE_NAMES, ProfileTable
from detectors.graph_evidence import ALL_FEATURE_NAMES, GraphEvidenceDetector, raw_scores
from graph_schema.embedded import EmbeddedGraphStore
from tianwang.application import parse_application
from tianwang.privacy import PersonalDataKeyer
from tianwang.scoring import ScoringPipeline, ScoringRecords
from tianwang.scoring.decisions import Decision
from tianwang.stats import auroc

from ..builders import application, mobile
from ..scoring.helpers import config

SMALL = {"rounds": 60, "min_data_in_leaf": 5, "num_leaves": 8, "label_delay_days": 0}
N_APPLICATIONS = 320
N_HISTORY = 220
INDEX = {name: i for i, name in enumerate(EVIDENCE_FEATURE_NAMES)}


def ring_of(n: int) -> int | None:
    """Every 4th application belongs to one of a few rings; the rest are legit."""
    return (n // 4) % 6 if n % 4 == 0 else None


def ring_application(n: int) -> dict[str, Any]:
    """Ring members list their organiser's phone as their only shared thing; their own figures are everyone's."""
    ring = ring_of(n)
    if ring is None:
        return application(n)
    return application(n, **{"applicant.emergency_contacts": [{"name": "张三", "phone": mobile(700 + ring)}]})


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[GraphEvidenceDetector, list[Decision]]:
    folder = tmp_path_factory.mktemp("evidence")
    store = EmbeddedGraphStore(folder / "graph.db", PersonalDataKeyer(b"tianwang-test-secret-0123456789abcdef"))
    pipeline = ScoringPipeline(store, config({"graph_evidence": {"budget_ms": 5000, "settings": SMALL}}),
                               ScoringRecords.in_memory(store.keyer))
    history = []
    for n in range(1, N_HISTORY + 1):
        context = pipeline.ingest(parse_application(ring_application(n)))
        history.append(LabelledContext(context, ring_of(n) is not None, "cash_out_ring" if ring_of(n) else None))
    pipeline.fit(history)
    decisions = [pipeline.score(ring_application(n)) for n in range(N_HISTORY + 1, N_APPLICATIONS + 1)]
    detector = pipeline.loaded.detectors["graph_evidence"]
    pipeline.close()
    store.close()
    assert isinstance(detector, GraphEvidenceDetector)
    return detector, decisions


def vote_of(decision: Decision) -> Any:
    return next(o for o in decision.outcomes if o.detector == "graph_evidence")


def test_is_registered_deep_and_needs_training(context_of: Any) -> None:
    assert DetectorRegistry.builtin().resolve("graph_evidence") is GraphEvidenceDetector
    assert GraphEvidenceDetector.layer == "deep" and GraphEvidenceDetector.needs_training
    with pytest.raises(DetectorNotFittedError):
        GraphEvidenceDetector().score(context_of(1))


def test_refuses_a_history_without_both_classes(context_of: Any) -> None:
    history = [LabelledContext(context_of(n), False) for n in range(1, 40)]
    with pytest.raises(DetectorError, match="at least 10 fraud"):
        GraphEvidenceDetector(SMALL).fit(history)


def test_finds_rings_that_share_one_contact(scored: tuple[GraphEvidenceDetector, list[Decision]]) -> None:
    detector, decisions = scored
    outcomes = [vote_of(d) for d in decisions]
    assert all(o.status == "ok" and o.vote is not None for o in outcomes)
    scores = np.array([o.vote.score for o in outcomes])
    labels = np.array([ring_of(n) is not None for n in range(N_HISTORY + 1, N_APPLICATIONS + 1)])
    assert auroc(labels, scores) >= 0.95
    assert detector.fit_details["samples"] == N_HISTORY and detector.fit_details["fraud"] == N_HISTORY // 4
    assert set(detector.fit_details["top_features"]) <= set(ALL_FEATURE_NAMES)


def test_reasons_are_readable_groups_without_personal_data(
        scored: tuple[GraphEvidenceDetector, list[Decision]]) -> None:
    _, decisions = scored
    member = next(d for n, d in zip(range(N_HISTORY + 1, N_APPLICATIONS + 1), decisions, strict=True)
                  if ring_of(n) is not None)
    vote = vote_of(member).vote
    codes = [r.code for r in vote.reasons]
    assert codes and all(c.startswith("EVIDENCE_") for c in codes)
    assert {"EVIDENCE_CONFIRMED_FRAUD_NEARBY", "EVIDENCE_SHARED_LINKS"} & set(codes)
    assert vote.reasons[0].strength >= vote.reasons[-1].strength
    text = orjson.dumps(vote.as_dict()).decode()
    for n in range(700, 706):
        assert mobile(n) not in text


def test_a_label_counts_only_from_when_it_is_known(context_of: Any) -> None:
    memory = EvidenceMemory()
    first, second = context_of(1), context_of(2)
    memory.remember(first)
    memory.label(first.application_id, True, known_from=second.as_of + 1)
    assert memory._fraud(first.application_id, second.as_of) is None
    memory.label(first.application_id, True)
    assert memory._fraud(first.application_id, second.as_of) is True


def linked(context: Any, **links: Link) -> Any:
    return replace(context, links=GraphLinks(**links))


def test_a_verdict_counts_at_once_for_linked_applications(context_of: Any) -> None:
    memory = EvidenceMemory()
    earlier = context_of(1)
    memory.remember(earlier)
    contact = Link("contact", "139****0900", applications=1, identities=1, others=(earlier.application_id,),
                   identity_keys=("someone",))
    context = linked(context_of(2), contacts=(contact,))
    assert memory.row(context)[INDEX["contact_confirmed"]] == 0
    memory.label(earlier.application_id, True)
    row = memory.row(context)
    assert row[INDEX["contact_confirmed"]] == 1 and row[INDEX["linked_confirmed"]] == 1


def test_a_household_shares_several_kinds_with_one_person(context_of: Any) -> None:
    memory = EvidenceMemory()
    spouse = context_of(1)
    memory.remember(spouse)
    shared = {"others": (spouse.application_id,), "identity_keys": ("spouse",), "applications": 1, "identities": 1}
    context = linked(context_of(2), address=Link("address", "addr", **shared),
                     contacts=(Link("contact", "139****0001", **shared),))
    row = memory.row(context)
    assert row[INDEX["linked_identities"]] == 1 and row[INDEX["linked_max_kinds_one_identity"]] == 2
    assert row[INDEX["linked_identities_several_kinds"]] == 1 and row[INDEX["address_span_days"]] >= 0


def plain_dealer_row(memory: EvidenceMemory, context: Any) -> list[float]:
    """The dealer's figures as the loop over every deal computed them before the columns of ``_DealFigures``."""
    at, deals = context.as_of, memory._dealers.get(context.application.dealer_id, [])
    end = bisect.bisect_left(deals, (at, ""))
    fraud = labelled = above = above_top = priced = 0
    excess = 0.0
    for _, app_id, price, model in deals[:end]:
        entry = memory._labels.get(app_id)
        if entry is not None and entry[1] <= at:
            labelled += 1
            fraud += entry[0]
        usual = memory._model_price.get(model)
        if usual:
            ratio = price / usual[0]
            priced += 1
            above += ratio > 1.03
            above_top += price > usual[1]
            excess += max(0.0, ratio - 1.0)
    own = memory.price_ratios(context)
    n = max(priced, 1)
    return [math.log1p(end), (fraud + 0.5) / (labelled + 10.0), math.log1p(labelled), above / n, excess / n,
            above_top / n, own[0] if own else 1.0, own[1] if own else 0.8, float(own is None)]


def test_the_dealers_figures_are_the_plain_loops_through_late_deals_the_window_new_prices_and_a_bundle(
        context_of: Any) -> None:
    rng = np.random.default_rng(7)

    def deal(n: int) -> Any:
        price = float(rng.integers(150_000, 260_000))
        return context_of(n, dealer_id=f"D-BJ-00{n % 2}", **{
            "vehicle.model": ("Camry", "Corolla", "Prado")[n % 3], "loan.vehicle_price": price,
            "loan.down_payment": 50_000, "loan.amount": price - 50_000})

    contexts = [deal(n) for n in range(1, 61)]
    memory = EvidenceMemory(dealer_window=12)
    order = rng.permutation(len(contexts))  # deals arrive late and out of order: inserted inside the window
    probes = [contexts[i] for i in (5, 20, 33, 59)] + [deal(61), deal(62)]

    def same() -> None:
        for probe in probes:
            dealer = probe.application.dealer_id
            assert memory._dealer(probe, probe.as_of, dealer) == plain_dealer_row(memory, probe)

    for step, i in enumerate(order):
        memory.remember(contexts[i])
        if step == 10:
            memory.set_model_prices({"Toyota Camry": (200_000.0, 240_000.0), "Toyota Corolla": (180_000.0,
                                                                                                   210_000.0)})
        if step % 2 == 0:
            # known at once, an hour later, or after the last probe: labels read as of each probe's time
            memory.label(contexts[i].application_id, step % 4 == 0,
                         known_from=contexts[i].as_of + (3600.0, 0.0, 86_400.0 * 30)[step % 3])
        if step % 7 == 0:
            same()
    assert set(memory._figures) == {"D-BJ-000", "D-BJ-001"} and all(len(d) == 12 for d in memory._dealers.values())
    same()
    clone = pickle.loads(pickle.dumps(memory))  # the columns are not pickled: rebuilt when first read
    assert "_figures" not in memory.__getstate__() and not clone._figures
    for probe in probes:
        assert clone._dealer(probe, probe.as_of, probe.application.dealer_id) == plain_dealer_row(memory, probe)
    memory.set_model_prices({"Toyota Prado": (230_000.0, 250_000.0)})  # new prices: every deal priced again
    same()


def test_survives_a_bundle_and_scores_alike(scored: tuple[GraphEvidenceDetector, list[Decision]],
                                            context_of: Any) -> None:
    detector, _ = scored
    clone = pickle.loads(pickle.dumps(detector))
    context = context_of(N_APPLICATIONS + 9)
    assert clone.score(context).score == pytest.approx(detector.score(context).score, abs=1e-12)


def test_raw_scores_are_the_boosters_own_raw_predictions(scored: tuple[GraphEvidenceDetector, list[Decision]]) -> None:
    detector, _ = scored
    booster = detector._booster
    rows = np.random.default_rng(3).normal(scale=3.0, size=(13, len(ALL_FEATURE_NAMES)))
    for some in (rows[:1], rows[:7], rows, rows[::2], rows.astype(np.float32)):  # a strided copy, floats of 32 bits
        expected = booster.predict(some, num_threads=1, raw_score=True)
        assert np.array_equal(raw_scores(booster, some), expected)
    with pytest.raises(LightGBMError, match="number of features"):  # the library's own check of the width
        raw_scores(booster, rows[:, :-1])


def test_the_profile_row_sees_an_income_nobody_else_has_seen() -> None:
    apps = [parse_application(application(n)) for n in range(1, 31)]
    table = ProfileTable()
    table.fit(apps)
    honest = dict(zip(PROFILE_FEATURE_NAMES, table.row(apps[0]), strict=True))
    income = apps[0].applicant.monthly_income
    inflated = parse_application(application(1, **{"applicant.monthly_income": income * 1.5}))
    forged = dict(zip(PROFILE_FEATURE_NAMES, table.row(inflated), strict=True))
    assert forged["income_over_occupation"] == pytest.approx(honest["income_over_occupation"] * 1.5)
    if honest["no_cards"] == 0:
        assert forged["card_limit_over_income"] < honest["card_limit_over_income"]
    assert forged["debt_over_income"] <= honest["debt_over_income"]


def test_own_figures_are_probed_only_where_their_reason_names_them(
        scored: tuple[GraphEvidenceDetector, list[Decision]], context_of: Any) -> None:
    """The vote is what every probe in one call would give: same score, same reasons, same strengths."""
    from detectors.graph_evidence import _reasons

    detector, _ = scored
    for n in range(N_APPLICATIONS + 1, N_APPLICATIONS + 41):
        context = context_of(n)
        row = detector._row(context)
        z = detector._booster.predict(detector._probed(row, detector._probes), num_threads=1, raw_score=True)
        p = 1.0 / (1.0 + np.exp(-z[0]))
        expected = _reasons(row, z[0] - z[1:], detector._probe_names) if p > detector._baseline else ()
        vote = detector.score(context)
        assert vote.score == pytest.approx(min(max(p, 1e-6), 1 - 1e-6), abs=1e-12)
        assert [(r.code, r.text, r.strength) for r in vote.reasons] == \
            [(r.code, r.text, r.strength) for r in expected]


def test_the_own_figures_are_skipped_only_where_no_reason_would_name_them(
        scored: tuple[GraphEvidenceDetector, list[Decision]], context_of: Any) -> None:
    from detectors.graph_evidence import _GROUP_NAMES, _names_own_figures, _reasons

    detector, _ = scored
    row = detector._row(context_of(N_APPLICATIONS + 50))
    groups, names = len(_GROUP_NAMES), detector._probe_names
    assert len(names) > groups  # the model leans on some own figures
    rng = np.random.default_rng(7)
    named = 0
    for _ in range(500):
        added = rng.choice([-0.6, 0.0, 0.1, 0.3, 0.8, 1.5], size=len(names))
        full = _reasons(row, added, names)
        if _names_own_figures(added[:groups], names[:groups]):
            named += any(r.code == "EVIDENCE_OWN_FIGURES" for r in full)
        else:
            assert _reasons(row, added[:groups], names[:groups]) == full
    assert named > 50
