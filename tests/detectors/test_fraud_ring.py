"""The fraud_ring detector: ring members, applications linked to rings, online joins, dealers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from detectors.context import LabelledContext, ScoringContext, build_context
from detectors.fraud_ring import FraudRingDetector
from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.export import GraphExport
from graph_schema.rollup import DealerRollup
from tests.builders import T0, account, mobile
from tests.rings.helpers import app, deal_applications, ring_applications
from tianwang.application import Application
from tianwang.privacy import PersonalDataKeyer
from tianwang.rings.index import RingIndex, RingSummary, dealer_exposure, risky_people
from tianwang.rings.job import detect_rings

RING_PHONE = mobile(7000)


@pytest.fixture
def store(tmp_path: Path, keyer: PersonalDataKeyer) -> EmbeddedGraphStore:
    graph = EmbeddedGraphStore(tmp_path / "rings.db", keyer)
    for application in ring_applications():
        graph.upsert_application(application)
    detect_rings(graph, labels={"APP-000001": True})
    yield graph
    graph.close()


def context(store: EmbeddedGraphStore, application: Application) -> ScoringContext:
    store.upsert_application(application)
    return build_context(application, store.keyer, view=store.as_of(application.submitted_ts))


def later(n: int, days: int = 2, **overrides: object) -> Application:
    return app(n, submitted_at=(T0 + timedelta(days=days, hours=n)).isoformat(), **overrides)


def loaded(store: EmbeddedGraphStore, **settings: object) -> FraudRingDetector:
    detector = FraudRingDetector(settings)
    detector.bind(store)
    detector.rings.load()
    return detector


def test_an_application_sharing_the_ring_phone_is_linked_to_the_ring_with_masked_evidence(store):
    detector = loaded(store)
    ring = store.ring_of("APP-000001")
    assert ring is not None and ring.properties["risk"] > 0.5
    vote = detector.score(context(store, later(10, **{"applicant.phone": RING_PHONE})))
    assert vote.score > 0.5
    reason = vote.reasons[0]
    assert reason.code == "LINKED_TO_RING"
    assert ring.ring_id in reason.text and "2 members" in reason.text
    assert RING_PHONE not in reason.text and RING_PHONE[:3] + "****" + RING_PHONE[-4:] in reason.text
    # rings read from the store carry counts only, not which applications were confirmed
    assert [e.neighbour for e in reason.evidence if e.field == "ring.confirmed_fraud"] == []
    # a phone two others use weighs 1 / log2(3)
    assert vote.score == pytest.approx(ring.properties["risk"] * (1 - np.exp(-1.5 / np.log2(3))), rel=1e-3)


def test_a_member_gets_the_ring_risk_and_an_unlinked_application_the_baseline(store):
    detector = loaded(store)
    member = detector.score(build_context(ring_applications()[1], store.keyer, view=store.as_of(T0.timestamp() + 1e7)))
    assert member.reasons[0].code == "RING_MEMBER"
    assert member.score == pytest.approx(store.ring_of("APP-000002").properties["risk"], abs=1e-4)
    alone = detector.score(context(store, later(11, dealer_id="D-GZ-009")))
    assert alone.score == detector.settings.baseline and alone.reasons == ()


def test_an_attached_applicant_joins_the_ring_so_the_next_one_linked_to_them_finds_it(store):
    detector = loaded(store, join_at=0.7)
    first = context(store, later(12, **{"applicant.phone": RING_PHONE, "applicant.bank_account": account(77),
                                        "applicant.device_id": "dev-new"}))
    assert detector.score(first).reasons[0].code == "LINKED_TO_RING"
    detector.observe(first)
    assert detector.index.joined == 1
    ring = detector.index.ring_of_person(first.keys.id_hash)
    assert ring is not None and ring.ring_id == store.ring_of("APP-000001").ring_id
    second = context(store, later(13, days=3, **{"applicant.device_id": "dev-new"}))
    vote = detector.score(second)
    assert vote.reasons[0].code == "LINKED_TO_RING" and "device" in vote.reasons[0].text
    assert "5 applicants" in vote.reasons[0].text  # 4 found by the batch run, 1 joined since


def test_an_address_alone_attaches_too_weakly_to_join(store):
    detector = loaded(store, join_at=0.7)
    home = ring_applications()[0].applicant.address
    ctx = context(store, later(14, **{"applicant.address": home}))
    vote = detector.score(ctx)
    detector.observe(ctx)
    assert detector.index.joined == 0
    assert vote.score < 0.6


def test_fit_detects_rings_itself_and_names_confirmed_fraud(tmp_path, keyer):
    graph = EmbeddedGraphStore(tmp_path / "fit.db", keyer)
    history = []
    for application in ring_applications():
        graph.upsert_application(application)
        ctx = build_context(application, keyer, view=graph.as_of(application.submitted_ts))
        history.append(LabelledContext(ctx, application.application_id in {"APP-000001", "APP-000003"}))
    detector = FraudRingDetector({"refresh_every": 2, "local_rings": False})
    detector.bind(graph)
    detector.fit(history)
    assert detector.fit_details["rings"] >= 1
    assert graph.rings() == []  # detection for scoring only: the stored rings are the batch job's
    vote = detector.score(context(graph, later(15, days=200, **{"applicant.phone": RING_PHONE})))
    confirmed = [e.neighbour for e in vote.reasons[0].evidence if e.field == "ring.confirmed_fraud"]
    assert confirmed == ["APP-000001", "APP-000003"]
    assert "2 confirmed fraud" in vote.reasons[0].text
    before = detector.index
    detector.observe(context(graph, later(16, days=201)))
    assert detector.index is before
    detector.observe(context(graph, later(17, days=202)))
    assert detector.index is not before  # refreshed after two observed applications
    graph.close()


def test_between_ring_runs_linked_applications_form_a_local_ring(tmp_path, keyer):
    graph = EmbeddedGraphStore(tmp_path / "local.db", keyer)
    detector = FraudRingDetector({"local_rings": True})
    web = ring_applications()[:3]
    for application in web:
        detector.observe(context(graph, application))
    assert detector.index is None
    vote = detector.score(context(graph, ring_applications()[3]))
    reason = vote.reasons[0]
    assert reason.code == "FORMS_RING" and "ring of 4 applicants" in reason.text
    assert "bank account" in reason.text and "emergency contact" in reason.text
    # the account is named masked, once ("shares bank account 622202*********0077", not "bank account bank account")
    raw = ring_applications()[3].applicant.bank_account
    assert f"bank account {raw[:6]}{'*' * (len(raw) - 10)}{raw[-4:]}" in reason.text and raw not in reason.text
    assert vote.score > 0.5
    loner = detector.score(context(graph, app(8, dealer_id="D-SH-002")))
    assert loner.reasons == ()
    graph.close()


def test_without_rings_yet_it_loads_them_in_the_background_and_abstains_meanwhile(store):
    detector = FraudRingDetector()
    detector.bind(store)
    go = threading.Event()
    load = detector.rings.load
    detector.rings.load = lambda: (go.wait(10), load())[1]  # type: ignore[method-assign]
    ctx = context(store, later(18, **{"applicant.phone": RING_PHONE}))
    first = detector.score(ctx)
    assert first.confidence == 0.0
    go.set()
    deadline = time.monotonic() + 10
    while detector.index is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert detector.index is not None and len(detector.index) >= 1
    assert detector.score(ctx).score > 0.5


def test_dealer_exposure_counts_applications_of_members_of_risky_rings():
    # nodes: 0 app, 1 app, 2 app, 3 dealer, 4 person p1, 5 person p2
    from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType

    code = {lab: NODE_TYPES[lab].code for lab in Label}
    export = GraphExport(
        node_label=np.array([code[Label.APPLICATION]] * 3 + [code[Label.DEALER], code[Label.PERSON],
                                                             code[Label.PERSON]]),
        node_key=["A1", "A2", "A3", "D1", "p1", "p2"],
        edge_index=np.array([[4, 5, 5, 0, 1, 2], [0, 1, 2, 3, 3, 3]]),
        edge_type=np.array([RELATIONSHIP_TYPES[RelType.SUBMITTED].code] * 3
                           + [RELATIONSHIP_TYPES[RelType.AT_DEALER].code] * 3),
        edge_at=np.zeros(6),
    )
    risky = RingSummary("R-1", 0.9, 3, ("p2", "x", "y"))
    calm = RingSummary("R-2", 0.1, 3, ("p1", "z", "w"))
    exposure = dealer_exposure(DealerRollup.of_export(export, risky_people([risky, calm], 0.5)))["D1"]
    assert (exposure.applications, exposure.in_risky_rings) == (3, 2)
    index = RingIndex.build(export, [risky, calm])
    assert index.dealer("D1").share == pytest.approx(2 / 3)


def test_a_shared_home_landline_is_a_weak_link_as_an_address_is(tmp_path, keyer):
    def household(shared: str, name: str):
        # the same address and the same number listed as emergency contact, as households have
        graph = EmbeddedGraphStore(tmp_path / f"{name}.db", keyer)
        detector = FraudRingDetector({"local_rings": True})
        home = {"applicant.address": "合肥市青年路88号3栋402",
                "applicant.emergency_contacts": [{"name": "家", "phone": shared}]}
        for n in (31, 32, 33):
            detector.observe(context(graph, app(n, **home)))
        vote = detector.score(context(graph, app(34, **home)))
        graph.close()
        assert vote.reasons[0].code == "FORMS_RING"
        return vote

    landline, mobile_contact = household("055162345678", "landline"), household(mobile(8800), "mobile")
    # named as a landline, masked; it weighs as an address does and makes no link strong
    assert "landline 0551" in landline.reasons[0].text and "055162345678" not in landline.reasons[0].text
    assert "emergency contact" in mobile_contact.reasons[0].text
    assert landline.score < 0.1 < 0.3 < mobile_contact.score


def test_a_dealer_with_many_ring_applications_raises_the_score():
    index = RingIndex([RingSummary("R-1", 0.9, 3, ("a", "b", "c"))],
                      {"D-BJ-001": _exposure(100, 40), "D-SH-002": _exposure(100, 1)})
    detector = FraudRingDetector(rings=index)
    keyer = PersonalDataKeyer(b"k" * 32)
    busy = detector.score(build_context(app(20), keyer))
    quiet = detector.score(build_context(app(21, dealer_id="D-SH-002"), keyer))
    assert busy.reasons[0].code == "DEALER_RING_SHARE" and "40 of 100" in busy.reasons[0].text
    assert busy.score > 0.4 > quiet.score


def test_a_fitted_dealer_score_is_the_fraud_rate_at_such_dealers_among_applicants_in_no_ring():
    keyer = PersonalDataKeyer(b"k" * 32)
    member = build_context(app(1), keyer)
    index = RingIndex([RingSummary("R-1", 0.9, 3, (member.keys.id_hash, "b", "c"))],
                      {"D-BJ-001": _exposure(400, 160), "D-SH-002": _exposure(400, 40)})
    # 10 % fraud at the dealer with a 40 % ring share, 1 % at the one with 10 %; the ring member's
    # own fraud application is what the ring says, not what the dealer says, and is left out
    history = [LabelledContext(member, True)]
    for n in range(2, 402):
        busy = n % 2 == 0
        fraud = n % 20 == 0 if busy else n % 200 == 1
        history.append(LabelledContext(build_context(app(n, dealer_id="D-BJ-001" if busy else "D-SH-002"), keyer),
                                       fraud))
    detector = FraudRingDetector(rings=index).fit(history)
    details = detector.fit_details["dealer_calibration"]
    assert (details["applications"], details["fraud"]) == (400, 22)
    busy = detector.score(build_context(app(500), keyer))
    quiet = detector.score(build_context(app(501, dealer_id="D-SH-002"), keyer))
    assert busy.reasons[0].code == "DEALER_RING_SHARE"
    assert busy.score == pytest.approx(0.10, abs=0.02) and quiet.score == pytest.approx(0.02, abs=0.005)
    # too few fraud cases: the hand-set curve stays
    few = FraudRingDetector({"dealer_min_fraud": 30}, rings=index).fit(history)
    assert "why" in few.fit_details["dealer_calibration"]
    assert few.score(build_context(app(500), keyer)).score > 0.4


def test_the_dealer_curve_recovers_a_logistic_rate_and_never_falls_with_the_share():
    from detectors.fraud_ring.dealer import fit_share_curve as _fit_share_curve

    rng = np.random.default_rng(0)
    share = rng.random(50_000) * 0.5
    fraud = (rng.random(50_000) < 1 / (1 + np.exp(-(-4.0 + 6.0 * share)))).astype(float)
    intercept, slope = _fit_share_curve(share, fraud)
    assert intercept == pytest.approx(-4.0, abs=0.2) and slope == pytest.approx(6.0, abs=0.6)
    falling = (rng.random(50_000) < 1 / (1 + np.exp(-(-2.0 - 6.0 * share)))).astype(float)
    intercept, slope = _fit_share_curve(share, falling)
    assert slope == 0.0 and 1 / (1 + np.exp(-intercept)) == pytest.approx(falling.mean(), rel=1e-3)


def _exposure(applications: int, risky: int):
    from tianwang.rings.index import DealerExposure

    return DealerExposure(applications, risky)


def test_a_refresh_in_the_background_swaps_the_rings_when_done(tmp_path, keyer):
    graph = EmbeddedGraphStore(tmp_path / "bg.db", keyer)
    history = []
    for application in ring_applications():
        graph.upsert_application(application)
        history.append(LabelledContext(build_context(application, keyer, view=graph.as_of(application.submitted_ts)),
                                       False))
    detector = FraudRingDetector({"refresh_every": 1, "refresh_in_background": True})
    detector.bind(graph)
    detector.fit(history)
    before = detector.index
    detector.observe(context(graph, later(19, days=200)))
    deadline = time.monotonic() + 10
    while detector.index is before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert detector.index is not before and len(detector.index) >= 1
    graph.close()


def test_an_inflated_deal_at_a_ring_dealer_in_the_same_weeks_joins_the_ring(tmp_path, keyer):
    """Members of a risky ring bought Camrys far above the usual price at D-BJ-009; so does a newcomer."""
    graph = EmbeddedGraphStore(tmp_path / "deals.db", keyer)
    graph.upsert_applications(deal_applications())
    members = tuple(graph.get_application(f"APP-{n:06d}").record["applicant"]["id_hash"] for n in (101, 102, 103))
    ring = RingSummary("R-000001", 0.9, 3, members)
    index = RingIndex.build(graph.export_edges(), [ring])
    deals = index.inflated
    assert deals.model_prices["Toyota Camry"] == 289_000  # nearest-rank 95th percentile of 105 Camrys
    assert "Lexus ES" not in deals.model_prices  # one sale: no reference
    assert [r for _, r in deals.by_dealer["D-BJ-009"]] == ["R-000001"] * 3  # APP-000104 is in no ring
    day = 86_400.0
    found = index.inflated_ring("D-BJ-009", T0.timestamp() + 10 * day, 350_000, "Toyota Camry")
    assert found is not None and found[0].ring_id == "R-000001" and found[1] == pytest.approx(350 / 289)
    assert index.inflated_ring("D-BJ-009", T0.timestamp() + 60 * day, 350_000, "Toyota Camry") is None  # too late
    assert index.inflated_ring("D-BJ-009", T0.timestamp() + 10 * day, 300_000, "Toyota Camry") is None  # 1.04x
    assert index.inflated_ring("D-SH-002", T0.timestamp() + 10 * day, 350_000, "Toyota Camry") is None
    assert index.inflated_ring("D-BJ-009", T0.timestamp() + 10 * day, 900_000, "Lexus ES") is None

    detector = FraudRingDetector({"local_rings": False}, rings=index)
    newcomer = app(200, dealer_id="D-BJ-009", submitted_at=(T0 + timedelta(days=9)).isoformat(),
                   **{"loan.vehicle_price": 350_000, "loan.amount": 290_000})
    vote = detector.score(context(graph, newcomer))
    assert vote.reasons[0].code == "LINKED_TO_RING" and "an inflated price: 1.21x" in vote.reasons[0].text
    assert vote.score == pytest.approx(0.9 * (1 - np.exp(-1.5)), rel=1e-3)
    fair = app(201, dealer_id="D-BJ-009", submitted_at=(T0 + timedelta(days=9)).isoformat())
    assert detector.score(context(graph, fair)).reasons == ()
    graph.close()


def test_inflated_deals_at_one_dealer_since_the_last_run_form_a_local_ring(tmp_path, keyer):
    """No batch ring yet: three newcomers buy Camrys far above the usual price at one dealer within days."""
    graph = EmbeddedGraphStore(tmp_path / "local.db", keyer)
    graph.upsert_applications([a for a in deal_applications() if int(a.application_id[4:]) <= 100])
    detector = FraudRingDetector({})
    detector.use_rings(RingIndex.build(graph.export_edges(), []))  # reference prices only, no rings
    assert detector.index.inflated.model_prices["Toyota Camry"] == 285_000  # nearest rank of 100
    votes = []
    for k, n in enumerate((300, 301, 302)):
        newcomer = app(n, dealer_id="D-GZ-007", submitted_at=(T0 + timedelta(days=3 * k)).isoformat(),
                       **{"loan.vehicle_price": 360_000, "loan.amount": 300_000})
        ctx = context(graph, newcomer)
        votes.append(detector.score(ctx))
        detector.observe(ctx)
    assert votes[0].reasons == ()  # the first inflated deal there links to nobody
    third = votes[2].reasons[0]
    assert third.code == "FORMS_RING"
    assert "an inflated price: 1.26x" in third.text and "2 other inflated deals" in third.text
    assert votes[1].score == detector.settings.baseline  # two are not a ring (min_size 3)
    assert votes[2].score > 0.5  # risk 1.0 x attachment 1 - exp(-1.5 / log2(3))
    # the same price elsewhere, or a fair price here, links to none of them
    elsewhere = app(303, dealer_id="D-GZ-008", submitted_at=(T0 + timedelta(days=7)).isoformat(),
                    **{"loan.vehicle_price": 360_000, "loan.amount": 300_000})
    fair = app(304, dealer_id="D-GZ-007", submitted_at=(T0 + timedelta(days=7)).isoformat())
    assert detector.score(context(graph, elsewhere)).reasons == ()
    assert detector.score(context(graph, fair)).reasons == ()
    # scored as of a time before those deals (a replay), it does not see them
    earlier = app(305, dealer_id="D-GZ-007", submitted_at=(T0 - timedelta(days=1)).isoformat(),
                  **{"loan.vehicle_price": 360_000, "loan.amount": 300_000})
    assert detector.score(context(graph, earlier)).reasons == ()
    graph.close()


def test_a_replayed_application_forms_local_rings_only_from_what_was_known_at_its_time(tmp_path, keyer):
    """A backtest's learned-fusion holdout scores applications the detector has seen the future of."""
    graph = EmbeddedGraphStore(tmp_path / "replay.db", keyer)
    detector = FraudRingDetector({})

    def on(day: int, n: int) -> Application:
        return app(n, dealer_id="D-GZ-011", submitted_at=(T0 + timedelta(days=day)).isoformat(),
                   **{"applicant.device_id": "dev-shared"})

    for day, n in ((3, 400), (20, 401), (21, 402)):
        detector.observe(context(graph, on(day, n)))
    # as of day 5 only APP-000400 shared the device: two applicants are no ring, whatever came later
    assert detector.score(context(graph, on(5, 403))).reasons == ()
    late = detector.score(context(graph, on(25, 404)))
    assert late.reasons[0].code == "FORMS_RING" and "ring of 4 applicants" in late.reasons[0].text
    graph.close()


