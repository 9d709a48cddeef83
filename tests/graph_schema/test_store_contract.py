"""The contract every GraphStore keeps, run against the embedded store and Neo4j."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from graph_schema.export import GraphExport
from graph_schema.mapping import application_row, graph_from_row
from graph_schema.rollup import DealerRollup
from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES, Label, RelType
from graph_schema.store import GraphStore
from graph_schema.values import NodeRef, RingRecord
from tests.builders import T0, application, mobile, resident_id
from tianwang.application import Application, parse_application
from tianwang.errors import ApplicationConflictError
from tianwang.privacy import PersonalDataKeyer


def app(n: int = 1, **overrides: object) -> Application:
    return parse_application(application(n, **overrides))


def ring_of_three() -> list[Application]:
    """Three applications sharing one phone, two sharing a device; a fourth alone."""
    shared_phone = mobile(555)
    return [
        app(1, **{"applicant.phone": shared_phone, "applicant.device_id": "dev-ring"}),
        app(2, **{"applicant.phone": shared_phone, "applicant.device_id": "dev-ring"}),
        app(3, **{"applicant.phone": shared_phone}),
        app(4, dealer_id="D-SH-002"),
    ]


def test_upsert_is_idempotent(store: GraphStore) -> None:
    a = app(1)
    assert store.upsert_application(a) is True
    before = store.counts()
    assert store.upsert_application(a) is False
    assert store.counts() == before
    assert before.nodes["Application"] == 1
    assert before.relationships["SUBMITTED"] == 1


def test_a_rehearsed_write_leaves_nothing(store: GraphStore) -> None:
    store.upsert_application(app(1))
    before = store.counts()
    store.rehearse_write([application_row(app(2), store.keyer)])
    assert store.counts() == before and store.get_application("APP-000002") is None
    assert store.upsert_application(app(2))  # and the real write is a write


def test_counts_of_one_application(store: GraphStore) -> None:
    store.upsert_application(app(1))
    counts = store.counts()
    # person, own phone + contact phone, employer, dealer, device, address, account, vehicle
    assert counts.nodes == {
        "Application": 1, "Person": 1, "Phone": 2, "Employer": 1, "Dealer": 1,
        "Device": 1, "Address": 1, "BankAccount": 1, "Vehicle": 1,
    }  # fmt: skip
    assert counts.total_relationships == 9
    assert "MEMBER_OF" not in counts.relationships


def test_conflicting_content_is_refused_and_nothing_written(store: GraphStore) -> None:
    store.upsert_application(app(1))
    before = store.counts()
    changed = app(1, **{"loan.amount": 150000, "loan.down_payment": 50000})
    with pytest.raises(ApplicationConflictError, match="APP-000001"):
        store.upsert_application(changed)
    assert store.counts() == before
    assert store.get_application("APP-000001").record["loan"]["amount"] == 140000


def test_bulk_upsert_batches_progress_and_rerun(store: GraphStore) -> None:
    apps = [app(n) for n in range(1, 26)]
    seen: list[int] = []
    result = store.upsert_applications(apps, batch_size=10, progress=seen.append)
    assert (result.created, result.unchanged, result.conflicts) == (25, 0, [])
    assert seen == [10, 10, 5]
    before = store.counts()
    again = store.upsert_applications(apps, batch_size=7)
    assert (again.created, again.unchanged) == (0, 25)
    assert store.counts() == before


def test_bulk_upsert_reports_conflicts_and_writes_the_rest(store: GraphStore) -> None:
    store.upsert_application(app(1))
    result = store.upsert_applications([app(1, dealer_id="D-OTHER"), app(2), app(3)])
    assert result.conflicts == ["APP-000001"]
    assert result.created == 2
    assert store.counts().nodes["Application"] == 3


def test_bulk_upsert_rejects_bad_batch_size(store: GraphStore) -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1, got: 0"):
        store.upsert_applications([app(1)], batch_size=0)


def test_get_application_returns_a_redacted_record(store: GraphStore) -> None:
    raw = application(1)
    store.upsert_application(parse_application(raw))
    record = store.get_application("APP-000001")
    assert record is not None
    assert record.dealer_id == "D-BJ-001"
    assert record.submitted_at == pytest.approx(T0.timestamp() + 3600)
    applicant = record.record["applicant"]
    assert applicant["id_number"] == raw["applicant"]["id_number"][:3] + "*" * 11 + raw["applicant"]["id_number"][-4:]
    assert applicant["phone"] == "139****0001"
    assert len(applicant["id_hash"]) == 32
    assert applicant["phone_hash"] == applicant["id_registered_phone_hash"]
    assert record.record["loan"] == {
        k: float(v) if k not in ("term_months", "product") else v for k, v in raw["loan"].items()
    }
    assert store.get_application("NOPE") is None


def test_no_raw_personal_data_in_the_store(store: GraphStore) -> None:
    raw = application(7, **{"vehicle.user_id_number": resident_id(sequence=777)})
    store.upsert_application(parse_application(raw))
    secrets = [
        raw["applicant"]["id_number"],
        raw["applicant"]["phone"],
        raw["applicant"]["bank_account"],
        raw["applicant"]["name"],
        raw["applicant"]["address"],
        raw["applicant"]["emergency_contacts"][0]["phone"],
        raw["applicant"]["emergency_contacts"][0]["name"],
        raw["vehicle"]["user_id_number"],
    ]
    export = store.export_edges()
    dump = repr(export.node_key) + repr(store.get_application("APP-000007"))
    for ref in (NodeRef(Label.APPLICATION, "APP-000007"),):
        dump += repr(store.neighbours(ref, hops=2, limit=100))
    for value in secrets:
        assert value not in dump


def test_neighbours_hops_and_limit(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    phone_hash = store.get_application("APP-000001").record["applicant"]["phone_hash"]
    one = store.neighbours(NodeRef(Label.PHONE, phone_hash), hops=1, limit=100)
    assert {n.key for n in one.nodes if n.label is Label.APPLICATION} == {"APP-000001", "APP-000002", "APP-000003"}
    assert len(one.nodes) == 4 and not one.truncated
    assert all(r.type is RelType.USES_PHONE for r in one.relationships)
    two = store.neighbours(NodeRef(Label.PHONE, phone_hash), hops=2, limit=1000)
    labels = {n.label for n in two.nodes}
    assert {Label.PERSON, Label.DEVICE, Label.DEALER, Label.EMPLOYER} <= labels
    assert "APP-000004" not in {n.key for n in two.nodes}
    assert not two.truncated
    # every relationship joins two returned nodes
    refs = {n.ref for n in two.nodes}
    assert all(r.source in refs and r.target in refs for r in two.relationships)
    cut = store.neighbours(NodeRef(Label.PHONE, phone_hash), hops=2, limit=2)
    assert len(cut.nodes) == 3 and cut.truncated
    assert store.neighbours(NodeRef(Label.PHONE, "missing"), hops=2).nodes == []


def test_neighbours_order_and_properties(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    dealer = store.neighbours(NodeRef(Label.DEALER, "D-BJ-001"), hops=1, limit=2)
    assert [n.key for n in dealer.nodes] == ["D-BJ-001", "APP-000001", "APP-000002"]
    assert dealer.truncated
    application_node = dealer.nodes[1]
    assert application_node.properties["dealer_id"] == "D-BJ-001"
    assert "record" not in application_node.properties
    with pytest.raises(ValueError, match="hops and limit must be non-negative"):
        store.neighbours(NodeRef(Label.DEALER, "D-BJ-001"), hops=-1)


def test_neighbours_without_the_start_node(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    for ref, hops, limit in [(NodeRef(Label.DEALER, "D-BJ-001"), 1, 2), (NodeRef(Label.DEALER, "D-BJ-001"), 2, 50),
                             (NodeRef(Label.DEALER, "D-BJ-001"), 1, 100)]:
        full = store.neighbours(ref, hops=hops, limit=limit)
        bare = store.neighbours(ref, hops=hops, limit=limit, with_start=False)
        assert [n.ref for n in bare.nodes] == [n.ref for n in full.nodes if n.ref != ref]
        assert bare.relationships == full.relationships and bare.truncated == full.truncated
    assert store.neighbours(NodeRef(Label.PHONE, "missing"), with_start=False) == store.neighbours(
        NodeRef(Label.PHONE, "missing"))
    view = store.as_of(T0 + timedelta(hours=2))
    phone_hash = store.get_application("APP-000001").record["applicant"]["phone_hash"]
    seen = view.neighbours(NodeRef(Label.PHONE, phone_hash), with_start=False)
    assert {n.key for n in seen.nodes} == {"APP-000001", "APP-000002"}


def test_surroundings_read_together_what_neighbours_reads_one_by_one(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    record = store.get_application("APP-000001").record
    refs = [NodeRef(Label.DEALER, "D-BJ-001"), NodeRef(Label.PHONE, record["applicant"]["phone_hash"]),
            NodeRef(Label.PHONE, "missing"), NodeRef(Label.PERSON, record["applicant"]["id_hash"]),
            NodeRef(Label.DEALER, "D-BJ-001"), NodeRef(Label.APPLICATION, "APP-000002")]
    for limit, as_of in [(100, None), (2, None), (1, None), (0, None), (100, T0 + timedelta(hours=2))]:
        one_by_one = [store.neighbours(ref, hops=1, limit=limit, as_of=as_of, with_start=False) for ref in refs]
        together = store.surroundings(refs, limit=limit, as_of=as_of)
        assert together == one_by_one, (limit, as_of)
    assert any(s.truncated for s in store.surroundings(refs, limit=1))  # the dealer has three applications
    many = refs * 40  # more than the embedded store reads in one statement
    assert store.surroundings(many, limit=2) == [store.neighbours(r, hops=1, limit=2, with_start=False) for r in many]
    assert store.surroundings([]) == []
    view = store.as_of(T0 + timedelta(hours=2))
    assert view.surroundings(refs[:2]) == [view.neighbours(r, with_start=False) for r in refs[:2]]
    with pytest.raises(ValueError, match="limit"):
        store.surroundings(refs, limit=-1)


def test_point_in_time_view(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    view = store.as_of(T0 + timedelta(hours=2))
    assert view.get_application("APP-000002") is not None
    assert view.get_application("APP-000003") is None
    phone_hash = store.get_application("APP-000001").record["applicant"]["phone_hash"]
    seen = view.neighbours(NodeRef(Label.PHONE, phone_hash), hops=1)
    assert {n.key for n in seen.nodes if n.label is Label.APPLICATION} == {"APP-000001", "APP-000002"}
    assert all(r.at <= view.moment for r in seen.relationships)
    export = view.export_edges()
    assert export.num_edges == 18 and float(export.edge_at.max()) <= view.moment
    assert store.as_of(T0).get_application("APP-000001") is None


def test_view_reads_only_as_of_its_moment(store: GraphStore) -> None:
    """A view has no write, and what is written after its moment stays out of its reads."""
    view = store.as_of(T0 + timedelta(hours=1, minutes=30))
    writes = {"write_rows", "write_graphs", "upsert_application", "upsert_applications", "write_rings", "clear"}
    assert not [name for name in writes if hasattr(view, name)]
    # reads only: the store under it is not reachable
    public = {name for name in dir(view) if not name.startswith("_")}
    assert public == {"moment", "get_application", "neighbours", "surroundings", "export_edges"}
    with pytest.raises(AttributeError):
        view.moment = T0.timestamp() + 1e9  # type: ignore[misc]
    apps = ring_of_three()
    store.upsert_applications(apps[:1])
    before = view.export_edges()
    store.upsert_applications(apps[1:])  # APP-000002 at T0 + 2 h: after the view's moment
    assert view.get_application("APP-000001") is not None
    assert view.get_application("APP-000002") is None
    assert store.get_application("APP-000002") is not None
    phone = NodeRef(Label.PHONE, store.get_application("APP-000001").record["applicant"]["phone_hash"])
    assert {n.key for n in view.neighbours(phone).nodes if n.label is Label.APPLICATION} == {"APP-000001"}
    after = view.export_edges()
    assert after.num_edges == before.num_edges and after.node_key == before.node_key


def test_export_edges(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    export = store.export_edges()
    counts = store.counts()
    assert export.num_nodes == counts.total_nodes
    assert export.num_edges == counts.total_relationships
    assert export.edge_index.shape == (2, export.num_edges) and export.edge_index.dtype == np.int64
    assert export.edge_index.max() < export.num_nodes
    labels = [int(c) for c in export.node_label]
    assert labels == sorted(labels)
    codes = {t.code: t for t in RELATIONSHIP_TYPES.values()}
    label_of = {t.code: t.label for t in NODE_TYPES.values()}
    for (src, dst), code in zip(export.edge_index.T, export.edge_type, strict=True):
        rel = codes[int(code)]
        assert label_of[int(export.node_label[src])] is rel.source
        assert label_of[int(export.node_label[dst])] is rel.target
    assert set(np.unique(export.edge_at)) == {a.submitted_ts for a in ring_of_three()}


def _triples(export: GraphExport) -> set[tuple[str, int, str]]:
    keys = export.node_key
    return {(keys[int(s)], int(t), keys[int(d)])
            for (s, d), t in zip(export.edge_index.T, export.edge_type, strict=True)}


def test_export_of_chosen_relationship_types(store: GraphStore) -> None:
    """``types``: those relationships only, the nodes at their ends, the same deal terms; as of a moment too."""
    store.upsert_applications(ring_of_three())
    chosen = (RelType.SUBMITTED, RelType.AT_DEALER)
    codes = {RELATIONSHIP_TYPES[t].code for t in chosen}
    full = store.export_edges()
    part = store.export_edges(types=chosen)
    assert set(np.unique(part.edge_type).tolist()) == codes
    assert _triples(part) == {t for t in _triples(full) if t[1] in codes}
    ends = {NODE_TYPES[label].code for t in chosen for label in (RELATIONSHIP_TYPES[t].source,
                                                                 RELATIONSHIP_TYPES[t].target)}
    assert set(np.unique(part.node_label).tolist()) == ends
    assert part.deals is not None and full.deals is not None
    assert sorted(part.node_key[int(n)] for n in part.deals.node) == sorted(full.node_key[int(n)]
                                                                             for n in full.deals.node)
    assert part.landline is not None and not part.landline.any()
    moment = ring_of_three()[1].submitted_ts
    earlier = store.as_of(moment).export_edges()
    earlier_part = store.export_edges(as_of=moment, types=chosen)
    assert _triples(earlier_part) == {t for t in _triples(earlier) if t[1] in codes}


@pytest.mark.neo4j
def test_a_neo4j_export_read_in_chunks_is_the_whole_export(neo4j_uri: str, keyer: PersonalDataKeyer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Neo4j reads a large type or deal set in chunks (by whole second modulo the chunk count): the
    chunks partition the rows, so the export is the same however many there are."""
    from graph_schema import neo4j_export
    from graph_schema.neo4j_store import Neo4jGraphStore

    with Neo4jGraphStore(neo4j_uri, keyer) as store:
        store.clear()
        store.upsert_applications([*ring_of_three(), app(5), app(6, dealer_id="D-SH-002")])
        whole = [store.export_edges(), store.export_edges(types=(RelType.SUBMITTED, RelType.AT_DEALER))]
        counted: list[int] = []
        chunks = neo4j_export._chunks
        monkeypatch.setattr(neo4j_export, "CHUNK_ROWS", 2)
        monkeypatch.setattr(neo4j_export, "_chunks", lambda *a: counted.append(chunks(*a)) or counted[-1])
        chunked = [store.export_edges(), store.export_edges(types=(RelType.SUBMITTED, RelType.AT_DEALER))]
    assert max(counted) >= 3  # six applications, two rows a chunk
    for a, b in zip(whole, chunked, strict=True):
        assert a.node_key == b.node_key and np.array_equal(a.node_label, b.node_label)
        assert np.array_equal(a.edge_index, b.edge_index) and np.array_equal(a.edge_type, b.edge_type)
        assert np.array_equal(a.edge_at, b.edge_at)
        assert a.deals is not None and b.deals is not None and np.array_equal(a.deals.node, b.deals.node)
        assert np.array_equal(a.deals.vehicle_price, b.deals.vehicle_price)


