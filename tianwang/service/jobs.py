"""Batch jobs started through the API: ring detection, training, index rebuild, backtest.

A :class:`JobRunner` keeps the jobs in the ``jobs`` table and runs them one at a time in
one worker thread (the jobs router starts it with the service and stops it with it).
A job is ``queued``, then ``running`` with a ``progress`` from 0 to 1, then
``succeeded`` with a ``result`` or ``failed`` with an ``error`` (Tianwang's own message,
else only the exception's type: never data). A job a crashed process left ``running``
is marked failed when the next runner starts; jobs still ``queued`` run then.

Kinds and their ``params``:

* ``ring_detection`` (``min_size``, ``resolution``, optional):
  :func:`tianwang.rings.job.detect_rings` on the store, with the stored labels.
* ``training`` (``applications``, ``labels``: files on the server; ``name``):
  :func:`tianwang.service.bundles.train_bundle`, registered, not activated.
* ``index_rebuild`` (none): hands every stored fraud label to the detectors again
  (known-fraud index, ring counts).
* ``backtest`` (``version``): a proposal's replay
  (:func:`tianwang.service.analysts.backtest_proposal`); with ``applications`` and
  ``labels`` files (and an optional ``version``, default the active one): a full
  point-in-time backtest (:func:`tianwang.backtest.run_backtest`).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tianwang.errors import InvalidRequestError, NotFoundError, TianwangError
from tianwang.ids import new_id
from tianwang.opsdb.models import ConfigVersion, Job, utcnow
from tianwang.opsdb.pagination import Page, paginate
from tianwang.service import Service

__all__ = ["KINDS", "JobRunner", "get_job", "list_jobs", "runner"]

log = logging.getLogger(__name__)

Progress = Callable[[float], None]
Handler = Callable[[Service, dict[str, Any], Progress], dict[str, Any]]


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become ``None``, tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _check_params(value: Any, where: str = "params") -> None:
    """Refuse what no database can keep, naming where it is: a NUL character in a text
    (PostgreSQL refuses it) and a whole number outside 64 bits."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidRequestError(where, "text cannot hold a NUL character")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise InvalidRequestError(where, "give a whole number between -2^63 and 2^63 - 1")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                raise InvalidRequestError(where, "a parameter's name cannot hold a NUL character")
            _check_params(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_params(item, f"{where}[{i}]")


def _file(service: Service, params: dict[str, Any], key: str) -> Path:
    """A job's input file: a path inside the job input folder (``TIANWANG_JOB_INPUT_DIR``), nowhere else."""
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"params.{key}", "give the path of a file in the job input folder")
    folder = service.settings.job_inputs_path.resolve()
    path = (folder / value).resolve()
    if not path.is_relative_to(folder):
        raise InvalidRequestError(f"params.{key}", "the file must be inside the job input folder "
                                                   "(TIANWANG_JOB_INPUT_DIR)")
    return path


