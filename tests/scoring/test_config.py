from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from tianwang.scoring import DEFAULT_CONFIG_PATH, ConfigSource, ScoringConfigError, load_config, parse_config

from .helpers import registry

BASE = {
    "version": 1,
    "detectors": {"multi_lending": {"weight": 1.0}, "identity_theft": {"mode": "shadow"}},
    "strategies": {"main": {"thresholds": {"review": 300, "reject": 700}}},
    "champion": "main",
}


def _write(path: Path, data: dict[str, object] | str) -> None:
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))  # a new mtime even on coarse clocks


def test_the_shipped_configuration_loads() -> None:
    loaded = load_config(DEFAULT_CONFIG_PATH, registry())
    assert set(loaded.detectors) == {"identity_theft", "forged_documents", "multi_lending", "rules", "watchlist",
                                     "synthetic_identity", "fraud_ring",
                                     "known_fraud_similarity", "gnn_ring", "graph_evidence"}
    assert type(loaded.detectors["synthetic_identity"]).__name__ == "RulesDetector"
    assert loaded.config.champion == "baseline" and len(loaded.version) == 12


def test_an_unknown_detector_is_an_error_that_lists_the_known_ones() -> None:
    data = {**BASE, "detectors": {"ring_of_fire": {}}}
    known = r"unknown detector 'ring_of_fire'; known: .*identity_theft.*watchlist"
    with pytest.raises(ScoringConfigError, match=known):
        parse_config(yaml.safe_dump(data), registry())
    data = {**BASE, "strategies": {"main": {"thresholds": {"review": 1, "reject": 2}, "weights": {"nope": 1}}}}
    with pytest.raises(ScoringConfigError, match="strategy 'main' names unknown detector 'nope'"):
        parse_config(yaml.safe_dump(data), registry())
    data = {**BASE, "detectors": {"my_rules": {"detector": "ghost"}}}
    with pytest.raises(ScoringConfigError, match="unknown detector 'ghost'"):
        parse_config(yaml.safe_dump(data), registry())


def test_one_detector_class_can_run_under_several_names() -> None:
    rule = {"id": "R", "reason": "r", "when": [{"field": "channel", "op": "==", "value": "online"}]}
    data = {**BASE, "detectors": {"rules": {}, "online_rules": {"detector": "rules", "settings": {"rules": [rule]}}}}
    loaded = parse_config(yaml.safe_dump(data), registry())
    assert type(loaded.detectors["online_rules"]) is type(loaded.detectors["rules"])
    assert list(loaded.detectors["online_rules"].weights) == ["R"] and loaded.detectors["rules"].weights == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"detectors": {"multi_lending": {"settings": {"dti_limit": -1}}}},
         r"detectors.multi_lending.settings: invalid settings for detector 'multi_lending': dti_limit"),
        ({"detectors": {"multi_lending": {"mode": "sometimes"}}}, r"detectors.multi_lending.mode"),
        ({"champion": "ghost"}, r"champion strategy 'ghost' is not defined"),
        ({"strategies": {"main": {"thresholds": {"review": 900, "reject": 100}}}}, "review threshold"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
    ],
)
def test_bad_configurations_say_where_and_why(change: dict[str, object], message: str) -> None:
    with pytest.raises(ScoringConfigError, match=message):
        parse_config(yaml.safe_dump({**BASE, **change}), registry())


def test_yaml_errors_give_the_line() -> None:
    with pytest.raises(ScoringConfigError, match="not valid YAML at line 2"):
        parse_config("version: 1\ndetectors: {a: [1}\nchampion: x\n", registry(), source="cfg.yaml")


def test_a_changed_file_is_reloaded_and_unchanged_detectors_keep_their_training(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    _write(path, BASE)
    source = ConfigSource(path, registry(), check_interval=0.0)
    first = source.current()
    first.detectors["identity_theft"].fit([])
    assert source.current() is first  # nothing changed: nothing reloaded
    _write(path, {**BASE, "detectors": {**BASE["detectors"], "multi_lending": {"weight": 3.0,
                                                                               "settings": {"dti_limit": 0.4}}}})
    second = source.current()
    assert second is not first and source.reloads == 1 and source.last_error is None
    assert second.config.detectors["multi_lending"].weight == 3.0
    assert second.detectors["multi_lending"].settings.dti_limit == 0.4
    assert second.detectors["identity_theft"] is first.detectors["identity_theft"]
    assert second.detectors["identity_theft"].is_fitted


def test_a_broken_new_file_keeps_the_old_configuration_and_says_why(tmp_path: Path, caplog) -> None:
    path = tmp_path / "scoring.yaml"
    _write(path, BASE)
    source = ConfigSource(path, registry(), check_interval=0.0)
    good = source.current()
    _write(path, {**BASE, "detectors": {"ring_of_fire": {}}})
    with caplog.at_level("WARNING"):
        assert source.current() is good
    assert "unknown detector 'ring_of_fire'" in (source.last_error or "")
    assert any("keeping the previous configuration" in r.message for r in caplog.records)
    _write(path, "detectors: [broken")
    assert source.current() is good and "not valid YAML" in (source.last_error or "")
    path.unlink()
    assert source.current() is good and "cannot read" in (source.last_error or "")
    _write(path, BASE)
    assert source.current() is not good and source.last_error is None


def test_checks_are_rate_limited(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    _write(path, BASE)
    source = ConfigSource(path, registry(), check_interval=3600)
    first = source.current()
    _write(path, {**BASE, "champion": "main"} | {"velocity_window_days": 3})
    assert source.current() is first  # not checked yet
    assert source.refresh() and source.current().config.velocity_window_days == 3
    time.sleep(0)


def test_the_first_load_must_succeed(tmp_path: Path) -> None:
    with pytest.raises(ScoringConfigError, match="cannot read configuration"):
        ConfigSource(tmp_path / "missing.yaml", registry())