def test_export_carries_deal_terms(store: GraphStore) -> None:
    """Each application's node, vehicle price and model (one code per brand and model), as of a moment too."""
    lexus = app(5, **{"vehicle.brand": "Lexus", "loan.vehicle_price": 420000})
    apps = {a.application_id: a for a in [*ring_of_three(), lexus]}
    store.upsert_applications(list(apps.values()))
    export = store.export_edges()
    assert export.deals is not None
    assert sorted(export.node_key[int(n)] for n in export.deals.node) == sorted(apps)
    model_of = {}
    for node, price, model in zip(export.deals.node, export.deals.vehicle_price, export.deals.model, strict=True):
        application = apps[export.node_key[int(node)]]
        assert price == application.loan.vehicle_price
        model_of[(application.vehicle.brand, application.vehicle.model)] = int(model)
    assert len(model_of) == 2 and len(set(model_of.values())) == 2 and min(model_of.values()) >= 0
    earlier = store.as_of(apps["APP-000002"].submitted_ts).export_edges()
    assert earlier.deals is not None
    assert sorted(earlier.node_key[int(n)] for n in earlier.deals.node) == ["APP-000001", "APP-000002"]


def dealer_deals() -> list[Application]:
    """23 deals at three dealers, two models, one of every price; applicant 1 buys again at a fourth dealer
    (application 30, that dealer's only one)."""
    def deal(n: int, price: int, model: str, dealer: str, person: int) -> Application:
        return app(n, dealer_id=dealer, **{"vehicle.model": model, "loan.vehicle_price": price,
                                           "loan.down_payment": 50_000, "loan.amount": price - 50_000,
                                           "applicant.id_number": resident_id(sequence=person)})

    dealers = ("D-BJ-001", "D-SH-002", "D-GZ-003")
    deals = [deal(n, 150_000 + 7_000 * ((n * 7) % 23), ("Camry", "Corolla")[n % 2], dealers[n % 3], n)
             for n in range(1, 24)]
    return [*deals, deal(30, 260_000, "Corolla", "D-CD-004", 1)]


