"""What every command of the command line shares: consoles, store options, clean failures, progress."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from graph_schema.store import GraphStore
from tianwang.cli.terminal import safe
from tianwang.errors import TianwangError
from tianwang.runtime import open_graph
from tianwang.settings import Settings, load_settings

__all__ = ["DbOption", "StoreKind", "StoreOption", "console", "count_progress", "fail_cleanly", "open_graph_for", "out",
           "progress", "settings_for", "stop_on_signals"]

console = Console(stderr=True)
out = Console()


class StoreKind(StrEnum):
    embedded = "embedded"
    neo4j = "neo4j"


StoreOption = Annotated[
    StoreKind | None,
    typer.Option(
        "--store",
        help="Graph store; default from TIANWANG_STORE, else neo4j if TIANWANG_NEO4J_URI is set, else embedded.",
    ),
]
DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", help="SQLite file of the embedded store (default TIANWANG_DB_PATH); implies --store embedded."
    ),
]


def settings_for(db: Path | None = None) -> Settings:
    """The settings, with ``--db`` as the embedded store's file when given."""
    overrides = {"db_path": db} if db is not None else {}
    return load_settings(**overrides)


def open_graph_for(store: StoreKind | None, db: Path | None) -> GraphStore:
    """The store asked for; ``--db`` alone means the embedded store."""
    kind = store.value if store else ("embedded" if db is not None else None)
    return open_graph(settings_for(db), kind)


@contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turn Tianwang errors into one red line and exit status 2."""
    try:
        yield
    except TianwangError as exc:
        console.print(f"[red]error:[/red] {safe(exc)}")
        raise typer.Exit(2) from None


def progress(what: str) -> Progress:
    """A progress bar on a terminal (quiet elsewhere, as in CI)."""
    return Progress(
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )


def count_progress() -> Progress:
    """A progress bar that counts items (applications), one task per step, with the time each took;
    a task without a total pulses (a step that cannot say how far it is). Quiet off a terminal."""
    return Progress(
        TextColumn("[bold]{task.description:<24}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )


@contextmanager
def stop_on_signals(*signals: signal.Signals) -> Iterator[threading.Event]:
    """An event set by the first of ``signals`` (a second one ends the process at once), in the main thread only:
    a long command finishes the batch in hand and says how far it got."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def asked_to_stop(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signum, signal.SIG_DFL)

    previous = {number: signal.signal(number, asked_to_stop) for number in signals}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
