"""bench/soak.py in three minutes: steady mixed traffic with a ring detection half-way leaves no error answer,
bounded memory growth and every application stored once."""

from __future__ import annotations

import pytest

from bench.soak import run_soak


@pytest.mark.slow
def test_three_minutes_of_mixed_traffic_lose_nothing() -> None:
    report = run_soak(seconds=180, rate=20, applications=6000, max_growth_mb=256)
    print(report.summary())
    assert report.errors == []
    assert report.scored > 1500 and report.stored == report.history + report.scored
    assert report.requests["ring detection"] == 1 and report.requests["close case"] > 0
    assert report.growth_mb <= 256
    # the server's native pools were read from /metrics all along (SQLite's page cache stays under its cap)
    assert len(report.native_mb["sqlite"]) >= 10 and max(mb for _, mb in report.native_mb["sqlite"]) < 2 * 64 + 16