def test_the_dealer_rollup_counts_what_the_export_holds(store: GraphStore) -> None:
    """Per dealer its applications, per model its priced ones and their 95th-percentile price (nearest
    rank), and the chosen people's deals: what the ring index keeps, counted by the store (on Neo4j in
    the database) as it is counted from the export."""
    apps = dealer_deals()
    store.upsert_applications(apps)
    people = {_person_of(store, "APP-000001"), _person_of(store, "APP-000004"), "no-such-person"}
    rollup = store.dealer_rollup(people)
    assert rollup == DealerRollup.of_export(store.export_edges(types=(RelType.SUBMITTED, RelType.AT_DEALER)),
                                            people)
    assert dict(rollup.applications) == {"D-BJ-001": 7, "D-SH-002": 8, "D-GZ-003": 8, "D-CD-004": 1}
    for model in ("Camry", "Corolla"):
        prices = sorted(float(a.loan.vehicle_price) for a in apps if a.vehicle.model == model)
        assert rollup.model_prices[f"Toyota {model}"] == (len(prices), prices[int(0.95 * (len(prices) - 1))])
    by_id = {a.application_id: a for a in apps}
    expected = sorted((_person_of(store, i), i, by_id[i].dealer_id, by_id[i].submitted_ts,
                       float(by_id[i].loan.vehicle_price), f"Toyota {by_id[i].vehicle.model}")
                      for i in ("APP-000001", "APP-000004", "APP-000030"))
    assert list(rollup.deals) == expected
    assert [rollup.of_people(d) for d in ("D-CD-004", "D-SH-002", "D-BJ-001", "D-GZ-003")] == [1, 2, 0, 0]
    assert store.dealer_rollup(set()).deals == () and store.dealer_rollup(set()).applications == rollup.applications
    unpriced = store.dealer_rollup(people, prices=False)
    assert unpriced == DealerRollup(rollup.applications, {}, rollup.deals)


