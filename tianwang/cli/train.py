"""``tianwang train``: fit every detector, the fusion weights, the ring GNN and the known-fraud
index on labelled history and write one model bundle (:mod:`tianwang.service.bundles`).

:func:`register` adds it to the main Typer app (:mod:`tianwang.cli`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tianwang.cli.common import console, fail_cleanly

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""

    @app.command()
    def train(
        applications: Annotated[Path, typer.Option("--applications", exists=True, dir_okay=False,
                                                   help="Applications, NDJSON (schema v1).")],
        labels: Annotated[Path, typer.Option("--labels", exists=True, dir_okay=False,
                                             help="Labels: NDJSON {application_id, label, typology} or CSV with "
                                                  "those columns.")],
        name: Annotated[str | None, typer.Option("--name", help="Bundle name (default: bundle-<UTC time>).")] = None,
        bundle_dir: Annotated[Path | None, typer.Option("--bundle-dir", help="Where bundles go (default: "
                                                        "TIANWANG_BUNDLE_DIR, else bundles/ beside the store).")
                              ] = None,
        config: Annotated[Path | None, typer.Option("--config", help="Detector and strategy YAML (default: the "
                                                    "configuration shipped with Tianwang).")] = None,
    ) -> None:
        """Train on the history and write one bundle: manifest.json (name, created_at, metrics, data range,
        detector and configuration versions) and the fitted state. `tianwang score --bundle NAME` and the
        service (POST /v1/bundles/NAME/activate) score with it. Personal values are keyed with
        TIANWANG_SECRET: train with the secret of the service that will load the bundle."""
        from tianwang.scoring.config import DEFAULT_CONFIG_PATH
        from tianwang.service.bundles import train_bundle
        from tianwang.settings import load_settings

        with fail_cleanly():
            settings = load_settings()
            text = (config or DEFAULT_CONFIG_PATH).read_text(encoding="utf-8")
            with console.status("training: ingesting in time order, fitting …", spinner="dots"):
                manifest = train_bundle(applications, labels, bundle_dir or settings.bundles_path, name=name,
                                        config_text=text, settings=settings)
        metrics = manifest["metrics"]
        not_fitted = sorted(n for n, r in metrics["fit"].items() if isinstance(r, dict) and r.get("fitted") is False)
        console.print(f"bundle {manifest['name']!r} written to {bundle_dir or settings.bundles_path}: "
                      f"{metrics['n_applications']:,} applications, {metrics['n_labelled']:,} labelled "
                      f"({metrics['n_fraud']:,} fraud), {manifest['data_range']['from']} to "
                      f"{manifest['data_range']['to']}, {metrics['seconds']['total']:.1f} s"
                      + (f"; not fitted: {', '.join(not_fitted)}" if not_fitted else ""))
