"""Ring detection on Apache Spark: the projection in Spark SQL, connected components, Leiden per component.

The single-machine job (:func:`tianwang.rings.job.detect_rings_in_export`) holds the
whole applicant graph in one process. This engine does its three heavy steps on Spark
(``pyspark`` 4.x, the ``spark`` extra; local mode here, a cluster in production):

1. **Projection** in Spark SQL, as :func:`tianwang.rings.projection.project` does it:
   distinct (applicant, attribute) pairs, including each applicant's own person node and
   the derived *inflated deal* windows (a deal priced above ``inflated_price_ratio`` times
   its model's 95th-percentile price, nearest rank); attributes shared by more applicants
   than their label's limit are hubs and dropped; each kept attribute adds
   ``weight(label) / log2(sharing)`` to every pair of its applicants (a self-join per
   attribute), and the optional time half-life discounts the link.
2. **Connected components** of the links, by iterated min-label propagation with pointer
   jumping (each round a join; the labels' lineage is cut every round).
3. **Leiden per component** (:func:`~tianwang.rings.detection.leiden_membership`, what the
   single-machine job runs, in ``applyInPandas``; components are dealt into buckets). A
   partition's modularity is the sum over components of the terms inside each one (a
   community that spans two components only loses modularity), so each component is
   optimised alone with its resolution scaled by its share of the total link weight,
   ``resolution * W_k / W``: then its objective is exactly its part of the global one. The
   constant Potts model is local already and keeps its resolution.

The rings' statistics, ids and write-back are the single-machine job's
(:func:`tianwang.rings.job.rings_from_communities`), on the driver: they touch the rings'
members only. ``bench/rings_spark.py`` compares the two engines (adjusted Rand index,
ring recall, time).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graph_schema.export import GraphExport
from graph_schema.schema import ATTRIBUTE_RELATIONSHIPS, RELATIONSHIP_TYPES, RelType
from tianwang.rings.detection import OBJECTIVES, leiden_membership
from tianwang.rings.job import RingReport, rings_from_communities
from tianwang.rings.links import DERIVED_LABEL_CODES, INFLATED_DEAL_CODE, LANDLINE_CODE, label_code
from tianwang.rings.projection import Projection, ProjectionSettings, attributes_of

if TYPE_CHECKING:  # pandas and pyspark come with the spark extra: imported where used
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["communities_spark", "connected_components", "detect_rings_in_export_spark", "project_spark",
           "spark_session"]

_SUBMITTED = RELATIONSHIP_TYPES[RelType.SUBMITTED].code
_AT_DEALER = RELATIONSHIP_TYPES[RelType.AT_DEALER].code
_ATTRIBUTE_CODES = [int(RELATIONSHIP_TYPES[t].code) for t in ATTRIBUTE_RELATIONSHIPS]
_DAY = 86_400.0


@contextmanager
def spark_session(
    master: str | None = None, *, memory: str | None = None, partitions: int | None = None
) -> Iterator[SparkSession]:
    """A Spark session for the job: ``master`` (default ``TIANWANG_SPARK_MASTER``, else ``local[*]``).

    In local mode the driver's heap is ``memory`` (default ``TIANWANG_SPARK_MEMORY``, else 2g) and
    shuffles use ``partitions`` partitions (default: twice the cores); the web UI is off and scratch
    files go to a temporary directory removed afterwards. The session is stopped on exit.

    Raises
    ------
    ImportError
        If ``pyspark`` is not installed (``pip install 'tianwang[spark]'``).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError("the Spark engine needs the spark extra: pip install -e '.[spark]'") from exc
    master = master or os.environ.get("TIANWANG_SPARK_MASTER") or "local[*]"
    memory = memory or os.environ.get("TIANWANG_SPARK_MEMORY") or "2g"
    partitions = partitions or 2 * (os.cpu_count() or 1)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # one machine: no guessing at an interface
    with tempfile.TemporaryDirectory(prefix="tianwang-spark-") as scratch:
        session = (
            SparkSession.builder.master(master)
            .appName("tianwang-rings")
            .config("spark.driver.memory", memory)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.local.dir", scratch)
            .config("spark.sql.shuffle.partitions", str(partitions))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.adaptive.enabled", "true")
            .config("spark.driver.extraJavaOptions", "-Dlog4j2.level=ERROR")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        session.sparkContext.setCheckpointDir(os.path.join(scratch, "checkpoints"))
        try:
            yield session
        finally:
            session.stop()


def _first(frame: DataFrame) -> Any:
    row = frame.first()
    if row is None:  # pragma: no cover - an aggregate without grouping has one row
        raise RuntimeError("an aggregate returned no row")
    return row


def _frame(spark: SparkSession, columns: Mapping[str, np.ndarray], schema: str) -> DataFrame:
    """Arrays as a DataFrame, through a Parquet file in the session's scratch directory.

    Spark reads Parquet in parallel; ``createDataFrame`` of a million-row pandas frame takes ten
    seconds here. On a cluster the export would be such files on shared storage.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    scratch = Path(spark.conf.get("spark.local.dir") or tempfile.gettempdir()) / "tables"
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / f"{uuid.uuid4().hex}.parquet"
    pq.write_table(pa.table({name: np.asarray(v) for name, v in columns.items()}), path)
    return spark.read.schema(schema).parquet(str(path))


def _pairs(spark: SparkSession, export: GraphExport, settings: ProjectionSettings) -> DataFrame:
    """Distinct (applicant, attribute) pairs: ``applicant`` and the attribute's key ``a_node, a_kind, a_window``
    (``a_kind`` 0: an exported node; 1 and 2: an inflated-deal window at dealer ``a_node``), with ``label``."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    src, dst = export.edge_index
    edges = _frame(
        spark,
        {"src": src.astype(np.int64), "dst": dst.astype(np.int64), "type": export.edge_type.astype(np.int32),
         "at": export.edge_at.astype(np.float64)},
        "src long, dst long, type int, at double",
    )
    label = export.node_label.astype(np.int32)
    if export.landline is not None:
        label[export.landline] = LANDLINE_CODE
    nodes = _frame(spark, {"node": np.arange(export.num_nodes, dtype=np.int64), "label": label}, "node long, label int")
    submitted = edges.where(F.col("type") == _SUBMITTED).select(
        F.col("src").alias("applicant"), F.col("dst").alias("application"), F.col("at")
    )
    attribute_edges = edges.where(F.col("type").isin(_ATTRIBUTE_CODES)).select(
        F.col("src").alias("application"), F.col("dst").alias("a_node"), "type"
    )
    owned = attribute_edges.join(submitted, "application")
    node_pairs = owned.select("applicant", "a_node").unionByName(
        submitted.select("applicant", F.col("applicant").alias("a_node"))
    ).select("applicant", "a_node", F.lit(0).alias("a_kind"), F.lit(0).cast("long").alias("a_window"))
    node_pairs = node_pairs.join(nodes.withColumnRenamed("node", "a_node"), "a_node")

    deals = export.deals
    if deals is None or settings.inflated_price_ratio is None or not len(deals.model):
        return node_pairs.distinct()
    deal_rows = _frame(
        spark,
        {"application": deals.node.astype(np.int64), "price": deals.vehicle_price.astype(np.float64),
         "model": deals.model.astype(np.int64)},
        "application long, price double, model long",
    )
    priced = deal_rows.where((F.col("model") >= 0) & ~F.isnan("price") & (F.col("price") > 0))
    by_model = Window.partitionBy("model")
    reference = (
        priced.withColumn("rank", F.row_number().over(by_model.orderBy("price")) - 1)
        .withColumn("count", F.count("*").over(by_model))
        .where(F.col("count") >= settings.inflated_min_model_applications)
        .where(F.col("rank") == F.floor(F.lit(0.95) * (F.col("count") - 1)))
        .select("model", F.col("price").alias("reference"))
    )
    inflated = (
        deal_rows.join(reference, "model")
        .where(~F.isnan("price") & (F.col("price") > F.lit(settings.inflated_price_ratio) * F.col("reference")))
        .select("application")
        .distinct()
    )
    dealer = attribute_edges.where(F.col("type") == _AT_DEALER).select("application", F.col("a_node").alias("dealer"))
    span = settings.inflated_window_days * _DAY
    deal_pairs = (
        inflated.join(submitted, "application")
        .join(dealer, "application")
        .crossJoin(spark.createDataFrame([(1, 0.0), (2, 0.5)], "a_kind int, offset double"))
        .select(
            "applicant",
            F.col("dealer").alias("a_node"),
            "a_kind",
            F.floor(F.col("at") / F.lit(span) + F.col("offset")).cast("long").alias("a_window"),
            F.lit(INFLATED_DEAL_CODE).alias("label"),
        )
    )
    return node_pairs.unionByName(deal_pairs).distinct()


def project_spark(spark: SparkSession, export: GraphExport, settings: ProjectionSettings | None = None) -> DataFrame:
    """The projection's links as a DataFrame ``(source, target, weight)`` of applicant *nodes*, ``source < target``.

    The same links as :func:`~tianwang.rings.projection.project` (there numbered by applicant, here by
    the applicant's export node), weights equal up to the order of floating-point sums.
    """
    return _project(spark, export, settings or ProjectionSettings())[0]


def _project(spark: SparkSession, export: GraphExport, settings: ProjectionSettings) -> tuple[DataFrame, DataFrame]:
    """The links, and every weighted attribute's ``sharing`` against its label's limit ``most``."""
    from pyspark.sql import functions as F

    codes = sorted({label_code(name) for name in settings.label_weights} | set(DERIVED_LABEL_CODES.values()))
    weight = {code: 0.0 for code in codes}
    most = {code: settings.max_sharing for code in codes}
    for name, value in settings.label_weights.items():
        weight[label_code(name)] = value
    for name, limit in settings.max_sharing_by_label.items():
        most[label_code(name)] = limit
    weight[INFLATED_DEAL_CODE] = settings.inflated_deal_weight
    most[INFLATED_DEAL_CODE] = settings.inflated_deal_max_sharing
    limits = spark.createDataFrame(
        [(code, float(weight[code]), int(most[code])) for code in codes if weight[code] > 0],
        "label int, label_weight double, most long",
    )
    key = ["a_node", "a_kind", "a_window"]
    pairs = _pairs(spark, export, settings).localCheckpoint()
    sharing = (
        pairs.groupBy(*key, "label").agg(F.count("*").alias("sharing")).join(F.broadcast(limits), "label")
        .localCheckpoint()
    )
    kept = sharing.where((F.col("sharing") >= 2) & (F.col("sharing") <= F.col("most"))).select(
        *key, (F.col("label_weight") / F.log2(F.col("sharing").cast("double"))).alias("w")
    )
    used = pairs.join(kept, key).select("applicant", *key, "w")
    left, right = used.alias("l"), used.alias("r")
    links = (
        left.join(right, [F.col(f"l.{k}") == F.col(f"r.{k}") for k in key])
        .where(F.col("l.applicant") < F.col("r.applicant"))
        .groupBy(F.col("l.applicant").alias("source"), F.col("r.applicant").alias("target"))
        .agg(F.sum("l.w").alias("weight"))
    )
    if settings.time_half_life_days is not None:
        src = export.edge_index[0]
        submitted = export.edge_type == _SUBMITTED
        first = (
            _frame(spark, {"applicant": src[submitted].astype(np.int64),
                           "at": export.edge_at[submitted].astype(np.float64)}, "applicant long, at double")
            .groupBy("applicant").agg(F.min("at").alias("first"))
        )
        gap = F.abs(F.col("s.first") - F.col("t.first")) / F.lit(_DAY)
        links = (
            links.join(first.alias("s"), F.col("source") == F.col("s.applicant"))
            .join(first.alias("t"), F.col("target") == F.col("t.applicant"))
            .select("source", "target",
                    (F.col("weight") * F.pow(F.lit(2.0), -gap / F.lit(settings.time_half_life_days))).alias("weight"))
        )
    return links, sharing


def connected_components(links: DataFrame, *, max_rounds: int = 100) -> DataFrame:
    """``(vertex, component)`` for every vertex of ``links``; a component is named by its smallest vertex.

    Each round a vertex takes the smallest label among its own and its neighbours', then the label of
    that label (pointer jumping), which halves long paths; rounds stop when no label changes.

    Raises
    ------
    RuntimeError
        If the labels still change after ``max_rounds`` rounds.
    """
    from pyspark.sql import functions as F

    both = links.select(F.col("source").alias("v"), F.col("target").alias("u")).unionByName(
        links.select(F.col("target").alias("v"), F.col("source").alias("u"))
    ).cache()
    label = both.groupBy("v").agg(F.min("u").alias("u")).select("v", F.least("v", "u").alias("c")).localCheckpoint()
    for _ in range(max_rounds):
        spread = (
            both.join(label.withColumnRenamed("v", "u").withColumnRenamed("c", "cu"), "u")
            .groupBy("v").agg(F.min("cu").alias("cn"))
            .join(label, "v")
            .select("v", F.least("c", "cn").alias("c"))
        )
        jumped = (
            spread.alias("a").join(spread.alias("b"), F.col("a.c") == F.col("b.v"))
            .select(F.col("a.v").alias("v"), F.least(F.col("a.c"), F.col("b.c")).alias("c"))
            .localCheckpoint()
        )
        changed = jumped.join(label.withColumnRenamed("c", "old"), "v").where(F.col("c") != F.col("old")).count()
        label = jumped
        if not changed:
            both.unpersist()
            return label.select(F.col("v").alias("vertex"), F.col("c").alias("component"))
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")


def _leiden_component(edges: pd.DataFrame, objective: str, resolution: float, total: float, seed: int) -> Any:
    """Leiden on one component's links (:func:`~tianwang.rings.detection.leiden_membership`, as the
    single-machine job runs it): ``(vertices, membership)``."""
    vertices, ends = np.unique(
        np.concatenate([edges["source"].to_numpy(), edges["target"].to_numpy()]), return_inverse=True
    )
    m = len(edges)
    membership = leiden_membership(
        ends[:m], ends[m:], edges["weight"].to_numpy(dtype=np.float64), len(vertices),
        objective=objective, resolution=resolution, total_weight=total, seed=seed,
    )
    return vertices, membership


def _leiden_group(objective: str, resolution: float, total: float, seed: int) -> Any:
    """The ``applyInPandas`` function: Leiden on each component of a bucket of components, one at a time."""

    def run(edges: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        parts = []
        for component, links in edges.groupby("component", sort=True):
            vertices, membership = _leiden_component(links, objective, resolution, total, seed)
            parts.append(pd.DataFrame({"component": np.full(len(vertices), component, dtype=np.int64),
                                       "vertex": vertices.astype(np.int64), "local": membership}))
        return pd.concat(parts, ignore_index=True)

    return run


def communities_spark(
    links: DataFrame, *, objective: str = "modularity", resolution: float = 1.0, seed: int = 0
) -> tuple[pd.DataFrame, int]:
    """Leiden per connected component of ``links``: a pandas frame ``(vertex, community)`` and the components' count.

    Raises
    ------
    ValueError
        If ``resolution`` is not positive or ``objective`` is unknown.
    """
    import pandas as pd
    from pyspark.sql import functions as F

    if not resolution > 0:
        raise ValueError(f"resolution must be positive, got: {resolution}")
    kind = objective.lower()
    if kind not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose from: {', '.join(OBJECTIVES)}")
    links = links.localCheckpoint()
    total = _first(links.agg(F.sum("weight")))[0]
    if not total:
        return pd.DataFrame({"vertex": np.empty(0, np.int64), "community": np.empty(0, np.int64)}), 0
    components = connected_components(links)
    # Small components by the thousand: a Python call per component would cost more than its Leiden, so
    # components are dealt into buckets (one pandas call each) and a bucket runs its components one by one.
    buckets = max(1, 8 * links.sparkSession.sparkContext.defaultParallelism)
    grouped = links.join(components.withColumnRenamed("vertex", "source"), "source").withColumn(
        "bucket", F.pmod(F.xxhash64("component"), F.lit(buckets))
    )
    found: pd.DataFrame = (
        grouped.groupBy("bucket")
        .applyInPandas(_leiden_group(kind, resolution, float(total), seed), "component long, vertex long, local long")
        .toPandas()
    )
    pairs = found["component"].to_numpy() * (int(found["local"].max()) + 1) + found["local"].to_numpy()
    _, community = np.unique(pairs, return_inverse=True)
    return pd.DataFrame({"vertex": found["vertex"].to_numpy(), "community": community.astype(np.int64)}), int(
        found["component"].nunique()
    )


def detect_rings_in_export_spark(
    export: GraphExport,
    spark: SparkSession,
    *,
    previous: Mapping[str, Collection[str]] | None = None,
    labels: Mapping[str, bool] | None = None,
    settings: ProjectionSettings | None = None,
    objective: str = "modularity",
    resolution: float = 1.0,
    min_size: int = 3,
    seed: int = 0,
) -> RingReport:
    """:func:`tianwang.rings.job.detect_rings_in_export` with the projection, components and Leiden on ``spark``."""
    from pyspark.sql import functions as F

    settings = settings or ProjectionSettings()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    frame, sharing = _project(spark, export, settings)
    frame = frame.localCheckpoint()  # computed once: collected for the statistics, and the components' input
    links: pd.DataFrame = frame.toPandas()
    counts = _first(sharing.agg(
        F.sum((F.col("sharing") > F.col("most")).cast("long")).alias("hubs"),
        F.sum(((F.col("sharing") >= 2) & (F.col("sharing") <= F.col("most"))).cast("long")).alias("used"),
    ))
    hubs, used = int(counts["hubs"] or 0), int(counts["used"] or 0)
    timings["projection"] = time.perf_counter() - started

    started = time.perf_counter()
    found = attributes_of(export, settings)
    links = links.sort_values(["source", "target"], kind="stable")
    source = np.searchsorted(found.applicants, links["source"].to_numpy()).astype(np.int64)
    target = np.searchsorted(found.applicants, links["target"].to_numpy()).astype(np.int64)
    projection = Projection(
        attributes=found, source=source, target=target, weight=links["weight"].to_numpy(dtype=np.float64),
        attributes_used=used, hubs=hubs,
    )
    timings["attributes"] = time.perf_counter() - started

    started = time.perf_counter()
    assigned, _ = communities_spark(frame, objective=objective, resolution=resolution, seed=seed)
    community = np.full(found.num_applicants, -1, dtype=np.int64)
    community[np.searchsorted(found.applicants, assigned["vertex"].to_numpy())] = assigned["community"].to_numpy()
    timings["leiden"] = time.perf_counter() - started
    return rings_from_communities(
        export, projection, community, previous=previous, labels=labels, min_size=min_size, timings=timings
    )