def test_the_dealers_of_applications_read_by_id(store: GraphStore) -> None:
    apps = dealer_deals()
    store.upsert_applications(apps)
    wanted = [a.application_id for a in apps[::4]] + ["APP-NOT-THERE"]
    assert store.application_dealers(wanted) == {a.application_id: a.dealer_id for a in apps[::4]}
    assert store.application_dealers([]) == {}
    many = [f"APP-{n:06d}" for n in range(1, 1201)]  # more than one query's worth of ids
    assert store.application_dealers(many) == {a.application_id: a.dealer_id for a in apps}


@pytest.mark.neo4j
def test_a_neo4j_rollup_reads_the_model_from_the_record_of_an_older_application(
        neo4j_uri: str, keyer: PersonalDataKeyer) -> None:
    """An application node stored before it carried its vehicle model: the model is in its record, which
    the export reads, so the rollup is counted from the export then, and is the same."""
    from graph_schema.neo4j_store import Neo4jGraphStore

    with Neo4jGraphStore(neo4j_uri, keyer) as store:
        store.clear()
        store.upsert_applications(dealer_deals())
        people = {_person_of(store, "APP-000001")}
        counted = store.dealer_rollup(people)
        key = NODE_TYPES[Label.APPLICATION].key
        store._run(f"MATCH (a:Application {{{key}: 'APP-000030'}}) REMOVE a.vehicle_model")
        assert store.dealer_rollup(people) == counted
        store.clear()


