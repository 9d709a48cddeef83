"""Batch jobs: ring detection, training, index rebuild, backtest (:mod:`tianwang.service.jobs`).

| method | path | roles |
| --- | --- | --- |
| POST | ``/v1/jobs`` | analyst |
| GET | ``/v1/jobs`` | analyst, approver |
| GET | ``/v1/jobs/{job_id}`` | analyst, approver |
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from api.deps import Allow, ServiceDep
from api.links import link
from api.schemas import ErrorOut, Page
from api.schemas_analysts import JobIn, JobKind, JobOut
from tianwang.service import Service
from tianwang.service import jobs as use
from tianwang.service.accounts import Principal

router = APIRouter(tags=["jobs"])

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422)}
_JOB_LINKS = {"GetJob": link("GET", "/v1/jobs/{job_id}", "Follow the job.", job_id="$response.body#/id")}
_FIRST_JOB_LINKS = {"GetJob": link("GET", "/v1/jobs/{job_id}", "The newest job.", job_id="$response.body#/data/0/id")}


def on_start(service: Service) -> None:
    """Start the job worker (jobs a crashed process left running are marked failed first)."""
    use.runner(service).start()


def on_stop(service: Service) -> None:
    use.runner(service).stop()


@router.post("/v1/jobs", response_model=JobOut, status_code=202, responses={202: {"links": _JOB_LINKS}, **_ERRORS})
async def start(body: JobIn, service: ServiceDep,
                principal: Annotated[Principal, Depends(Allow("analyst"))]) -> Any:
    """Queue a job; follow it on ``GET /v1/jobs/{id}``.

    ``params`` by kind: ``ring_detection`` {min_size, resolution}; ``training`` {applications,
    labels (files on the server), name}; ``index_rebuild`` {}; ``backtest`` {version} (a
    proposal's replay on the stored decisions) or {applications, labels, version} (a full
    point-in-time backtest of a version on files).
    """
    return await run_in_threadpool(use.runner(service).submit, body.kind, body.params, principal)


@router.get("/v1/jobs", response_model=Page[JobOut], responses={200: {"links": _FIRST_JOB_LINKS}, **_ERRORS})
def jobs(service: ServiceDep, _: Annotated[Principal, Depends(Allow("analyst", "approver"))],
         cursor: Annotated[str | None, Query(max_length=500)] = None,
         limit: Annotated[int, Query(ge=1, le=200)] = 50, kind: JobKind | None = None,
         status: Literal["queued", "running", "succeeded", "failed"] | None = None) -> Any:
    """Jobs, newest first."""
    return use.list_jobs(service, cursor=cursor, limit=limit, kind=kind, status=status).as_dict()


@router.get("/v1/jobs/{job_id}", response_model=JobOut, responses=_ERRORS)
def job(service: ServiceDep, _: Annotated[Principal, Depends(Allow("analyst", "approver"))],
        job_id: Annotated[str, Path(max_length=64, examples=["job_019ae2b1c4d3a1b2c3d4e5f6"])]) -> Any:
    """One job: status, progress, and its result or error."""
    return use.get_job(service, job_id)
