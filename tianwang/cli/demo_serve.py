"""``tianwang demo --serve``: the service and its workbench on the demo's store, with a case queue waiting.

After the demo, :func:`prepare_store` readies its store for the service: the rings as
they stood before the most recent applications (only the earlier ones' labels known),
one demo person per role (:data:`fixtures.workbench.DEMO_USERS`), the earlier confirmed
fraud as verdicts, and the most recent applications scored one by one through the
service (:func:`tianwang.service.scoring.score_application`), so that each review
decision opens a case. :func:`serve` then runs the service (``api.app:create_app``,
named by its import string so that this layer never imports ``api``) under uvicorn in
the foreground on a socket :func:`listen` bound before the demo began, prints where the
workbench is and who may log in once it answers, and returns when SIGINT or SIGTERM
has stopped it.
"""

from __future__ import annotations

import errno
import gc
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from tianwang.cli.common import count_progress, settings_for
from tianwang.errors import InvalidRequestError
from tianwang.runtime import open_graph

if TYPE_CHECKING:
    from tianwang.settings import Settings

__all__ = ["Prepared", "announce_text", "listen", "prepare_store", "serve", "serve_environment",
           "sigterm_as_interrupt", "workbench_url"]

#: settings the demo's service must not take from the environment: its store, its operational database
#: (beside the store), the shipped scoring configuration (the one the demo backtests), no model bundles, no Kafka
#: the model bundle the demo trains for its service
BUNDLE = "demo"
_NOT_INHERITED = ("TIANWANG_NEO4J_URI", "TIANWANG_DATABASE_URL", "TIANWANG_SCORING_CONFIG", "TIANWANG_BUNDLE_DIR",
                  "TIANWANG_KAFKA_BOOTSTRAP")


