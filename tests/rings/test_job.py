from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from graph_schema.embedded import EmbeddedGraphStore
from graph_schema.store import GraphStore
from tests.conftest import TEST_SECRET
from tests.rings.helpers import ring_applications
from tianwang.cli.rings import register as register_rings
from tianwang.privacy import PersonalDataKeyer
from tianwang.rings import detect_rings

WEB = {"APP-000001", "APP-000002", "APP-000003", "APP-000004"}
HOUSEHOLD = {"APP-000005", "APP-000006", "APP-000007"}


def test_detect_rings_writes_rings_with_statistics(store: GraphStore) -> None:
    store.upsert_applications(ring_applications())
    report = detect_rings(store, labels={"APP-000001": True, "APP-000002": False}, detected_at=1e9)
    by_apps = {frozenset(r.application_ids): r for r in report.rings}
    assert set(by_apps) == {frozenset(WEB), frozenset(HOUSEHOLD)}
    web, household = by_apps[frozenset(WEB)], by_apps[frozenset(HOUSEHOLD)]
    s = web.statistics
    assert (s.size, s.num_applications, s.num_dealers, s.dealers) == (4, 4, 1, ["D-BJ-001"])
    assert s.shared == {"Phone": 2, "Device": 1, "BankAccount": 1, "Employer": 1}  # all name one employer
    assert s.confirmed_fraud == 1 and s.confirmed_fraud_share == 0.25
    assert s.time_spread_days == 3 / 24 and s.strong_member_share == 1.0 and s.burst_share == 1.0
    assert household.statistics.shared == {"Address": 1, "Employer": 1} and household.statistics.density == 1.0
    assert web.risk > household.risk
    assert set(report.timings) == {"export", "projection", "leiden", "statistics", "ring_ids", "write"}

    stored = {r.ring_id: r for r in store.rings()}
    assert set(stored) == {web.ring_id, household.ring_id} == {"R-000001", "R-000002"}
    assert stored[web.ring_id].members == web.members
    assert stored[web.ring_id].properties["risk"] == round(web.risk, 4)
    assert stored[web.ring_id].properties["detected_at"] == 1e9
    assert store.ring_of("APP-000003").ring_id == web.ring_id  # type: ignore[union-attr]
    assert store.ring_of("APP-000008") is None

    rerun = detect_rings(store, detected_at=2e9)
    assert {frozenset(r.application_ids): r.ring_id for r in rerun.rings} == {
        frozenset(WEB): web.ring_id,
        frozenset(HOUSEHOLD): household.ring_id,
    }
    assert (rerun.kept_ids, rerun.new_ids, rerun.retired_ids) == (2, 0, 0)


def test_dry_run_writes_nothing(tmp_path: Path, keyer: PersonalDataKeyer) -> None:
    with EmbeddedGraphStore(tmp_path / "g.db", keyer) as store:
        store.upsert_applications(ring_applications())
        report = detect_rings(store, write=False)
        assert len(report.rings) == 2 and store.rings() == []


def test_cli_detect(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with EmbeddedGraphStore(db, PersonalDataKeyer(TEST_SECRET)) as store:
        store.upsert_applications(ring_applications())
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test host."""

    register_rings(app)
    labels = tmp_path / "labels.ndjson"
    labels.write_text('{"application_id": "APP-000001", "label": "fraud"}\n')
    result = CliRunner().invoke(app, ["rings", "detect", "--db", str(db), "--labels", str(labels)])
    assert result.exit_code == 0, result.output
    assert "R-000001" in result.output and "R-000002" in result.output
    with EmbeddedGraphStore(db, PersonalDataKeyer(TEST_SECRET)) as store:
        assert len(store.rings()) == 2
    bad = CliRunner().invoke(app, ["rings", "detect", "--db", str(db), "--min-size", "3", "--resolution", "0"])
    assert bad.exit_code == 2 and "resolution must be positive" in bad.output
