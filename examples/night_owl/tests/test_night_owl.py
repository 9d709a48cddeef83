"""The plugin's own tests, as an analyst writes them: settings checked, a vote at night, none by day.

Run them with ``pytest examples/night_owl/tests`` once the plugin is installed
(``pip install -e examples/night_owl``); Tianwang's ``tests/docs/test_docs_content.py``
installs the plugin into a temporary folder and runs them too.
"""

from __future__ import annotations

import copy

import pytest
from tianwang_night_owl import NightOwlDetector

from api.examples import APPLICATION_EXAMPLE
from detectors import DetectorRegistry, DetectorSettingsError, ScoringContext, build_context
from tianwang.application import parse_application
from tianwang.privacy import PersonalDataKeyer


def context_at(submitted_at: str, channel: str = "online") -> ScoringContext:
    """The context (no graph) of the OpenAPI example application, sent at ``submitted_at`` through ``channel``."""
    body = copy.deepcopy(APPLICATION_EXAMPLE)
    body.update(submitted_at=submitted_at, channel=channel)
    return build_context(parse_application(body), PersonalDataKeyer(b"night-owl-test-secret-0123456789abcdef"))


def test_an_online_application_at_three_in_the_morning_is_suspicious() -> None:
    vote = NightOwlDetector().score(context_at("2026-03-01T03:10:00+08:00"))
    assert vote.codes == ["NIGHT_SUBMISSION"] and vote.score > vote.baseline


def test_by_day_or_at_a_dealer_it_says_nothing() -> None:
    owl = NightOwlDetector()
    assert owl.score(context_at("2026-03-01T13:10:00+08:00")).codes == []
    assert owl.score(context_at("2026-03-01T03:10:00+08:00", channel="dealer_app")).codes == []


def test_bad_settings_fail_when_the_detector_is_built() -> None:
    with pytest.raises(DetectorSettingsError, match="end_hour must be after start_hour"):
        NightOwlDetector({"start_hour": 5, "end_hour": 1})


def test_tianwang_finds_it_through_its_entry_point() -> None:
    assert DetectorRegistry.with_plugins().resolve("night_owl") is NightOwlDetector
