"""Plugin discovery, tested without installing anything: importlib.metadata is patched."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from detectors import (
    BUILTIN_DETECTORS,
    Detector,
    DetectorRegistry,
    DuplicateDetectorError,
    PluginWarning,
    ScoringContext,
    UnknownDetectorError,
    Vote,
    load_plugins,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "night_owl"


class GoodPlugin(Detector):
    name = "good_plugin"

    def _score(self, context: ScoringContext) -> Vote:
        return Vote(0.5)


class ClashingPlugin(Detector):
    name = "identity_theft"

    def _score(self, context: ScoringContext) -> Vote:
        return Vote(0.5)


class NotADetector:
    name = "nope"


def _entry_points(monkeypatch: pytest.MonkeyPatch, *specs: tuple[str, str]) -> None:
    points = [metadata.EntryPoint(name, value, "tianwang.detectors") for name, value in specs]

    def fake(**params: object) -> list[metadata.EntryPoint]:
        assert params == {"group": "tianwang.detectors"}
        return points

    monkeypatch.setattr(metadata, "entry_points", fake)


def test_builtins_are_registered_explicitly() -> None:
    registry = DetectorRegistry.builtin()
    assert registry.names == sorted(d.name for d in BUILTIN_DETECTORS)
    assert {"identity_theft", "forged_documents", "multi_lending", "rules", "watchlist"} <= set(registry.names)


def test_names_resolve_case_insensitively_and_unknown_names_list_the_known() -> None:
    registry = DetectorRegistry.builtin()
    assert registry.resolve("MULTI_Lending").name == "multi_lending"
    known = r"unknown detector 'ring'; known: forged_documents, fraud_ring, .*identity_theft"
    with pytest.raises(UnknownDetectorError, match=known):
        registry.resolve("ring")


def test_a_plugin_is_discovered_through_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(monkeypatch, ("good", f"{__name__}:GoodPlugin"))
    registry = DetectorRegistry.with_plugins()
    assert registry.resolve("good_plugin") is GoodPlugin
    assert "identity_theft" in registry


def test_a_broken_plugin_is_skipped_with_a_warning_that_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(
        monkeypatch,
        ("missing", "no_such_module_anywhere:Thing"),
        ("wrong_type", f"{__name__}:NotADetector"),
        ("good", f"{__name__}:GoodPlugin"),
    )
    with pytest.warns(PluginWarning) as caught:
        registry = DetectorRegistry.with_plugins()
    messages = [str(w.message) for w in caught]
    assert any("'missing'" in m and "ModuleNotFoundError" in m for m in messages)
    assert any("'wrong_type'" in m and "not a subclass" in m for m in messages)
    assert "good_plugin" in registry
    assert "nope" not in registry


def test_a_duplicate_name_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(monkeypatch, ("clash", f"{__name__}:ClashingPlugin"))
    with pytest.raises(DuplicateDetectorError, match=r"'identity_theft' is registered twice"):
        DetectorRegistry.with_plugins()
    _entry_points(monkeypatch, ("one", f"{__name__}:GoodPlugin"), ("two", f"{__name__}:GoodPlugin"))
    with pytest.raises(DuplicateDetectorError, match="plugin 'two'"):
        load_plugins()


def test_the_worked_example_plugin_loads_and_scores(monkeypatch: pytest.MonkeyPatch, context_of) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    _entry_points(monkeypatch, ("night_owl", "tianwang_night_owl:NightOwlDetector"))
    registry = DetectorRegistry.with_plugins()
    owl = registry.build("night_owl", {"start_hour": 1, "end_hour": 5})
    night = owl.score(context_of(1, channel="online", submitted_at="2026-03-01T03:10:00+08:00"))
    day = owl.score(context_of(1, channel="online", submitted_at="2026-03-01T13:10:00+08:00"))
    assert night.codes == ["NIGHT_SUBMISSION"] and night.score > day.score
    assert day.codes == []
    sys.modules.pop("tianwang_night_owl", None)