def test_the_dealer_curve_stays_finite_when_the_share_separates_fraud_perfectly():
    from detectors.fraud_ring.dealer import fit_share_curve as _fit_share_curve
    from tianwang.stats import sigmoid as _sigmoid

    share = np.array([0.05] * 50 + [0.6] * 10)
    fraud = np.array([0.0] * 50 + [1.0] * 10)
    intercept, slope = _fit_share_curve(share, fraud)
    assert np.isfinite(intercept) and np.isfinite(slope) and slope > 0
    assert _sigmoid(intercept + slope * 0.6) > 0.9 > 0.1 > _sigmoid(intercept + slope * 0.05)
    assert _sigmoid(-1000.0) == 0.0 and _sigmoid(1000.0) == 1.0


def test_batch_and_online_weigh_a_shared_landline_alike_weak_in_both(tmp_path, keyer):
    """Four applicants who share only a home landline (listed as emergency contact): the batch job's ring and
    the ring the detector sees them form between runs have the same, weak, description and the same risk."""
    from tianwang.rings.job import detect_rings_in_export
    from tianwang.rings.links import LANDLINE, LANDLINE_WEIGHT

    graph = EmbeddedGraphStore(tmp_path / "landline.db", keyer)
    home = {"applicant.emergency_contacts": [{"name": "家", "phone": "055162345678"}]}
    applications = [app(n, **home) for n in (41, 42, 43, 44)]
    detector = FraudRingDetector({"local_rings": True})
    for application in applications[:3]:
        detector.observe(context(graph, application))
    online = detector.score(context(graph, applications[3]))

    export = graph.export_edges()
    assert export.landline is not None and int(export.landline.sum()) == 1
    (ring,) = [r for r in detect_rings_in_export(export).rings if len(r.members) == 4]
    assert ring.statistics.shared.get(LANDLINE) == 1 and "Phone" not in ring.statistics.shared
    assert ring.statistics.strong_member_share == 0.0  # a landline makes no link strong, in batch too
    reason = online.reasons[0]
    assert reason.code == "FORMS_RING" and "landline 0551" in reason.text
    assert f"risk {ring.risk:.2f}" in reason.text  # the same statistics, the same risk
    # shared by 4 in batch (3 others online): LANDLINE_WEIGHT / log2(4) on both sides
    assert detector.settings.link_weights["landline"] == LANDLINE_WEIGHT
    assert online.score == pytest.approx(ring.risk * (1 - np.exp(-1.5 * LANDLINE_WEIGHT / 2)), rel=1e-6)
    graph.close()


def test_the_pipeline_binds_its_store_so_the_detector_reads_rings_without_the_views(store, pipelines):
    from tests.scoring.helpers import config

    pipeline = pipelines(store, config({"fraud_ring": {"budget_ms": 30000}}))
    detector = pipeline.loaded.detectors["fraud_ring"]
    assert detector.rings.store is store
    assert detector.rings.load() is detector.index and len(detector.index) >= 1
