from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.export import GraphExport
from graph_schema.schema import NODE_TYPES, Label
from tests.rings.helpers import deal_applications, ring_applications
from tianwang.privacy import PersonalDataKeyer
from tianwang.rings.projection import ProjectionSettings, attributes_of, project


@pytest.fixture
def export(tmp_path: Path, keyer: PersonalDataKeyer) -> GraphExport:
    with EmbeddedGraphStore(tmp_path / "g.db", keyer) as store:
        store.upsert_applications(ring_applications())
        return store.export_edges()


def _links(export: GraphExport, settings: ProjectionSettings | None = None) -> dict[tuple[str, str], float]:
    projection = project(export, settings)
    found = projection.attributes
    app_of = {
        int(found.applicant_of[j]): export.node_key[found.applications[j]] for j in range(len(found.applications))
    }
    return {
        tuple(sorted((app_of[int(s)], app_of[int(t)]))): float(w)  # type: ignore[misc]
        for s, t, w in zip(projection.source, projection.target, projection.weight, strict=True)
    }


def test_applicants_and_their_attributes(export: GraphExport) -> None:
    found = attributes_of(export)
    assert found.num_applicants == 9 and len(found.applications) == 9
    assert (found.dealer_of >= 0).all()
    assert np.all(np.diff(found.pair_applicant * export.num_nodes + found.pair_attribute) > 0)  # distinct pairs


def test_shared_attributes_link_applicants_and_hubs_are_dropped(export: GraphExport) -> None:
    links = _links(export)
    # the web of the ring: phone 1-2, device 1-3, account 3-4, organiser's phone 2-4
    assert {("APP-000001", "APP-000002"), ("APP-000001", "APP-000003"), ("APP-000003", "APP-000004"),
            ("APP-000002", "APP-000004")} <= set(links)  # fmt: skip
    # the household's address links 5, 6, 7 with a weight that falls with sharing: 0.6 / log2(3)
    assert links[("APP-000005", "APP-000006")] == pytest.approx(0.6 / np.log2(3))
    assert links[("APP-000001", "APP-000002")] == pytest.approx(1.0)
    # the dealer (weight 0) and the shared employer link nobody
    assert not any("APP-000008" in pair or "APP-000009" in pair for pair in links)


def test_max_sharing_drops_widely_shared_attributes(export: GraphExport) -> None:
    weights = {"Dealer": 1.0}  # labels left out weigh 0
    with_dealer = project(export, ProjectionSettings(max_sharing=50, label_weights=weights))
    assert with_dealer.num_links == 8 * 7 // 2  # eight applications at D-BJ-001, one at D-SH-002
    assert with_dealer.weight == pytest.approx(np.full(28, 1 / np.log2(8)))
    capped = project(export, ProjectionSettings(max_sharing=5, label_weights=weights))
    assert capped.hubs == 1
    assert capped.num_links < with_dealer.num_links


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_sharing must be at least 2, got: 1"):
        ProjectionSettings(max_sharing=1)
    with pytest.raises(ValueError, match="unknown label 'Phonee'"):
        ProjectionSettings(label_weights={"Phonee": 1.0})
    with pytest.raises(ValueError, match="must be non-negative"):
        ProjectionSettings(label_weights={"Phone": -1.0})


def _deals_store(tmp_path: Path, keyer: PersonalDataKeyer) -> GraphExport:
    with EmbeddedGraphStore(tmp_path / "deals.db", keyer) as store:
        store.upsert_applications(deal_applications())
        return store.export_edges()


def test_the_store_exports_deal_terms(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    export = _deals_store(tmp_path, keyer)
    assert export.deals is not None and len(export.deals.node) == 106
    key_of = {export.node_key[int(node)]: k for k, node in enumerate(export.deals.node)}
    assert export.deals.vehicle_price[key_of["APP-000101"]] == 350_000
    camry = export.deals.model[key_of["APP-000001"]]
    assert export.deals.model[key_of["APP-000105"]] == camry != export.deals.model[key_of["APP-000106"]]


def test_inflated_deals_at_one_dealer_within_a_window_link_their_applicants(
    tmp_path: Path, keyer: PersonalDataKeyer
) -> None:
    export = _deals_store(tmp_path, keyer)
    found = attributes_of(export)
    inflated = {export.node_key[int(a)] for a in found.applications[found.inflated]}
    # the Lexus has no reference price (one sale, fewer than inflated_min_model_applications)
    assert inflated == {"APP-000101", "APP-000102", "APP-000103", "APP-000104", "APP-000105"}
    links = _links(export, ProjectionSettings(label_weights={}))  # only inflated deals link
    assert set(links) == {("APP-000101", "APP-000102"), ("APP-000101", "APP-000103"), ("APP-000102", "APP-000103")}
    # three share both windows: each window weighs 1 / log2(3)
    assert links[("APP-000101", "APP-000102")] == pytest.approx(2 / np.log2(3))
    assert _links(export, ProjectionSettings(label_weights={}, inflated_price_ratio=None)) == {}
    assert _links(export, ProjectionSettings(label_weights={}, inflated_price_ratio=2.0)) == {}
    wider = _links(export, ProjectionSettings(label_weights={}, inflated_window_days=400))
    assert ("APP-000101", "APP-000104") in wider and not any("APP-000105" in pair for pair in wider)


def test_an_export_without_deal_terms_has_no_inflated_deals(export: GraphExport) -> None:
    bare = GraphExport(export.node_label, export.node_key, export.edge_index, export.edge_type, export.edge_at)
    assert not attributes_of(bare).inflated.any()
    assert attributes_of(bare).num_attributes == export.num_nodes


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"inflated_price_ratio": 0.0}, "inflated_price_ratio must be positive"),
        ({"inflated_window_days": 0.0}, "inflated_window_days must be positive"),
        ({"inflated_min_model_applications": 0}, "inflated_min_model_applications must be at least 1"),
        ({"inflated_deal_weight": -1.0}, "inflated_deal_weight must be non-negative"),
        ({"inflated_deal_max_sharing": 1}, "inflated_deal_max_sharing must be at least 2"),
    ],
)
def test_bad_inflated_deal_settings_are_refused(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProjectionSettings(**settings)  # type: ignore[arg-type]


def test_applications_stored_before_nodes_carried_the_model_give_it_from_their_record(
    tmp_path: Path, keyer: PersonalDataKeyer
) -> None:
    with EmbeddedGraphStore(tmp_path / "old.db", keyer) as store:
        store.upsert_applications(deal_applications())
        fresh = store.export_edges()
        application = NODE_TYPES[Label.APPLICATION].code
        with store._transaction() as cur:  # as an older version wrote them: no vehicle_model on the node
            strip = "UPDATE nodes SET props = json_remove(props, '$.vehicle_model') WHERE label = ?"
            cur.execute(strip, (application,))
            left = "SELECT COUNT(*) FROM nodes WHERE label = ? AND props ->> '$.vehicle_model' IS NOT NULL"
            assert cur.execute(left, (application,)).fetchone()[0] == 0
        old = store.export_edges()
    assert fresh.deals is not None and old.deals is not None
    assert old.deals.model_names == fresh.deals.model_names == ("Toyota Camry", "Lexus ES")
    assert np.array_equal(old.deals.model, fresh.deals.model)
