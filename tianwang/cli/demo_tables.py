"""The demo's terminal tables: the summary, the riskiest rings and where the time went.

Every column is ``no_wrap`` and every cell short, so that each table fits 80 columns
without a cell wrapping (``tests/tianwang/test_demo_report.py`` renders them at 80).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

if TYPE_CHECKING:
    from tianwang.backtest import BacktestReport
    from tianwang.rings.job import RingReport

__all__ = ["rings_table", "steps_table", "summary_table"]

SHORT_KINDS = {"BankAccount": "account", "Phone": "phone", "Device": "device", "Person": "person",
               "Vehicle": "vehicle", "Address": "address", "Employer": "employer", "InflatedDeal": "deal",
               "Landline": "landline", "Dealer": "dealer"}
SHARED_SHOWN = 3  # the kinds most shared in a ring, in the rings table


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}f}"


def _table(title: str) -> Table:
    return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False,
                 min_width=min(len(title), 80))


def summary_table(report: BacktestReport, applications: int, replayed: int) -> Table:
    """Applications, decisions by band, AUROC, AUPRC and latency of the period scored as if online."""
    table = _table("demo: trained on the earliest 60 %, the rest scored in time order")
    table.add_column("what", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_row("applications generated", f"{applications:,}")
    table.add_row("replayed in time order (earliest)", f"{replayed:,}")
    table.add_row("trained on (labelled, earliest)", f"{report.n_trained:,}")
    table.add_row("scored as if online", f"{report.n_scored:,}")
    for band, n in report.band_counts.items():
        share = n / report.n_scored if report.n_scored else 0.0
        table.add_row(f"decision {band}", f"{n:,} ({share:.1%})")
    table.add_row("AUROC", _fmt(report.auroc))
    table.add_row("AUPRC", _fmt(report.auprc))
    table.add_row("recall at 1 % false positives", _fmt(report.recall_at_1pct_fpr))
    table.add_row("legitimate sent to review/reject", _fmt(report.legit_flagged_rate))
    table.add_row("latency per application p50 (ms)", _fmt(report.latency_ms["p50"], 2))
    table.add_row("latency per application p99 (ms)", _fmt(report.latency_ms["p99"], 2))
    return table


def shared_text(shared: Mapping[str, int], shown: int = SHARED_SHOWN) -> str:
    """The ``shown`` kinds of attribute most shared in a ring: ``"phone 4, account 3"`` (``+2`` for the rest).

    >>> shared_text({"Phone": 4, "BankAccount": 3, "Device": 1, "Address": 1}, 2)
    'phone 4, account 3 +2'
    """
    ranked = sorted(shared.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{SHORT_KINDS.get(kind, kind.lower())} {n}" for kind, n in ranked[:shown])
    rest = len(ranked) - shown
    return (text + (f" +{rest}" if rest > 0 else "")) or "-"


def rings_table(report: RingReport, top: int = 5) -> Table:
    """The ``top`` riskiest rings: risk, size (people), applications, confirmed fraud, what they share."""
    table = _table(f"{len(report.rings):,} rings; the {top} riskiest")
    for column in ("ring", "risk", "size", "apps", "fraud"):
        table.add_column(column, justify="left" if column == "ring" else "right", no_wrap=True)
    table.add_column("shared attributes (kind, count)", no_wrap=True)
    for ring in sorted(report.rings, key=lambda r: (-r.risk, r.ring_id))[:top]:
        s = ring.statistics
        table.add_row(ring.ring_id, f"{s.risk:.2f}", str(s.size), str(s.num_applications), str(s.confirmed_fraud),
                      shared_text(s.shared))
    return table


def steps_table(seconds: Mapping[str, float]) -> Table:
    """Wall time of each step of the demo, and the total."""
    table = _table("where the time went")
    table.add_column("step", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    for step, s in seconds.items():
        table.add_row(step, f"{s:.1f}")
    table.add_row("[bold]total", f"[bold]{sum(seconds.values()):.1f}")
    return table
