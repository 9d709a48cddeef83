"""Trained model bundles: fit everything once on labelled history, score with it anywhere.

:func:`train_bundle` ingests the applications into a fresh embedded store in time order
(each sees the graph as of its own time, as in :mod:`tianwang.backtest`), fits every
detector that trains, the strategies' fusion weights, the ring GNN and the known-fraud
index on them (:meth:`~tianwang.scoring.pipeline.ScoringPipeline.fit`), and writes one
folder under the bundle directory (``TIANWANG_BUNDLE_DIR``)::

    <name>/manifest.json   name, created_at, metrics, data range, detector versions, config version
    <name>/state.pkl       the fitted detectors and learned weights (pickle, format 1)

The fitted state is pickled: what a detector holds of a process (locks, its store) is
left out and made again on loading, and the pipeline binds the detectors to its own
store. A bundle is loaded only by a Tianwang whose detectors have the versions it was
trained with (:class:`BundleError` otherwise: retrain). Pickles run code when loaded:
load only bundles you wrote. Personal values are keyed with ``TIANWANG_SECRET``; train
with the secret of the service that will load the bundle.

:func:`load_bundle` puts a bundle's fitted detectors into a running pipeline without a
restart: the configuration in force stays, and each of its detectors whose settings
match the bundle's takes the bundle's fitted state (learned fusion weights come along
when the configuration is the one trained with). The service records which bundle is
active in ``model_bundles``; each decision names it (:func:`active_bundle_name`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import pickle
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from detectors.context import LabelledContext
from graph_schema.store import GraphStore
from tianwang import __version__
from tianwang.backtest import Label, read_applications, read_labels
from tianwang.errors import ConfigurationError, InvalidRequestError, NotFoundError
from tianwang.opsdb.models import ModelBundle, utcnow
from tianwang.opsdb.pagination import Page, paginate
from tianwang.runtime import open_runtime
from tianwang.scoring.config import LoadedConfig, ScoringConfig, parse_config
from tianwang.scoring.pipeline import ScoringPipeline
from tianwang.service import Service
from tianwang.service.audit import audit
from tianwang.service.heap import resettle_heap
from tianwang.settings import Settings

__all__ = [
    "FORMAT",
    "BundleError",
    "activate_bundle",
    "active_bundle_name",
    "list_bundles",
    "load_active_bundle",
    "load_bundle",
    "read_labels_file",
    "register_bundle",
    "train_bundle",
]

log = logging.getLogger(__name__)

FORMAT = 1
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LOCKS = (type(threading.Lock()), type(threading.RLock()))
_DROPPED = (GraphStore, sqlite3.Connection, Executor, threading.Thread)


class BundleError(ConfigurationError):
    """A bundle that cannot be written or loaded (missing, another format, other detector versions)."""


class _Pickler(pickle.Pickler):
    """Pickles fitted detectors: locks are made anew on loading, a store or thread is left out."""

    def persistent_id(self, obj: Any) -> str | None:
        return "dropped" if isinstance(obj, _DROPPED) else None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCKS):
            return (threading.RLock if "RLock" in type(obj).__name__ else threading.Lock), ()
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> None:
        return None


def active_bundle_name(service: Service) -> str | None:
    """The bundle the service scores with now (``None``: untrained detectors). Cheap: a dict lookup."""
    name = service.extras.get("bundle_name")
    return str(name) if name is not None else None


def read_labels_file(path: Path) -> dict[str, Label]:
    """Labels from NDJSON (as backtests read them) or CSV with columns ``application_id,label[,typology]``."""
    if path.suffix.lower() != ".csv":
        return read_labels(path)
    if not path.is_file():
        raise BundleError(f"labels file {path} does not exist")
    labels = {}
    with path.open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows):
            fraud = str(row.get("label", "")).strip().lower() in ("fraud", "true", "1")
            labels[str(row["application_id"])] = Label(fraud, (row.get("typology") or None) if fraud else None)
    return labels


def _check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidRequestError("name", "letters, digits, '.', '_' and '-', starting with a letter or digit")
    return name


def train_bundle(applications: Path, labels: Path, bundle_dir: Path, *, name: str | None = None,
                 config_text: str, config_version: int | None = None, settings: Settings | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Fit everything on the labelled history and write bundle ``name``; return its manifest."""
    from detectors.registry import DetectorRegistry
    from tianwang.settings import load_settings

    started = time.perf_counter()
    name = _check_name(name or datetime.now(UTC).strftime("bundle-%Y%m%dT%H%M%SZ"))
    final = Path(bundle_dir) / name
    if final.exists():
        raise BundleError(f"bundle {name!r} exists already in {bundle_dir}")
    apps, rejected = read_applications(Path(applications))
    known = read_labels_file(Path(labels))
    ordered = sorted(apps, key=lambda a: (a.submitted_ts, a.application_id))
    if not ordered:
        raise BundleError(f"no valid application in {applications}")
    loaded = parse_config(config_text, DetectorRegistry.with_plugins(), source="bundle configuration")
    secret = (settings or load_settings()).secret.get_secret_value()
    with tempfile.TemporaryDirectory(prefix="tianwang-train-") as tmp:
        runtime = open_runtime(load_settings(db_path=Path(tmp) / "train.db", secret=secret), store="embedded",
                               config=loaded, records="memory", checkpoints=False)
        try:
            pipeline = runtime.pipeline
            history = []
            for i, app in enumerate(ordered):
                context = pipeline.ingest(app)
                pipeline.settle()
                label = known.get(app.application_id)
                if label is not None:
                    history.append(LabelledContext(context, label.fraud, label.typology))
                if progress is not None and i % 1000 == 0:
                    progress(i, len(ordered))
            ingested = time.perf_counter()
            fit = pipeline.fit(history)
            fitted = time.perf_counter()
            learned = {s: lw for s, (version, lw) in pipeline._learned.items() if version == loaded.version}
            state = {"format": FORMAT, "tianwang": __version__, "config_text": config_text,
                     "detector_versions": {n: d.version for n, d in loaded.detectors.items()},
                     "detectors": dict(loaded.detectors), "learned": learned}
            buffer = io.BytesIO()
            _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
        finally:
            runtime.close()
    manifest = {
        "name": name, "format": FORMAT, "tianwang": __version__, "created_at": datetime.now(UTC).isoformat(),
        "data_range": {"from": ordered[0].submitted_at.isoformat(), "to": ordered[-1].submitted_at.isoformat()},
        "detector_versions": state["detector_versions"],
        "config": {"hash": loaded.version, "version": config_version},
        "metrics": {"n_applications": len(ordered), "n_rejected_lines": rejected, "n_labelled": len(history),
                    "n_fraud": sum(1 for h in history if h.fraud), "fit": _plain(fit),
                    "seconds": {"ingest": round(ingested - started, 2), "fit": round(fitted - ingested, 2),
                                "total": round(time.perf_counter() - started, 2)}},
    }
    Path(bundle_dir).mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=bundle_dir))
    try:
        (partial / "state.pkl").write_bytes(buffer.getvalue())
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
        partial.rename(final)  # a bundle appears whole or not at all
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities become ``null``, other objects their ``repr``."""
    return json.loads(json.dumps(value, default=repr), parse_constant=lambda _: None)


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BundleError(f"no bundle in {folder} (manifest.json missing or unreadable)") from None
    return manifest


def load_bundle(pipeline: ScoringPipeline, folder: Path, config_text: str | None = None) -> dict[str, Any]:
    """Put the bundle in ``folder`` into ``pipeline`` now, under ``config_text`` (default: its file's text).

    Returns the manifest, with ``loaded``: the detectors that took fitted state from the bundle.
    """
    manifest = read_manifest(folder)
    source = pipeline.source
    if source is None:
        raise BundleError("a pipeline with a fixed configuration cannot load a bundle")
    try:
        with (folder / "state.pkl").open("rb") as raw:
            state = _Unpickler(raw).load()
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise BundleError(f"bundle {folder.name!r} cannot be read: {type(exc).__name__}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise BundleError(f"bundle {folder.name!r} is not of format {FORMAT}: retrain it")
    for name, detector in state["detectors"].items():
        if detector.version != state["detector_versions"].get(name) or \
                source.registry.resolve(detector.name).version != detector.version:
            raise BundleError(f"bundle {folder.name!r} holds detector {name!r} version "
                              f"{state['detector_versions'].get(name)}; this Tianwang runs version "
                              f"{source.registry.resolve(detector.name).version}: retrain")
    text = config_text if config_text is not None else source.path.read_text(encoding="utf-8")
    trained = ScoringConfig.model_validate(yaml.safe_load(state["config_text"]))
    fitted = LoadedConfig(trained, state["detectors"], "bundle", f"bundle {folder.name}")
    loaded = source.install(text, source=f"bundle {folder.name}", fitted=fitted)
    if parse_config_hash(text) == parse_config_hash(state["config_text"]):
        for strategy, learned in state["learned"].items():
            pipeline._learned[strategy] = (loaded.version, learned)
    manifest["loaded"] = sorted(n for n, d in loaded.detectors.items() if d is state["detectors"].get(n))
    return manifest


def parse_config_hash(text: str) -> str:
    """The version hash :func:`~tianwang.scoring.config.parse_config` gives ``text``."""
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:12]


# -- the service's bundles --------------------------------------------------------------------
def _sync(service: Service) -> None:
    """Register bundles written to the bundle directory (by ``tianwang train``) that the table lacks."""
    folder = service.settings.bundles_path
    if not folder.is_dir():
        return
    with service.ops.session() as session:
        known = set(session.scalars(select(ModelBundle.name)))
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and NAME_RE.match(sub.name) and sub.name not in known and (sub / "manifest.json").is_file():
            register_bundle(service, sub.name)


def register_bundle(service: Service, name: str) -> None:
    """Record bundle ``name`` of the bundle directory in the table (not active)."""
    folder = service.settings.bundles_path / _check_name(name)
    manifest = read_manifest(folder)
    with service.ops.session() as session:
        if session.get(ModelBundle, name) is None:
            created = datetime.fromisoformat(manifest.get("created_at") or utcnow().isoformat())
            session.add(ModelBundle(name=name, path=str(folder), created_at=created,
                                    metrics=manifest.get("metrics", {}), data_range=manifest.get("data_range", {}),
                                    active=False))


def _view(row: ModelBundle) -> dict[str, Any]:
    return {"name": row.name, "created_at": row.created_at, "active": row.active, "activated_at": row.activated_at,
            "activated_by": row.activated_by, "metrics": row.metrics, "data_range": row.data_range}


def list_bundles(service: Service, *, cursor: str | None, limit: int) -> Page[Any]:
    _sync(service)
    with service.ops.session() as session:
        page = paginate(session, select(ModelBundle), [(ModelBundle.created_at, True), (ModelBundle.name, True)],
                        cursor=cursor, limit=limit)
        return Page([_view(r) for r in page.data], page.has_more, page.next)


def _config_text(service: Service) -> str:
    from tianwang.service.analysts import active_config

    return str(active_config(service)["body"])


def activate_bundle(service: Service, actor: Any, name: str, *, request_id: str | None = None) -> dict[str, Any]:
    """Score with bundle ``name`` from now on (no restart); audited."""
    _sync(service)
    text = _config_text(service)
    with service.ops.session() as session:
        row = session.get(ModelBundle, _check_name(name))
        if row is None:
            raise NotFoundError("bundle", name)
        manifest = load_bundle(service.runtime.pipeline, Path(row.path), text)
        for other in session.scalars(select(ModelBundle).where(ModelBundle.active)):
            other.active = False
        row.active, row.activated_at, row.activated_by = True, utcnow(), getattr(actor, "id", str(actor))
        audit(session, actor, "bundle.activate", "bundle", [name], request_id=request_id,
              detectors=manifest["loaded"])
        service.extras["bundle_name"] = name
        view = _view(row)
    resettle_heap()  # a serving process: the new models out of the collector's full passes, the old ones freed
    return view


def load_active_bundle(service: Service) -> str | None:
    """At start: load the bundle the table marks active, if any."""
    with service.ops.session() as session:
        row = session.scalar(select(ModelBundle).where(ModelBundle.active))
        name, path = (row.name, row.path) if row is not None else (None, None)
    if name is None or path is None:
        return None
    try:
        load_bundle(service.runtime.pipeline, Path(path), _config_text(service))
    except BundleError as exc:  # the service still starts; decisions say they came from no bundle
        log.error("the active bundle cannot be loaded; scoring without it", extra={"bundle": name,
                                                                                  "reason": str(exc)})
        return None
    service.extras["bundle_name"] = name
    return name