def test_the_keys_of_one_kind_of_node(store: GraphStore) -> None:
    """Every node of a label, as the whole export holds them (what a drawn node's hashed id is looked up in)."""
    store.upsert_applications(ring_of_three())
    export = store.export_edges()
    for label in (Label.PHONE, Label.DEALER, Label.PERSON, Label.DEVICE):
        expected = [k for k, code in zip(export.node_key, export.node_label.tolist(), strict=True)
                    if code == NODE_TYPES[label].code]
        assert sorted(store.node_keys(label)) == sorted(expected) and expected
    assert sorted(store.node_keys(Label.DEALER)) == ["D-BJ-001", "D-SH-002"]
    assert store.node_keys(Label.RING) == []


def test_export_marks_the_phones_that_are_not_mobiles(store: GraphStore) -> None:
    """``landline``: the contact's home landline, not the applicants' mobiles; as of a moment too."""
    home = {"applicant.emergency_contacts": [{"name": "家", "phone": "055162345678"}]}
    store.upsert_applications([app(1, **home), app(2, **home), app(3)])
    export = store.export_edges()
    assert export.landline is not None and len(export.landline) == export.num_nodes
    phones = export.node_label == NODE_TYPES[Label.PHONE].code
    assert int(export.landline.sum()) == 1 and bool(phones[export.landline].all()) and int(phones.sum()) >= 4
    earlier = store.as_of(app(1).submitted_ts).export_edges()
    assert earlier.landline is not None and int(earlier.landline.sum()) == 1


