"""``tianwang fixtures``: synthetic applications with planted fraud (the generator lives in :mod:`fixtures`)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``fixtures`` group to ``app``."""
    from fixtures.cli import app as fixtures_app

    app.add_typer(fixtures_app, name="fixtures", help="Synthetic applications with planted fraud.")
