"""``tianwang rings``: the ring detection batch job from the command line.

:func:`register` adds the ``rings`` sub-app to the main CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from tianwang.cli.common import console, out
from tianwang.rings.projection import ProjectionSettings

if TYPE_CHECKING:
    from tianwang.rings.job import RingReport


__all__ = ["read_labels", "register", "ring_table"]


def read_labels(path: Path) -> dict[str, bool]:
    """``{application_id: confirmed fraud}`` from an NDJSON labels file, read as backtests read it."""
    from tianwang.backtest import read_labels as read_backtest_labels

    return {application_id: label.fraud for application_id, label in read_backtest_labels(path).items()}


def ring_table(report: RingReport, top: int) -> Table:
    """The ``top`` rings of ``report``, highest risk first, as a table."""
    table = Table(title=f"{len(report.rings):,} rings, highest risk first", box=box.SIMPLE_HEAD,
                  caption="fraud: confirmed; days: time spread; shared: attributes members share, by kind"
                          " (deal: prices inflated far above the model's usual price, at one dealer within a month;"
                          " landline: a shared phone that is not a mobile)")
    table.add_column("ring", no_wrap=True, min_width=8)
    for column in ("risk", "people", "apps", "fraud", "days"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    table.add_column("top dealer", no_wrap=True, overflow="ellipsis", min_width=8)
    table.add_column("shared", overflow="fold")
    for ring in sorted(report.rings, key=lambda r: -r.risk)[:top]:
        s = ring.statistics
        shared = " ".join(f"{_SHORT.get(label, label)}:{count}" for label, count in s.shared.items())
        table.add_row(
            ring.ring_id,
            f"{s.risk:.2f}",
            str(s.size),
            str(s.num_applications),
            str(s.confirmed_fraud),
            f"{s.time_spread_days:.0f}",
            s.dealers[0] if s.dealers else "",
            shared,
        )
    return table


_SHORT = {"BankAccount": "account", "Phone": "phone", "Device": "device", "Person": "person",
          "Vehicle": "vehicle", "Address": "address", "Employer": "employer", "InflatedDeal": "deal",
          "Landline": "landline"}


def register(app: typer.Typer) -> None:
    """Add the ``rings`` sub-app (``rings detect``) to ``app``."""
    rings_app = typer.Typer(
        name="rings", help="Fraud rings: community detection over the whole graph.", no_args_is_help=True
    )

    @rings_app.command()
    def detect(
        labels: Annotated[
            Path | None,
            typer.Option("--labels", exists=True, dir_okay=False, help="Confirmed labels, NDJSON (label: fraud)."),
        ] = None,
        db: Annotated[
            Path | None, typer.Option("--db", help="Embedded store file; implies the embedded store.")
        ] = None,
        objective: Annotated[str, typer.Option(help="Leiden objective: modularity or cpm.")] = "modularity",
        resolution: Annotated[float, typer.Option(help="Leiden resolution; higher gives smaller rings.")] = 1.0,
        max_sharing: Annotated[
            int, typer.Option(help="Attributes shared by more applicants than this are hubs and dropped.")
        ] = ProjectionSettings().max_sharing,
        min_size: Annotated[int, typer.Option(help="Smallest ring, in applicants.")] = 3,
        top: Annotated[int, typer.Option(help="Rings to show, highest risk first.")] = 20,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Detect and show, write nothing.")] = False,
        engine: Annotated[
            str,
            typer.Option(help="Where the projection and Leiden run: local (this process) or spark "
                              "(pyspark, the spark extra; same rings)."),
        ] = "local",
        spark_master: Annotated[
            str | None,
            typer.Option(help="Spark master URL for --engine spark (default: TIANWANG_SPARK_MASTER, else local[*])."),
        ] = None,
    ) -> None:
        """Detect rings (Leiden on the projected applicant graph) and write them back to the store.

        Ring ids of the rings stored now are kept where a ring mostly keeps its members. With
        --engine spark the projection, connected components and Leiden run on Spark; the rings are the same.
        """
        from tianwang.cli.terminal import safe
        from tianwang.errors import TianwangError
        from tianwang.rings.job import detect_rings
        from tianwang.rings.projection import ProjectionSettings
        from tianwang.runtime import open_graph
        from tianwang.settings import load_settings

        try:
            settings = load_settings(**({"db_path": db} if db is not None else {}))
            confirmed = read_labels(labels) if labels is not None else None
            with open_graph(settings, "embedded" if db is not None else None) as store:
                report = detect_rings(
                    store,
                    labels=confirmed,
                    settings=ProjectionSettings(max_sharing=max_sharing),
                    objective=objective,
                    resolution=resolution,
                    min_size=min_size,
                    write=not dry_run,
                    engine=engine,
                    spark_master=spark_master,
                )
        except (TianwangError, ValueError, ImportError) as exc:
            console.print(f"[red]error:[/red] {safe(exc)}")
            raise typer.Exit(2) from None
        out.print(ring_table(report, top))
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items())
        console.print(
            f"{report.applicants:,} applicants, {report.links:,} links, {report.hubs:,} hubs dropped; "
            f"ids kept {report.kept_ids:,}, new {report.new_ids:,}, retired {report.retired_ids:,}; "
            f"{stages}{' (dry run, nothing written)' if dry_run else ''}"
        )

    app.add_typer(rings_app)
