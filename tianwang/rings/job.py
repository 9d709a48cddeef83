"""The ring detection batch job: export, project, Leiden, stable ids, statistics, write-back."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from graph_schema.export import GraphExport
from graph_schema.store import GraphStore
from graph_schema.values import RingRecord, to_timestamp
from tianwang.rings.detection import assign_ring_ids, find_communities
from tianwang.rings.projection import Projection, ProjectionSettings, project
from tianwang.rings.statistics import RingStatistics, ring_statistics

__all__ = [
    "DetectedRing",
    "RingReport",
    "canonical_communities",
    "detect_rings",
    "detect_rings_in_export",
    "rings_from_communities",
]

#: Where the projection, components and Leiden run: this process, or Spark.
ENGINES = ("local", "spark")

log = logging.getLogger(__name__)


def canonical_communities(community: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``community`` renumbered 0, 1, ... in the order of each community's first member; -1 stays.

    >>> canonical_communities(np.array([5, -1, 2, 5, 2, 9])).tolist()
    [0, -1, 1, 0, 1, 2]
    """
    result = np.full(len(community), -1, dtype=np.int64)
    assigned = np.flatnonzero(community >= 0)
    if not len(assigned):
        return result
    labels, first, inverse = np.unique(community[assigned], return_index=True, return_inverse=True)
    rank = np.empty(len(labels), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(labels))
    result[assigned] = rank[inverse]
    return result


@dataclass(frozen=True, slots=True)
class DetectedRing:
    """A ring of this run: its id, its members (``Person`` keys), applications and statistics."""

    ring_id: str
    members: tuple[str, ...]
    application_ids: tuple[str, ...]
    statistics: RingStatistics

    @property
    def risk(self) -> float:
        return self.statistics.risk

    def record(self) -> RingRecord:
        return RingRecord(self.ring_id, self.members, self.statistics.properties())


@dataclass(slots=True)
class RingReport:
    """What a run found, and where its time went (seconds per stage)."""

    rings: list[DetectedRing]
    applicants: int
    links: int
    hubs: int
    kept_ids: int
    new_ids: int
    retired_ids: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


