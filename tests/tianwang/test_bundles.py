"""Model bundles: `tianwang train` writes one, `tianwang score --bundle` scores with it (gnn_ring trained)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from detectors.gnn_ring import GnnRingDetector
from tianwang.cli import app
from tianwang.errors import InvalidRequestError
from tianwang.runtime import open_runtime
from tianwang.scoring.config import DEFAULT_CONFIG_PATH
from tianwang.service.bundles import BundleError, load_bundle, read_labels_file, train_bundle
from tianwang.settings import load_settings

#: the shipped configuration with a small, quick ring GNN
SMALL = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace(
    "  gnn_ring:\n", "  gnn_ring:\n    settings: {epochs: 15, hidden_channels: 16, patience: 5}\n")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.generator import generate

    folder = tmp_path_factory.mktemp("history")
    generate(300, 7, folder)
    (folder / "config.yaml").write_text(SMALL, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(history: Path) -> tuple[Path, dict[str, Any]]:
    """`tianwang train` on the history, with labels as CSV."""
    rows = [orjson.loads(line) for line in (history / "labels.ndjson").read_bytes().splitlines()]
    (history / "labels.csv").write_text("application_id,label,typology\n" + "".join(
        f"{r['application_id']},{r['label']},{r['typology'] or ''}\n" for r in rows), encoding="utf-8")
    bundles = history / "bundles"
    result = CliRunner().invoke(app, ["train", "--applications", str(history / "applications.ndjson"),
                                      "--labels", str(history / "labels.csv"), "--name", "small",
                                      "--bundle-dir", str(bundles), "--config", str(history / "config.yaml")])
    assert result.exit_code == 0, result.output
    assert "bundle 'small' written" in result.output
    return bundles, json.loads((bundles / "small" / "manifest.json").read_text())


def test_train_writes_a_bundle_with_its_manifest(trained: tuple[Path, dict[str, Any]]) -> None:
    bundles, manifest = trained
    folder = bundles / "small"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "state.pkl"]
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["name"] == manifest["name"] == "small"
    assert on_disk["data_range"]["from"] < on_disk["data_range"]["to"]
    assert on_disk["metrics"]["n_applications"] == on_disk["metrics"]["n_labelled"] == 300
    assert on_disk["metrics"]["n_fraud"] > 0
    assert on_disk["metrics"]["fit"]["gnn_ring"].get("fitted") is not False
    assert on_disk["detector_versions"]["gnn_ring"] == GnnRingDetector.version
    assert on_disk["config"]["hash"] and on_disk["created_at"]
    assert not [p for p in bundles.iterdir() if p.name.startswith(".")]  # no partial folder left


def test_score_with_a_bundle_runs_the_trained_gnn(history: Path, trained: tuple[Path, dict[str, Any]],
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundles, _ = trained
    monkeypatch.setenv("TIANWANG_DB_PATH", str(tmp_path / "graph.db"))
    monkeypatch.setenv("TIANWANG_BUNDLE_DIR", str(bundles))
    monkeypatch.setenv("TIANWANG_STORE", "embedded")
    one = tmp_path / "one.ndjson"
    one.write_bytes((history / "applications.ndjson").read_bytes().splitlines()[-1] + b"\n")
    runner = CliRunner()
    result = runner.invoke(app, ["score", str(one), "--bundle", "small", "--config", str(history / "config.yaml"),
                                 "--out", str(tmp_path / "with.ndjson")])
    assert result.exit_code == 0, result.output
    decision = orjson.loads((tmp_path / "with.ndjson").read_bytes())
    gnn = next(v for v in decision["votes"] if v["detector"] == "gnn_ring")
    assert gnn["status"] == "ok" and decision["bundle"] == "small"

    monkeypatch.setenv("TIANWANG_DB_PATH", str(tmp_path / "other.db"))
    result = runner.invoke(app, ["score", str(one), "--out", str(tmp_path / "without.ndjson")])
    assert result.exit_code == 0, result.output
    untrained = orjson.loads((tmp_path / "without.ndjson").read_bytes())
    gnn = next(v for v in untrained["votes"] if v["detector"] == "gnn_ring")
    assert gnn["status"] == "skipped" and "not trained yet" in gnn["why"]


def test_a_bundle_of_other_detector_versions_is_refused(trained: tuple[Path, dict[str, Any]], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    bundles, _ = trained
    monkeypatch.setattr(GnnRingDetector, "version", "999")
    with open_runtime(load_settings(db_path=tmp_path / "g.db"), store="embedded") as runtime:
        with pytest.raises(BundleError, match=r"gnn_ring.*retrain"):
            load_bundle(runtime.pipeline, bundles / "small")
        assert not runtime.pipeline.loaded.detectors["gnn_ring"].is_fitted


def test_names_and_existing_bundles_are_checked(history: Path, trained: tuple[Path, dict[str, Any]]) -> None:
    bundles, _ = trained
    with pytest.raises(BundleError, match="exists already"):
        train_bundle(history / "applications.ndjson", history / "labels.ndjson", bundles, name="small",
                     config_text=SMALL)
    with pytest.raises(InvalidRequestError, match="name"):
        train_bundle(history / "applications.ndjson", history / "labels.ndjson", bundles, name="../up",
                     config_text=SMALL)
    with open_runtime(load_settings(db_path=history / "g.db"), store="embedded") as runtime, \
            pytest.raises(BundleError, match="no bundle"):
        load_bundle(runtime.pipeline, bundles / "missing")


def test_labels_may_be_csv(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("application_id,label,typology\nA-1,fraud,cash_out_ring\nA-2,legit,\nA-3,1,\n")
    labels = read_labels_file(path)
    assert labels["A-1"].fraud and labels["A-1"].typology == "cash_out_ring"
    assert not labels["A-2"].fraud and labels["A-3"].fraud and labels["A-3"].typology is None
