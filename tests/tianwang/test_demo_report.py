"""The demo's report and tables: the numbers its figures show, the page it writes, tables at 80 columns."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console
from rich.table import Table

from tianwang.backtest import BacktestReport
from tianwang.cli.demo_tables import rings_table, steps_table, summary_table
from tianwang.report.figures import ScoredApplication, figures_of, histogram, nice_ceiling, thin
from tianwang.report.page import FIGURES, ReportData, render_report, write_report
from tianwang.report.rings import RingDrawing, RingNode, layout
from tianwang.stats import auprc, auroc


def test_histogram_counts_every_value_once_and_keeps_the_tails_in_the_end_bins() -> None:
    h = histogram([-5, 0, 0.5, 1, 1.5, 2, 99], [0, 1, 2])
    assert h.counts == [3, 4] and h.total == 7
    assert h.shares() == pytest.approx([3 / 7, 4 / 7])
    assert histogram([], [0, 1]).shares() == [0.0]
    with pytest.raises(ValueError, match="edges must be"):
        histogram([1], [0, 0])


def test_thin_keeps_the_ends_and_at_most_the_points_asked_for() -> None:
    curve = thin(np.linspace(0, 1, 1001), np.linspace(0, 1, 1001) ** 2, 50)
    assert len(curve.x) <= 50 and curve.x[0] == 0.0 and curve.x[-1] == 1.0
    assert thin([0, 1], [0, 1]).x == [0.0, 1.0]
    with pytest.raises(ValueError, match="x has 2 points but y has 1"):
        thin([0, 1], [0])


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0.3, 1.0, 1.2, 37, 600)] == [0.5, 1.0, 2.0, 50.0, 1000.0]


def scored_rows() -> list[ScoredApplication]:
    rng = np.random.default_rng(2)
    rows = []
    for i in range(400):
        fraud = i % 10 == 0
        score = int(rng.integers(500, 1000) if fraud else rng.integers(0, 700))
        band = "reject" if score > 800 else "review" if score > 600 else "approve"
        rows.append(ScoredApplication(score, band, fraud, ("ring" if i % 20 == 0 else "identity_theft") if fraud
                                      else None, {"rules": 1.0 if fraud else -0.2, "ring": 0.5 * fraud},
                                      float(rng.gamma(2, 3))))
    rows.append(ScoredApplication(100, "approve", None, None, {}, 1000.0))  # unlabelled, very slow
    return rows


def test_figures_of_a_backtest() -> None:
    rows = scored_rows()
    f = figures_of(rows)
    labelled = [r for r in rows if r.fraud is not None]
    y = np.array([r.fraud for r in labelled])
    s = np.array([r.fraud_score for r in labelled])
    assert (f.n_scored, f.n_fraud, f.n_legit) == (401, 40, 360)
    assert f.auroc == auroc(y, s) and f.auprc == auprc(y, s)
    assert f.scores_fraud.total == 40 and f.scores_legit.total == 360
    for name, kind in (("ring", 20), ("identity_theft", 20)):
        flagged = [r.band != "approve" for r in labelled if r.typology == name]
        assert f.typology_recall[name] == (sum(flagged) / kind, kind)
    assert f.contributions["rules"] == pytest.approx((1.0, -0.2))
    assert f.contributions["ring"] == pytest.approx((0.5, 0.0))
    assert f.latency.total == 401  # the slow one is in the last bin, not dropped
    assert f.latency.counts[-1] >= 1 and f.latency.edges[0] == 0.0
    assert sum(f.bands.values()) == 401
    assert f.latency_p99 == pytest.approx(float(np.percentile([r.total_ms for r in rows], 99)))


def test_layout_puts_applications_on_a_circle_and_attributes_apart_inside_near_their_applications() -> None:
    apps = [f"A{i}" for i in range(8)]
    attributes = {"phone-0": {"A0", "A1"}, "account-1": {"A0", "A1"}, "device-2": set(apps), "person-3": {"A4"}}
    pos = layout(apps, attributes)
    for app in apps:
        assert math.dist(pos[app], (0.5, 0.5)) == pytest.approx(0.42)
    inside = [pos[a] for a in attributes]
    assert all(math.dist(xy, (0.5, 0.5)) == pytest.approx(0.26) for xy in inside)
    gap = 2 * 0.26 * math.sin(math.pi / 12)  # neighbouring slots of twelve
    assert min(math.dist(a, b) for i, a in enumerate(inside) for b in inside[i + 1:]) >= gap - 1e-9
    assert math.dist(pos["person-3"], pos["A4"]) < math.dist(pos["person-3"], pos["A0"])
    assert math.dist(pos["phone-0"], pos["A0"]) < math.dist(pos["phone-0"], pos["A4"])
    assert layout([], {}) == {}


def drawing() -> RingDrawing:
    nodes = [RingNode("APP-1", "Application", "APP-1", True, 0.5, 0.1),
             RingNode("APP-2", "Application", "APP-2", False, 0.5, 0.9),
             RingNode("phone-0", "Phone", "138****0000", False, 0.5, 0.5)]
    return RingDrawing("R-000001", 0.93, 2, 2, {"Phone": 1}, nodes, [("APP-1", "phone-0"), ("APP-2", "phone-0")])


def report_data() -> ReportData:
    return ReportData(applications=1000, trained=600, figures=figures_of(scored_rows()), rings=[drawing()],
                      ring_count=4, seed=7, generated_at="2026-12-04 18:00 UTC")


def test_the_page_holds_every_figure_in_both_languages_and_nothing_from_the_network(tmp_path: Path) -> None:
    html = render_report(report_data())
    figures = re.findall(r'data-figure="([^"]+)"', html)
    assert figures == [*FIGURES, "ring-R-000001"]
    assert "天网演示报告" in html and "Tianwang demo report" in html
    assert html.count('class="zh"') == html.count('class="en"') > 20
    assert not re.search(r'(src|href)\s*=|@import|url\(|https?://(?!www\.w3\.org/2000/svg)', html)
    assert "138****0000" in html
    path = write_report(tmp_path / "out" / "report.html", report_data())
    assert path.read_text(encoding="utf-8") == html


def test_a_page_without_rings_or_scores_still_renders() -> None:
    empty = ReportData(applications=0, trained=0, figures=figures_of([]))
    html = render_report(empty)
    assert "No ring found." in html and "n/a" in html
    assert re.findall(r'data-figure="([^"]+)"', html) == list(FIGURES)


def wraps(table: Table) -> bool:
    """Whether a cell of ``table`` wraps or is cut at 80 columns (compared with a wide rendering)."""
    def render(width: int) -> list[str]:
        console = Console(width=width, file=io.StringIO(), color_system=None, record=True)
        console.print(table)
        return console.export_text().splitlines()

    narrow, wide = render(80), render(300)
    return len(narrow) != len(wide) or any(len(line) > 80 for line in narrow) or "…" in "".join(narrow)


def test_the_demo_tables_fit_80_columns_without_wrapping() -> None:
    report = BacktestReport(auroc=0.9731, auprc=0.8123, recall_at_1pct_fpr=0.61, n_scored=8000, per_detector={},
                            per_typology={}, latency_ms={"p50": 12.34, "p99": 123.45}, n_trained=12000,
                            band_counts={"approve": 7000, "review": 700, "reject": 300}, legit_flagged_rate=0.0312)
    assert not wraps(summary_table(report, 20_000, 12_000))
    wide = {"Employer": 12, "Landline": 12, "Address": 12, "BankAccount": 12, "InflatedDeal": 3, "Device": 2}
    rings = [SimpleNamespace(ring_id=f"R-{i:06d}", risk=0.99, statistics=SimpleNamespace(
        risk=0.99, size=123, num_applications=1234, confirmed_fraud=1234, shared=wide)) for i in range(7)]
    table = rings_table(SimpleNamespace(rings=rings), 5)  # type: ignore[arg-type]
    assert not wraps(table) and table.row_count == 5
    assert not wraps(steps_table({"re-ingest a sample": 1.23, "train and score": 123.4}))


def test_a_table_that_wraps_is_caught() -> None:
    table = Table()
    table.add_column("long")
    table.add_row("word " * 30)
    assert wraps(table)


def test_a_backtest_limit_below_one_is_refused_naming_it(tmp_path: Path) -> None:
    from tianwang.backtest import run_backtest

    with pytest.raises(ValueError, match="limit must be at least 1"):
        run_backtest(tmp_path / "a.ndjson", tmp_path / "l.ndjson", None, limit=0)  # type: ignore[arg-type]
