"""The composition root: the one place that builds what a process needs from its settings.

Every command of the command line, the backtests and the HTTP service get their graph
store, scoring records, detectors and pipeline from :func:`open_runtime` (or only the
store, from :func:`open_graph`); nothing else wires these objects together. What it
builds, from :class:`~tianwang.settings.Settings`:

* the graph store (embedded SQLite or Neo4j, :func:`graph_schema.open_store`);
* the scoring records (watchlist, document index, decision log): durable, in
  ``scoring.db`` beside the embedded store's file, unless the caller asks for records
  in memory (backtests); the decision log is left out for a caller that records
  decisions itself (the service, in its operational database);
* the detectors and strategies of the configuration file (built-ins and plugins),
  reloaded when the file changes, or a configuration already loaded;
* the scoring pipeline over them, with each detector bound to the store it may read
  for batch state of its own (the ring index);
* the graph gate (:mod:`tianwang.scoring.outbox`): with durable records, an application
  the graph store cannot take (down, or slower than ``TIANWANG_GRAPH_TIMEOUT_MS``) waits
  in ``graph-outbox.db`` beside the scoring database and is scored without graph
  evidence; a drain thread writes it when the store is back;
* background checkpoints of the SQLite write-ahead logs, so that a decision's commit
  never pays for one.

:meth:`Runtime.close` releases everything in the reverse order.

Examples
--------
>>> import tempfile, pathlib
>>> from tianwang.settings import load_settings
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with open_runtime(load_settings(db_path=folder / "graph.db"), store="embedded") as runtime:
...     runtime.store.kind, runtime.records.decisions.path == str(folder / "scoring.db")
('embedded', True)
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from graph_schema import open_store
from graph_schema.store import GraphStore
from tianwang.scoring.config import DEFAULT_CONFIG_PATH, ConfigSource, LoadedConfig
from tianwang.scoring.maintenance import WalCheckpointer
from tianwang.scoring.outbox import GraphGate, GraphOutbox, outbox_path
from tianwang.scoring.persistence import ScoringRecords, scoring_db_path
from tianwang.scoring.pipeline import ScoringPipeline
from tianwang.settings import Settings, load_settings

if TYPE_CHECKING:
    from detectors.registry import DetectorRegistry

__all__ = ["Runtime", "open_graph", "open_runtime"]

StoreKind = Literal["embedded", "neo4j"]


@dataclass
class Runtime:
    """What a scoring process holds: settings, store, records and pipeline. Close it when done."""

    settings: Settings
    store: GraphStore
    records: ScoringRecords
    pipeline: ScoringPipeline
    _resources: ExitStack = field(default_factory=ExitStack, repr=False)

    def close(self) -> None:
        """Stop the pipeline's threads and the checkpoints, close the records and the store."""
        self._resources.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_graph(settings: Settings | None = None, store: StoreKind | str | None = None, *,
               lazy: bool = False) -> GraphStore:
    """The graph store the settings name (or ``store``), for commands that need only the graph.

    Raises
    ------
    ConfigurationError
        For an unknown kind, or ``neo4j`` without ``TIANWANG_NEO4J_URI``.
    StoreUnavailableError
        When Neo4j cannot be reached (with ``lazy``: connected at its first use instead).
    """
    return open_store(settings or load_settings(), store, lazy=lazy)


def open_runtime(
    settings: Settings | None = None,
    *,
    store: StoreKind | str | None = None,
    config: Path | LoadedConfig | None = None,
    registry: DetectorRegistry | None = None,
    records: Literal["durable", "memory"] = "durable",
    records_path: Path | None = None,
    decision_log: bool = True,
    checkpoints: bool = True,
) -> Runtime:
    """Build the store, records, detectors and pipeline of one process.

    Parameters
    ----------
    settings : Settings, optional
        Where the store is and which secret keys personal data (default: the environment).
    store : {"embedded", "neo4j"}, optional
        Overrides the settings' choice of store.
    config : Path or LoadedConfig, optional
        The detector and strategy file, watched for changes (default: ``TIANWANG_SCORING_CONFIG``,
        else the shipped one),
        or a configuration already loaded (fixed; backtests load theirs to fit it).
    registry : DetectorRegistry, optional
        Where detector names are looked up (default: built-ins and installed plugins).
    records : {"durable", "memory"}
        Durable SQLite records, or records that end with the process (backtests).
    records_path : Path, optional
        The SQLite file of durable records (default: ``scoring.db`` beside the embedded
        store's file).
    decision_log : bool
        Keep the pipeline's own log of decisions (``records.decisions``). The service
        passes ``False``: it records each decision once, in its operational database,
        with the action and the case.
    checkpoints : bool
        Checkpoint the SQLite write-ahead logs in background threads.
    """
    settings = settings or load_settings()
    resources = ExitStack()
    try:
        # with a graph outbox, a Neo4j down at start is connected later: scoring degrades meanwhile
        degrade = records == "durable" and settings.graph_outbox
        graph = resources.enter_context(open_graph(settings, store, lazy=degrade))
        outbox = None
        if records == "durable":
            path = records_path or scoring_db_path(settings.db_path)
            scoring_records = ScoringRecords.open(path, graph.keyer, decisions=decision_log)
            sqlite_files = [*_graph_file(settings, graph), (path, scoring_records.exclusive)]
            if settings.graph_outbox:
                outbox = GraphOutbox(outbox_path(path))
        else:
            scoring_records = ScoringRecords.in_memory(graph.keyer)
            sqlite_files = _graph_file(settings, graph)
        resources.callback(scoring_records.close)
        timeout_ms = settings.graph_timeout_ms if settings.graph_timeout_ms is not None else (
            5000.0 if graph.kind == "neo4j" else 0.0)
        gate = GraphGate(graph, outbox, timeout=timeout_ms / 1000 if timeout_ms > 0 else None)
        resources.callback(gate.close)
        if checkpoints:
            for sqlite_file, exclusive in sqlite_files:
                resources.enter_context(WalCheckpointer(sqlite_file, exclusive=exclusive))
        source: ConfigSource | LoadedConfig
        if isinstance(config, LoadedConfig):
            source = config
        else:
            if registry is None:
                from detectors.registry import DetectorRegistry

                registry = DetectorRegistry.with_plugins()
            source = ConfigSource(config or settings.scoring_config or DEFAULT_CONFIG_PATH, registry)
        pipeline = ScoringPipeline(graph, source, scoring_records, gate=gate)
        resources.callback(pipeline.close)
    except BaseException:
        resources.close()  # what was built before the failure is released
        raise
    return Runtime(settings, graph, scoring_records, pipeline, resources)


def _graph_file(settings: Settings, graph: GraphStore) -> list[tuple[Path, Callable[[], Any] | None]]:
    """The embedded store's SQLite file and its lock, for a checkpointer (none for Neo4j)."""
    if graph.kind != "embedded":
        return []
    return [(Path(settings.db_path), getattr(graph, "exclusive", None))]
