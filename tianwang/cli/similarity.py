"""``tianwang similarity``: rebuild the index of confirmed fraud behind ``known_fraud_similarity``.

:func:`register` adds the ``similarity`` sub-app to the main CLI;
:func:`rebuild_similarity_index` is the batch job it runs.

The store keeps only redacted applications, so the embeddings are computed from the
applications file (schema v1) and the graph: each application is seen with its links
as the graph stood at its own submission, in time order, as the scoring pipeline sees
it. With ``--db`` those links are read from an existing embedded store (nothing is
written to it); without, the applications are replayed into a temporary one.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tianwang.cli.common import console

if TYPE_CHECKING:
    from detectors.known_fraud_similarity import KnownFraudSimilarityDetector
    from graph_schema.store import GraphStore


__all__ = ["RebuildReport", "rebuild_similarity_index", "register"]


_DETECTOR = "known_fraud_similarity"


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """What a rebuild wrote: counts, the index kind and its measured recall, timings."""

    path: Path
    applications: int
    labelled: int
    fraud: int
    legit_sample: int
    kind: str
    recall: float | None
    embedder: str
    seconds: dict[str, float]


def _detector_settings(config: Path | None) -> tuple[dict[str, Any], float]:
    """The ``known_fraud_similarity`` settings and velocity window of a scoring YAML (defaults if absent)."""
    import yaml

    from tianwang.scoring.config import DEFAULT_CONFIG_PATH, ScoringConfig
    from tianwang.scoring.errors import ScoringConfigError

    path = config or DEFAULT_CONFIG_PATH
    try:
        parsed = ScoringConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except Exception as exc:
        raise ScoringConfigError(f"cannot read the scoring configuration {path}: {type(exc).__name__}: {exc}") from None
    entry = next((d for n, d in parsed.detectors.items() if (d.detector or n) == _DETECTOR), None)
    return (dict(entry.settings) if entry is not None else {}), parsed.velocity_window_days


def rebuild_similarity_index(
    applications_path: Path,
    labels_path: Path,
    out: Path,
    *,
    settings: Mapping[str, Any] | None = None,
    store: GraphStore | None = None,
    window_days: float = 7.0,
    secret: bytes = b"tianwang-similarity-rebuild-0123456789",
    progress: Callable[[int, int], None] | None = None,
) -> RebuildReport:
    """Fit ``known_fraud_similarity`` on every labelled application and write its index to ``out``.

    Parameters
    ----------
    store : GraphStore, optional
        A store already holding the applications; links are read from it as of each
        application's time. Without one, a temporary embedded store is filled in time order.
    settings : mapping, optional
        The detector's settings (``index_path`` is ignored: the index is built here).
    """
    from detectors.context import ApplicantResolver, LabelledContext, build_context
    from detectors.known_fraud_similarity import KnownFraudSimilarityDetector
    from tianwang.backtest import read_applications, read_labels
    from tianwang.keys import personal_keys
    from tianwang.runtime import open_graph
    from tianwang.settings import load_settings

    started = time.perf_counter()
    applications, _ = read_applications(applications_path)
    labels = read_labels(labels_path)
    ordered = sorted(applications, key=lambda a: (a.submitted_ts, a.application_id))
    detector: KnownFraudSimilarityDetector = KnownFraudSimilarityDetector(
        {**(settings or {}), "index_path": None})
    window = timedelta(days=window_days)
    applicants = ApplicantResolver()
    history: list[LabelledContext] = []
    with tempfile.TemporaryDirectory(prefix="tianwang-similarity-") as tmp:
        replay = store is None
        graph = store if store is not None else open_graph(
            load_settings(db_path=Path(tmp) / "replay.db", secret=secret.decode()), "embedded")
        try:
            for i, app in enumerate(ordered):
                keys = personal_keys(app, graph.keyer)
                if replay:
                    graph.upsert_application(app, keys)
                context = build_context(app, graph.keyer, keys=keys, view=graph.as_of(app.submitted_ts),
                                        window=window, applicants=applicants)
                applicants.remember(app.application_id, context.keys.id_hash)
                detector.observe(context)
                label = labels.get(app.application_id)
                if label is not None:
                    history.append(LabelledContext(context, label.fraud, label.typology))
                if progress is not None and (i + 1) % 1000 == 0:
                    progress(i + 1, len(ordered))
        finally:
            if replay:
                graph.close()
    embedded = time.perf_counter()
    detector.fit(history)
    fitted = time.perf_counter()
    if detector.fraud_index is None or detector.legit_index is None:
        raise ValueError(f"no index written: {detector.fit_details.get('abstains', 'nothing to index')}")
    detector.save(str(out))
    return RebuildReport(
        path=out, applications=len(ordered), labelled=len(history), fraud=len(detector.fraud_index),
        legit_sample=len(detector.legit_index), kind=detector.fraud_index.kind, recall=detector.fraud_index.recall,
        embedder=detector.embedder.name,
        seconds={"contexts": round(embedded - started, 2), "fit": round(fitted - embedded, 2),
                 "save": round(time.perf_counter() - fitted, 2)},
    )


def register(app: typer.Typer) -> None:
    """Add the ``similarity`` sub-app (``similarity rebuild``) to ``app``."""
    similarity_app = typer.Typer(
        name="similarity", help="Similarity to known fraud: the FAISS index of confirmed fraud.", no_args_is_help=True
    )

    @similarity_app.command()
    def rebuild(
        applications: Annotated[
            Path, typer.Option("--applications", exists=True, dir_okay=False, help="Applications, NDJSON (schema v1).")
        ],
        labels: Annotated[
            Path,
            typer.Option("--labels", exists=True, dir_okay=False,
                         help="Labels or verdicts, NDJSON: application_id, label (fraud|legit), typology."),
        ],
        out: Annotated[Path, typer.Option("--out", dir_okay=False, help="Index file to write (replaced atomically).")],
        db: Annotated[
            Path | None,
            typer.Option("--db", exists=True, dir_okay=False,
                         help="Embedded store holding the applications, to read their links from (nothing is "
                              "written to it); default: replay them into a temporary store."),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option("--config", exists=True, dir_okay=False,
                         help="Scoring YAML whose known_fraud_similarity settings to use (default: shipped one)."),
        ] = None,
        embedder: Annotated[str | None, typer.Option(help="Embedder, overriding the configuration.")] = None,
        exact_below: Annotated[
            int | None, typer.Option(help="Index size from which the index is approximate (IVF).")] = None,
    ) -> None:
        """Rebuild the index of confirmed fraud from applications and their labels, and write it to --out.

        Point the detector at the file with ``settings: {index_path: <file>}``.
        """
        from tianwang.errors import TianwangError
        from tianwang.runtime import open_graph
        from tianwang.settings import load_settings

        try:
            settings, window = _detector_settings(config)
            settings.update({k: v for k, v in (("embedder", embedder), ("exact_below", exact_below)) if v is not None})
            with console.status("similarity: embedding applications in time order …", spinner="dots") as status:
                def progress(done: int, total: int) -> None:
                    status.update(f"similarity: embedded {done:,} of {total:,} applications …")

                if db is not None:
                    with open_graph(load_settings(db_path=db), "embedded") as store:
                        report = rebuild_similarity_index(applications, labels, out, settings=settings,
                                                          store=store, window_days=window, progress=progress)
                else:
                    report = rebuild_similarity_index(applications, labels, out, settings=settings,
                                                      window_days=window, progress=progress)
        except (TianwangError, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        recall = f"{report.recall:.3f}" if report.recall is not None else "n/a"
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in report.seconds.items())
        console.print(
            f"wrote {report.path}: {report.fraud:,} confirmed fraud cases and {report.legit_sample:,} legit for "
            f"contrast, from {report.labelled:,} labelled of {report.applications:,} applications; embedder "
            f"{report.embedder}, {report.kind} index (recall@10 vs exact {recall}); {stages}"
        )

    app.add_typer(similarity_app)