def test_clear(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    store.clear()
    assert store.counts().total_nodes == 0
    assert store.upsert_application(app(1)) is True


def test_one_batch_with_the_same_application_twice(store: GraphStore) -> None:
    result = store.upsert_applications([app(1), app(1), app(1, dealer_id="D-OTHER"), app(2)])
    assert (result.created, result.unchanged, result.conflicts) == (2, 1, ["APP-000001"])
    assert store.counts().relationships["SUBMITTED"] == 2
    assert store.get_application("APP-000001").dealer_id == "D-BJ-001"


def _person_of(store: GraphStore, application_id: str) -> str:
    return store.get_application(application_id).record["applicant"]["id_hash"]


def test_write_rings_and_read_them_back(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    members = tuple(sorted(_person_of(store, f"APP-00000{n}") for n in (1, 2, 3)))
    props = {"size": 3, "risk": 0.75, "dealers": ["D-BJ-001"], "shared_labels": ["Phone", "Device"], "hot": True}
    store.write_rings([RingRecord("R-000001", (*members, "not-stored"), props)], detected_at=T0.timestamp() + 99)
    [ring] = store.rings()
    assert ring.ring_id == "R-000001" and ring.members == members
    assert ring.properties == {**props, "detected_at": T0.timestamp() + 99}
    assert store.ring_of("APP-000002") == ring
    assert store.ring_of("APP-000004") is None and store.ring_of("NOPE") is None
    counts = store.counts()
    assert counts.nodes["Ring"] == 1 and counts.relationships["MEMBER_OF"] == 3
    person = NodeRef(Label.PERSON, members[0])
    around = store.neighbours(person, hops=1)
    assert NodeRef(Label.RING, "R-000001") in {n.ref for n in around.nodes}
    assert RelType.MEMBER_OF in {r.type for r in around.relationships}


def test_write_rings_replaces_previous_rings(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    one, two, three, four = (_person_of(store, f"APP-00000{n}") for n in (1, 2, 3, 4))
    store.write_rings([RingRecord("R-000001", (one, two, three), {"size": 3})], detected_at=T0.timestamp())
    store.write_rings(
        [RingRecord("R-000001", (one, two), {"size": 2}), RingRecord("R-000002", (three, four), {"size": 2})],
        detected_at=T0.timestamp() + 1,
    )
    rings = store.rings()
    assert [r.ring_id for r in rings] == ["R-000001", "R-000002"]
    assert rings[0].members == tuple(sorted((one, two))) and rings[0].properties["size"] == 2
    assert store.ring_of("APP-000004").ring_id == "R-000002"
    assert store.counts().relationships["MEMBER_OF"] == 4
    store.write_rings([], detected_at=T0.timestamp() + 2)
    assert store.rings() == [] and "MEMBER_OF" not in store.counts().relationships
    assert store.ring_of("APP-000001") is None


def test_write_rings_refuses_overlapping_rings(store: GraphStore) -> None:
    store.upsert_applications(ring_of_three())
    one = _person_of(store, "APP-000001")
    with pytest.raises(ValueError, match="two rings"):
        store.write_rings([RingRecord("R-1", (one,), {}), RingRecord("R-2", (one,), {})], detected_at=0.0)
    with pytest.raises(ValueError, match="appears twice"):
        store.write_rings([RingRecord("R-1", (), {}), RingRecord("R-1", (), {})], detected_at=0.0)
    assert store.rings() == []


def test_a_batch_writes_rows_and_graphs_alike(store: GraphStore, keyer: PersonalDataKeyer) -> None:
    # Person 2 drives the vehicle of application 1 before applying itself, in the same batch:
    # the node keeps the properties of its first occurrence (no name), as MERGE ... ON CREATE would.
    driver_first = app(1, **{"vehicle.user_id_number": resident_id(sequence=2)})
    rows = [application_row(a, keyer) for a in (driver_first, app(2), app(3), driver_first)]
    result = store.write_rows(rows)
    assert (result.created, result.unchanged, result.conflicts) == (3, 1, [])
    person = store.neighbours(NodeRef(Label.APPLICATION, "APP-000002")).nodes
    props = next(n.properties for n in person if n.label is Label.PERSON)
    assert "name_masked" not in props and props["id_masked"].startswith("110")
    again = store.write_graphs([graph_from_row(r) for r in rows])
    assert (again.created, again.unchanged) == (0, 4)
    assert store.counts().relationships["VEHICLE_USER"] == 1


def test_write_rows_is_the_one_write_a_store_implements() -> None:
    """Applications reach a store through write_rows only; write_graphs is the base class's convenience."""
    from graph_schema.embedded import EmbeddedGraphStore
    from graph_schema.neo4j_store import Neo4jGraphStore

    assert {m for m in GraphStore.__abstractmethods__ if m.startswith("write")} == {"write_rows", "write_rings"}
    for store_class in (EmbeddedGraphStore, Neo4jGraphStore):
        assert "write_rows" in vars(store_class) and "write_graphs" not in vars(store_class)
