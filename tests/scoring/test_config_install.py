"""ConfigSource.install: an approved version (or a bundle's fitted detectors) in force without a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tianwang.scoring import ConfigSource, ScoringConfigError, parse_config

from .helpers import registry

BASE = {
    "version": 1,
    "detectors": {"multi_lending": {"weight": 1.0}, "identity_theft": {"mode": "shadow"}},
    "strategies": {"main": {"thresholds": {"review": 300, "reject": 700}}},
    "champion": "main",
}


def _text(**changes: object) -> str:
    return yaml.safe_dump({**BASE, **changes})


def test_install_puts_a_version_in_force_and_keeps_unchanged_training(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(_text(), encoding="utf-8")
    source = ConfigSource(path, registry(), check_interval=0.0)
    first = source.current()
    first.detectors["identity_theft"].fit([])
    installed = source.install(_text(strategies={"main": {"thresholds": {"review": 0, "reject": 0}}}))
    assert source.current() is installed and source.pinned
    assert installed.config.strategies["main"].thresholds.reject == 0
    assert installed.detectors["identity_theft"] is first.detectors["identity_theft"]
    # the file is no longer watched: a version in the database rules
    path.write_text(_text(champion="main", velocity_window_days=3), encoding="utf-8")
    assert source.refresh() is False and source.current() is installed


def test_a_bad_version_is_refused_and_the_one_in_force_stays(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(_text(), encoding="utf-8")
    source = ConfigSource(path, registry(), check_interval=0.0)
    first = source.current()
    with pytest.raises(ScoringConfigError, match="unknown detector"):
        source.install(_text(detectors={"nope": {}}))
    assert source.current() is first and not source.pinned


def test_install_takes_fitted_detectors_whose_settings_match(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(_text(), encoding="utf-8")
    source = ConfigSource(path, registry(), check_interval=0.0)
    trained = parse_config(_text(detectors={"multi_lending": {"settings": {"dti_limit": 0.4}},
                                            "identity_theft": {}}), registry())
    for detector in trained.detectors.values():
        detector.fit([])
    installed = source.install(_text(), fitted=trained)
    assert installed.detectors["identity_theft"] is trained.detectors["identity_theft"]
    assert installed.detectors["multi_lending"] is not trained.detectors["multi_lending"]  # other settings
    assert not installed.detectors["multi_lending"].is_fitted
