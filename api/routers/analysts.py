"""Analysts: detectors, the configuration and its versions (maker-checker), model bundles.

| method | path | roles |
| --- | --- | --- |
| GET | ``/v1/detectors`` | analyst, approver |
| GET | ``/v1/config`` | analyst, approver |
| GET | ``/v1/config/versions`` | analyst, approver |
| GET | ``/v1/config/versions/{version}`` | analyst, approver |
| POST | ``/v1/config/proposals`` | analyst |
| POST | ``/v1/config/proposals/{version}/approve`` | analyst, approver (not the proposer) |
| POST | ``/v1/config/proposals/{version}/reject`` | analyst, approver |
| POST | ``/v1/config/rollback`` | approver |
| GET | ``/v1/bundles`` | analyst, approver |
| POST | ``/v1/bundles/{name}/activate`` | approver |
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import Allow, ServiceDep, request_id
from api.links import link
from api.schemas import ErrorOut, Page
from api.schemas_analysts import BundleOut, ConfigVersionOut, DetectorOut, ProposalIn, ReviewIn
from tianwang.service import Service, bundles
from tianwang.service import analysts as use
from tianwang.service.accounts import Principal
from tianwang.service.follow import Follower

OptionalReview = Annotated[ReviewIn | None, Body(examples=[{"comment": "backtest looks right"}])]

router = APIRouter(tags=["analysts"])

Reader = Annotated[Principal, Depends(Allow("analyst", "approver"))]
Reviewer = Annotated[Principal, Depends(Allow("analyst", "approver"))]
Analyst = Annotated[Principal, Depends(Allow("analyst"))]
Approver = Annotated[Principal, Depends(Allow("approver"))]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="A configuration version number.", examples=[3])]
Cursor = Annotated[str | None, Query(max_length=500, description="The `next` of the previous page.")]
Limit = Annotated[int, Query(ge=1, le=200)]

_READ: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}


_CHANGE: dict[int | str, dict[str, Any]] = {**_READ, 400: {"model": ErrorOut, "description": "A body that is not "
                                                 "JSON."}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
                                            422: {"model": ErrorOut}}


def _version_links(version: str, *, review: bool = False) -> dict[str, dict[str, Any]]:
    links = {"GetVersion": link("GET", "/v1/config/versions/{version}", "The version.", version=version)}
    if review:
        links["Approve"] = link("POST", "/v1/config/proposals/{version}/approve", "Approve the proposal.",
                                version=version)
        links["Reject"] = link("POST", "/v1/config/proposals/{version}/reject", "Reject the proposal.",
                               version=version)
    return links


def on_start(service: Service) -> None:
    """Put the active configuration version (and bundle) in force; record version 1 on a first start.

    A process on a fixed configuration (a runtime opened with a loaded one) has no versions to serve."""
    if service.runtime.pipeline.source is None:
        return
    use.ensure_active_version(service)
    bundles.load_active_bundle(service)
    if service.settings.sync_seconds > 0:  # what another process activates reaches this one
        service.extras["follower"] = Follower(service, service.settings.sync_seconds).start()


def on_stop(service: Service) -> None:
    follower = service.extras.pop("follower", None)
    if follower is not None:
        follower.stop()


@router.get("/v1/detectors", response_model=list[DetectorOut], responses=_READ)
def detectors(service: ServiceDep, _: Reader) -> Any:
    """Every configured detector with its version, mode, weight in each strategy and whether it is trained;
    registered detectors that are not configured come last with mode ``off``."""
    return use.detector_list(service)


@router.get("/v1/config", response_model=ConfigVersionOut,
            responses={200: {"links": _version_links("$response.body#/version")}, **_READ})
def config(service: ServiceDep, _: Reader) -> Any:
    """The active configuration: version, YAML body, summary, when it was activated and by whom (``reviewed_by``)."""
    return use.active_config(service)


@router.get("/v1/config/versions", response_model=Page[ConfigVersionOut],
            responses={200: {"links": _version_links("$response.body#/data/0/version", review=True)}, **_READ})
def versions(service: ServiceDep, _: Reader, cursor: Cursor = None, limit: Limit = 50,
             status: Annotated[Literal["proposed", "active", "rejected", "superseded"] | None,
                               Query(description="Only versions in this status.")] = None) -> Any:
    """Every configuration version, newest first."""
    return use.list_versions(service, cursor=cursor, limit=limit, status=status).as_dict()


@router.get("/v1/config/versions/{version}", response_model=ConfigVersionOut, responses=_CHANGE)
def version(service: ServiceDep, _: Reader, version: Version) -> Any:
    """One version (a proposal shows its backtest beside the active version's)."""
    return use.get_version(service, version)


@router.post("/v1/config/proposals", response_model=ConfigVersionOut, status_code=201,
             responses={201: {"links": _version_links("$response.body#/version", review=True)}, **_CHANGE})
async def propose(request: Request, body: ProposalIn, service: ServiceDep, principal: Analyst) -> Any:
    """Propose a whole new configuration (YAML). It is validated (a ``422`` names ``body`` and the bad key),
    stored as ``proposed`` and backtested by a job; it runs only after another analyst or an approver
    approves it."""
    return await run_in_threadpool(use.propose, service, principal, body.body, body.summary,
                                   request_id=request_id(request))


@router.post("/v1/config/proposals/{version}/approve", response_model=ConfigVersionOut,
             responses={200: {"links": _version_links("$response.body#/version")}, **_CHANGE})
async def approve(request: Request, version: Version, service: ServiceDep, principal: Reviewer,
                  body: OptionalReview = None) -> Any:
    """Activate a proposal: scoring uses it from the next request, without a restart. Its proposer may not
    approve it (``409 self_approval``)."""
    return await run_in_threadpool(use.approve_proposal, service, principal, version,
                                   body.comment if body else "", request_id=request_id(request))


@router.post("/v1/config/proposals/{version}/reject", response_model=ConfigVersionOut,
             responses={200: {"links": _version_links("$response.body#/version")}, **_CHANGE})
def reject(request: Request, version: Version, service: ServiceDep, principal: Reviewer,
           body: OptionalReview = None) -> Any:
    """Reject a proposal (its proposer may withdraw it this way)."""
    return use.reject_proposal(service, principal, version, body.comment if body else "",
                               request_id=request_id(request))


@router.post("/v1/config/rollback", response_model=ConfigVersionOut,
             responses={200: {"links": _version_links("$response.body#/version")}, **_CHANGE})
async def rollback(request: Request, service: ServiceDep, principal: Approver, body: OptionalReview = None) -> Any:
    """Put the previously active version back in force (recorded as a new active version)."""
    return await run_in_threadpool(use.rollback, service, principal, body.comment if body else "",
                                   request_id=request_id(request))


@router.get("/v1/bundles", response_model=Page[BundleOut], responses={200: {"links": {"Activate": link(
    "POST", "/v1/bundles/{name}/activate", "Score with the newest bundle.", name="$response.body#/data/0/name")}},
    **_READ})
def bundle_list(service: ServiceDep, _: Reader, cursor: Cursor = None, limit: Limit = 50) -> Any:
    """Trained model bundles, newest first; ``active`` marks the one scoring uses."""
    return bundles.list_bundles(service, cursor=cursor, limit=limit).as_dict()


@router.post("/v1/bundles/{name}/activate", response_model=BundleOut, responses=_CHANGE)
async def activate_bundle(request: Request, service: ServiceDep, principal: Approver,
                          name: Annotated[str, Path(max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                                                    examples=["2026-12-01"])]) -> Any:
    """Score with bundle ``name`` from the next request on, without a restart (each decision names its bundle)."""
    return await run_in_threadpool(bundles.activate_bundle, service, principal, name,
                                   request_id=request_id(request))
