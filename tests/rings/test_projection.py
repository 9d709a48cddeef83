from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.store import GraphExport
from tests.rings.helpers import ring_applications
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