def workbench_url(host: str, port: int) -> str:
    """The workbench's address for a browser on this machine, for a service listening on ``host:port``.

    An unspecified address (listening on every interface) is shown as the loopback one.

    >>> workbench_url("127.0.0.1", 8000), workbench_url("0.0.0.0", 8080), workbench_url("::", 80)
    ('http://127.0.0.1:8000/', 'http://127.0.0.1:8080/', 'http://[::1]:80/')
    """
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: any free port), for the service to accept on later.

    Binding before the demo's minute of work says at once when the port is taken.

    Raises
    ------
    InvalidRequestError
        Naming ``port`` when another program listens there, else ``host``.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise InvalidRequestError("host", f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port left in TIME_WAIT is free
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidRequestError("port", f"{port} on {host} is in use (another tianwang serve?); choose "
                                              "another with --port, or --port 0 for any free one") from None
        raise InvalidRequestError("host", f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the block as Ctrl-C does (``KeyboardInterrupt``), so that its temporary folder is removed
    when a supervisor stops the demo before it serves (the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_environment(db_path: Path) -> Settings:
    """Point this process's environment (which the service reads) at the demo's embedded store, and
    return its settings; the secret (``TIANWANG_SECRET``) stays the one the demo keyed its data with."""
    for name in _NOT_INHERITED:
        os.environ.pop(name, None)
    os.environ["TIANWANG_STORE"] = "embedded"
    os.environ["TIANWANG_DB_PATH"] = str(db_path.resolve())
    return settings_for(db_path.resolve())


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare_store` did to the demo's store."""

    history: int
    scored: int
    trained: int
    confirmed: int
    rings: int
    bands: dict[str, int]
    open_cases: int
    since: datetime


def prepare_store(settings: Settings, applications: Path, labels_path: Path, score: int,
                  train: int = 6_000) -> Prepared:
    """Ready the demo's store (which holds every application) for the service, with progress bars.

    The most recent ``score`` applications are scored through the service; the rings are
    detected again as the graph stood just before the first of them, with only the
    earlier applications' labels as confirmed fraud (nothing known yet of those scored);
    that fraud is recorded as verdicts; and a model bundle (``demo``, as ``tianwang train``
    makes one) is trained on the ``train`` applications just before them and activated, so
    that the service decides as a trained one would.
    """
    from fixtures.workbench import application_lines, known_labels, prepare_service
    from tianwang.application import parse_application
    from tianwang.backtest import read_labels
    from tianwang.rings.job import detect_rings

    lines = application_lines(applications)
    cut = max(len(lines) - score, 0)
    labels = read_labels(labels_path)
    known = known_labels(labels, lines[:cut])
    since = parse_application(lines[cut]).submitted_at if cut < len(lines) else datetime.now().astimezone()
    with count_progress() as bars:
        task = bars.add_task("service: rings as of then", total=None)
        with open_graph(settings, "embedded") as graph:
            rings = detect_rings(graph, labels=known, as_of=since)
        bars.update(task, description=f"service: rings ({len(rings.rings):,})", total=1, completed=1)
        tasks: dict[str, Any] = {}
        names = {"verdicts": "service: fraud verdicts", "score": "service: score"}

        def advance(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(names[step], total=total)
            bars.update(tasks[step], completed=done)

        trained = _train_bundle(settings, lines[max(cut - train, 0):cut], labels_path, bars)
        made = prepare_service(settings, lines[cut:], labels, known, outcomes=False, admin_key=False,
                               bundle=BUNDLE if trained else None, progress=advance)
    return Prepared(history=cut, scored=len(lines) - cut, trained=trained, confirmed=made.confirmed,
                    rings=len(rings.rings),
                    bands=dict(made.bands), open_cases=made.open_cases, since=since)


def _train_bundle(settings: Settings, history: list[bytes], labels_path: Path, bars: Any) -> int:
    """Train the bundle :data:`BUNDLE` on ``history`` into the store's bundle folder (kept when it is there:
    a store prepared before); how many applications it learned from (0: no history, no bundle)."""
    import json

    from tianwang.scoring.config import DEFAULT_CONFIG_PATH
    from tianwang.service.bundles import train_bundle

    folder = settings.bundles_path / BUNDLE
    if (folder / "manifest.json").is_file():
        return int(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["metrics"]["n_applications"])
    if not history:
        return 0
    task = bars.add_task(f"service: train a model bundle on {len(history):,}", total=len(history))
    with tempfile.TemporaryDirectory(prefix="tianwang-demo-train-") as tmp:
        path = Path(tmp) / "history.ndjson"
        path.write_bytes(b"\n".join(history) + b"\n")
        train_bundle(path, labels_path, settings.bundles_path, name=BUNDLE,
                     config_text=DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"), settings=settings,
                     progress=lambda done, total: bars.update(task, completed=done))
    bars.update(task, completed=len(history))
    return len(history)


def serve(sock: socket.socket, announce: Callable[[str], None], log_level: str = "warning") -> str:
    """Run the service on ``sock`` in the foreground until SIGINT or SIGTERM; ``announce`` is called with the
    workbench's address once it accepts requests. Returns the name of the signal that stopped it."""
    import uvicorn

    from tianwang.logs import SERVICE_LOG_CONFIG

    host, port = sock.getsockname()[:2]
    url = workbench_url(host, port)

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                announce(url)

    config = uvicorn.Config("api.app:create_app", factory=True, log_level=log_level,
                            log_config=_quiet(SERVICE_LOG_CONFIG), access_log=False, server_header=False)
    caught: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    # uvicorn stops on these signals, then raises each again once it has restored the handlers it found:
    # these, which only note it, so that the demo goes on to remove its data and exits 0
    previous = {number: signal.signal(number, note) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        Announcing(config).run(sockets=[sock])
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sock.close()
        gc.unfreeze()  # the service froze its heap (tianwang.service.heap): let the interpreter free it on exit
    sys.stdout.flush()
    return signal.Signals(caught[0]).name if caught else "none"


def _quiet(config: dict[str, Any]) -> dict[str, Any]:
    """The service's logging for a person at a terminal: warnings and errors only, as text, not a JSON line
    per request (a deployed service keeps :data:`tianwang.logs.SERVICE_LOG_CONFIG`)."""
    quiet = {**config, "formatters": {"text": {"()": "tianwang.logs.FieldsFormatter",
                                               "format": "%(levelname)s %(name)s: %(message)s"}}}
    quiet["handlers"] = {name: {**handler, "formatter": "text"} for name, handler in config["handlers"].items()}
    quiet["loggers"] = {name: {**logger, "level": "WARNING"} for name, logger in config["loggers"].items()}
    return quiet


def announce_text(url: str, prepared: Prepared, username: str, password: str) -> list[str]:
    """The lines printed once the service answers: where, who, what waits.

    >>> p = Prepared(history=9, scored=3, trained=9, confirmed=1, rings=2, bands={"review": 2, "approve": 1},
    ...              open_cases=2, since=datetime(2025, 1, 1))
    >>> announce_text("http://127.0.0.1:8000/", p, "demo.investigator", "pw")[:3]
    ['workbench: http://127.0.0.1:8000/', 'log in as demo.investigator, password pw', 'cases waiting in the queue: 2']
    """
    bands = ", ".join(f"{band} {n:,}" for band, n in sorted(prepared.bands.items()))
    trained = (f"its model bundle {BUNDLE!r} trained on the {prepared.trained:,} before them" if prepared.trained
               else "which has no trained model bundle")
    return [f"workbench: {url}",
            f"log in as {username}, password {password}",
            f"cases waiting in the queue: {prepared.open_cases:,}",
            f"(the {prepared.scored:,} most recent applications, from {prepared.since:%Y-%m-%d %H:%M}, scored "
            f"through the service, {trained}: {bands})",
            "Ctrl-C to stop"]