def detect_rings_in_export(
    export: GraphExport,
    *,
    previous: Mapping[str, Collection[str]] | None = None,
    labels: Mapping[str, bool] | None = None,
    settings: ProjectionSettings | None = None,
    objective: str = "modularity",
    resolution: float = 1.0,
    min_size: int = 3,
    seed: int = 0,
) -> RingReport:
    """Rings of an exported graph, with ids matched to ``previous`` (ring id -> member keys)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    projection = project(export, settings)
    timings["projection"] = time.perf_counter() - started

    started = time.perf_counter()
    community = find_communities(projection, objective=objective, resolution=resolution, seed=seed)
    timings["leiden"] = time.perf_counter() - started
    return rings_from_communities(
        export, projection, community, previous=previous, labels=labels, min_size=min_size, timings=timings
    )


def rings_from_communities(
    export: GraphExport,
    projection: Projection,
    community: npt.NDArray[np.int64],
    *,
    previous: Mapping[str, Collection[str]] | None = None,
    labels: Mapping[str, bool] | None = None,
    min_size: int = 3,
    timings: dict[str, float] | None = None,
) -> RingReport:
    """The rings of a community assignment (per applicant of ``projection``; -1: none), with statistics
    and ids matched to ``previous``; shared by the single-machine job and the Spark one.

    Communities are renumbered by their first applicant first, so the rings (and the fresh ids handed
    out in their order) do not depend on how the engine happened to number them.
    """
    timings = dict(timings or {})
    community = canonical_communities(community)
    started = time.perf_counter()
    statistics = ring_statistics(export, projection, community, min_size=min_size, labels=labels)
    timings["statistics"] = time.perf_counter() - started

    started = time.perf_counter()
    found = projection.attributes
    keys = export.node_key
    members = [tuple(sorted(keys[found.applicants[i]] for i in s.members.tolist())) for s in statistics]
    ids = assign_ring_ids(members, previous or {})
    rings = [
        DetectedRing(ring_id, m, tuple(keys[found.applications[j]] for j in s.applications.tolist()), s)
        for ring_id, m, s in zip(ids, members, statistics, strict=True)
    ]
    timings["ring_ids"] = time.perf_counter() - started
    kept = len(set(ids) & set(previous or {}))
    return RingReport(
        rings=rings,
        applicants=found.num_applicants,
        links=projection.num_links,
        hubs=projection.hubs,
        kept_ids=kept,
        new_ids=len(ids) - kept,
        retired_ids=len(previous or {}) - kept,
        timings=timings,
    )


def detect_rings(
    store: GraphStore,
    *,
    previous: Mapping[str, Collection[str]] | None = None,
    labels: Mapping[str, bool] | None = None,
    as_of: float | datetime | None = None,
    settings: ProjectionSettings | None = None,
    objective: str = "modularity",
    resolution: float = 1.0,
    min_size: int = 3,
    seed: int = 0,
    write: bool = True,
    detected_at: float | None = None,
    engine: str = "local",
    spark_master: str | None = None,
) -> RingReport:
    """Detect rings over the whole graph of ``store`` and (with ``write``) store them.

    Parameters
    ----------
    store : GraphStore
        Where the graph is, and where rings are written (``Ring`` nodes, ``MEMBER_OF``).
    previous : mapping, optional
        The previous run's rings (ring id -> member ``Person`` keys) whose ids to keep;
        by default the rings stored now.
    labels : mapping, optional
        Application id -> confirmed fraud, for the rings' confirmed-fraud share.
    as_of : float or datetime, optional
        See the graph as it stood then (a backtest); pass ``write=False`` to keep the
        stored rings as they are.
    objective, resolution, seed
        Leiden's objective (``"modularity"`` or ``"cpm"``), resolution and random seed.
    min_size : int
        Smallest ring, in applicants.
    write : bool
        Replace the stored rings with these; ``detected_at`` (default: ``as_of``, else
        now) is the time of their ``MEMBER_OF`` relationships.
    engine : str
        ``"local"`` (numpy and igraph in this process) or ``"spark"`` (the projection,
        components and Leiden on Spark, :mod:`tianwang.rings.spark`; ``spark_master``, default
        ``TIANWANG_SPARK_MASTER`` or ``local[*]``). Both find the same rings.

    Raises
    ------
    ValueError
        If ``engine`` is unknown.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from: {', '.join(ENGINES)}")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    export = store.export_edges(as_of=as_of)
    timings["export"] = time.perf_counter() - started
    if previous is None:
        previous = {ring.ring_id: ring.members for ring in store.rings()}
    if engine == "spark":
        from tianwang.rings.spark import detect_rings_in_export_spark, spark_session

        started = time.perf_counter()
        with spark_session(spark_master) as spark:
            timings["spark_start"] = time.perf_counter() - started
            report = detect_rings_in_export_spark(
                export, spark, previous=previous, labels=labels, settings=settings, objective=objective,
                resolution=resolution, min_size=min_size, seed=seed,
            )
    else:
        report = detect_rings_in_export(
            export, previous=previous, labels=labels, settings=settings, objective=objective,
            resolution=resolution, min_size=min_size, seed=seed,
        )
    report.timings = {**timings, **report.timings}
    if write:
        started = time.perf_counter()
        moment = detected_at if detected_at is not None else to_timestamp(as_of) or time.time()
        store.write_rings([ring.record() for ring in report.rings], detected_at=moment)
        report.timings["write"] = time.perf_counter() - started
    log.info(
        "rings detected",
        extra={
            "rings": len(report.rings),
            "applicants": report.applicants,
            "links": report.links,
            "kept_ids": report.kept_ids,
            "new_ids": report.new_ids,
            "engine": engine,
            "seconds": round(report.seconds, 3),
        },
    )
    return report