def _ring_detection(service: Service, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from tianwang.rings.job import detect_rings
    from tianwang.service.analysts import labels

    with service.ops.session() as session:
        known = labels(session)
    progress(0.1)
    report = detect_rings(service.runtime.store, labels=known, min_size=int(params.get("min_size", 3)),
                          resolution=float(params.get("resolution", 1.0)))
    return {"rings": len(report.rings), "applicants": report.applicants, "links": report.links,
            "new_ids": report.new_ids, "retired_ids": report.retired_ids,
            "seconds": {k: round(v, 3) for k, v in report.timings.items()}}


def _training(service: Service, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from tianwang.service.bundles import register_bundle, train_bundle

    name = params.get("name")
    manifest = train_bundle(_file(service, params, "applications"), _file(service, params, "labels"),
                            service.settings.bundles_path,
                            name=str(name) if name else None, config_text=_active_text(service),
                            config_version=service.extras.get("config_version"), settings=service.settings,
                            progress=lambda done, total: progress(0.9 * done / max(total, 1)))
    register_bundle(service, manifest["name"])
    return manifest


def _active_text(service: Service) -> str:
    from tianwang.service.analysts import ensure_active_version

    version = ensure_active_version(service)
    with service.ops.session() as session:
        row = session.get(ConfigVersion, version)
        assert row is not None
        return row.body


def _index_rebuild(service: Service, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from tianwang.service.analysts import labels

    with service.ops.session() as session:
        known = labels(session)
    used: dict[str, int] = {}
    fraud = [app_id for app_id, is_fraud in known.items() if is_fraud]
    for i, app_id in enumerate(fraud):
        for name in service.runtime.pipeline.verdict(app_id, True):
            used[name] = used.get(name, 0) + 1
        if i % 100 == 0:
            progress(i / max(len(fraud), 1))
    return {"fraud_labels": len(fraud), "taken_in_by": used}


def _backtest(service: Service, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from tianwang.service.analysts import backtest_proposal, config_source

    version = params.get("version")
    if version is not None and not isinstance(version, int):
        raise InvalidRequestError("params.version", "a configuration version number")
    if "applications" not in params and "labels" not in params:
        if version is None:
            raise InvalidRequestError("params.version", "give a version, or applications and labels files")
        return backtest_proposal(service, version)
    from tianwang.backtest import run_backtest
    from tianwang.scoring.config import parse_config

    if version is None:
        text = _active_text(service)
    else:
        with service.ops.session() as session:
            row = session.get(ConfigVersion, version)
            if row is None:
                raise NotFoundError("configuration version", str(version))
            text = row.body
    loaded = parse_config(text, config_source(service).registry, source=f"config version {version}")
    report = run_backtest(_file(service, params, "applications"), _file(service, params, "labels"), loaded,
                          train_fraction=float(params.get("train_fraction", 0.6)),
                          progress=lambda _stage, done, total: progress(done / max(total, 1)))
    return {**report.as_json(), "band_counts": report.band_counts, "n_trained": report.n_trained}


#: what each kind runs
KINDS: dict[str, Handler] = {
    "ring_detection": _ring_detection,
    "training": _training,
    "index_rebuild": _index_rebuild,
    "backtest": _backtest,
}


def _view(job: Job) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "status": job.status, "params": job.params, "progress": job.progress,
            "result": job.result, "error": job.error, "created_by": job.created_by, "created_at": job.created_at,
            "started_at": job.started_at, "finished_at": job.finished_at}


class JobRunner:
    """Runs the service's jobs, one at a time, in one worker thread."""

    def __init__(self, service: Service, kinds: dict[str, Handler] | None = None) -> None:
        self.service = service
        self.kinds = dict(kinds or KINDS)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Fail jobs a crashed process left running, queue those still queued, start the worker."""
        with self.service.ops.session() as session:
            for job in session.scalars(select(Job).where(Job.status == "running")):
                job.status, job.finished_at = "failed", utcnow()
                job.error = "interrupted: the service stopped while the job ran"
            pending = list(session.scalars(select(Job.id).where(Job.status == "queued").order_by(Job.created_at)))
        for job_id in pending:
            self._queue.put(job_id)
        self._thread = threading.Thread(target=self._work, name="tianwang-jobs", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the worker thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the job running now (queued ones stay queued for the next start)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, kind: str, params: dict[str, Any], actor: Any) -> dict[str, Any]:
        """Queue a job; answer its view."""
        if kind not in self.kinds:
            raise InvalidRequestError("kind", f"one of {', '.join(sorted(self.kinds))}")
        _check_params(params)
        job = Job(id=new_id("job"), kind=kind, status="queued", params=_clean(params), progress=0.0,
                  created_by=getattr(actor, "id", None) or str(actor), created_at=utcnow())
        with self.service.ops.session() as session:
            session.add(job)
        self._queue.put(job.id)
        return _view(job)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            self.run(job_id)

    def run(self, job_id: str) -> None:
        """Run one queued job now (in the calling thread)."""
        with self.service.ops.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != "queued":
                return
            job.status, job.started_at = "running", utcnow()
            kind, params = job.kind, dict(job.params)

        def progress(share: float) -> None:
            with self.service.ops.session() as s:
                running = s.get(Job, job_id)
                if running is not None:
                    running.progress = round(min(max(share, 0.0), 1.0), 4)

        try:
            result, error = _clean(self.kinds[kind](self.service, params, progress)), None
        except Exception as exc:
            result = None
            error = str(exc) if isinstance(exc, TianwangError) else f"failed: {type(exc).__name__}"
            log.warning("job failed", extra={"job_id": job_id, "kind": kind, "error": type(exc).__name__})
        with self.service.ops.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            job.status = "failed" if error is not None else "succeeded"
            job.result, job.error, job.finished_at = result, error and error[:1000], utcnow()
            if error is None:
                job.progress = 1.0
        log.info("job finished", extra={"job_id": job_id, "kind": kind, "ok": error is None})


def runner(service: Service) -> JobRunner:
    """The service's job runner (made on first use; the jobs router starts its worker)."""
    found = service.extras.get("jobs")
    if found is None:
        found = service.extras["jobs"] = JobRunner(service)
    assert isinstance(found, JobRunner)
    return found


def get_job(service: Service, job_id: str) -> dict[str, Any]:
    with service.ops.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFoundError("job", job_id)
        return _view(job)


def list_jobs(service: Service, *, cursor: str | None, limit: int, kind: str | None = None,
              status: str | None = None) -> Page[Any]:
    """Jobs, newest first."""
    with service.ops.session() as session:
        stmt = select(Job)
        if kind is not None:
            stmt = stmt.where(Job.kind == kind)
        if status is not None:
            stmt = stmt.where(Job.status == status)
        page = paginate(session, stmt, [(Job.created_at, True), (Job.id, True)], cursor=cursor, limit=limit)
        return Page([_view(j) for j in page.data], page.has_more, page.next)
