"""Rings and networks, for investigators (and analysts): rings, one ring, a refresh, an application's network,
the shortest path between two applications, a node's neighbours, dealers and a dealer's scorecard.

| method | path | roles |
| --- | --- | --- |
| GET | ``/v1/rings`` | investigator, analyst |
| POST | ``/v1/rings/refresh`` | analyst |
| GET | ``/v1/rings/{ring_id}`` | investigator, analyst |
| GET | ``/v1/applications/{application_id}/network`` | investigator, analyst |
| GET | ``/v1/paths`` | investigator, analyst |
| GET | ``/v1/nodes/{node_id}/neighbours`` | investigator, analyst |
| GET | ``/v1/dealers`` | investigator, analyst |
| GET | ``/v1/dealers/{dealer_id}/scorecard`` | investigator, analyst |
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import Allow, ServiceDep, request_id
from api.links import link
from api.schemas import ErrorOut, Page
from api.schemas_rings import (
    DealerRowOut,
    DealerScorecardOut,
    NetworkOut,
    NodeNeighboursOut,
    PathOut,
    RingDetailOut,
    RingOut,
    RingRefreshOut,
)
from tianwang.application import APPLICATION_ID_PATTERN
from tianwang.service.accounts import Principal
from tianwang.service.network import network, node_neighbours, shortest_path
from tianwang.service.rings import dealer_scorecard, get_ring, list_dealers, list_rings, refresh_rings

router = APIRouter(tags=["rings"])

Reader = Annotated[Principal, Depends(Allow("investigator", "analyst"))]
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                                            422: {"model": ErrorOut}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {**_ERRORS, 404: {"model": ErrorOut}}
_APP_ID = Path(max_length=64, pattern=APPLICATION_ID_PATTERN, examples=["APP-000001"])


def _ring_links(ring_id: str) -> dict[str, dict[str, Any]]:
    return {
        "GetRing": link("GET", "/v1/rings/{ring_id}", "The ring, its members and subgraph.", ring_id=ring_id),
        "OpenRingCase": link("POST", "/v1/cases", "Open the ring's case.", body={"ring_id": ring_id}),
        "PostVerdict": link("POST", "/v1/verdicts", "A verdict on the whole ring.", body={"ring_id": ring_id}),
    }


_FIRST_DEALER_LINKS = {"GetScorecard": link("GET", "/v1/dealers/{dealer_id}/scorecard", "The riskiest dealer's "
                                            "scorecard.", dealer_id="$response.body#/data/0/dealer_id")}


@router.get("/v1/rings", response_model=Page[RingOut],
            responses={200: {"links": _ring_links("$response.body#/data/0/ring_id")}, **_ERRORS})
def rings(request: Request, service: ServiceDep, principal: Reader,
          min_size: Annotated[int | None, Query(ge=1, le=100_000)] = None,
          max_size: Annotated[int | None, Query(ge=1, le=100_000)] = None,
          min_risk: Annotated[float | None, Query(ge=0, le=1)] = None,
          dealer_id: Annotated[str | None, Query(max_length=64)] = None,
          since: Annotated[datetime | None, Query(description="Rings with an application submitted from then on.")]
          = None,
          until: Annotated[datetime | None, Query(description="... and up to then.")] = None,
          cursor: Annotated[str | None, Query(max_length=512, pattern="^[A-Za-z0-9_-]+$")] = None,
          limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    """The rings scoring uses, riskiest first; empty until a ring detection has run."""
    return list_rings(service, principal, min_size=min_size, max_size=max_size, min_risk=min_risk,
                      dealer_id=dealer_id, since=since, until=until, cursor=cursor, limit=limit,
                      request_id=request_id(request))


@router.post("/v1/rings/refresh", response_model=RingRefreshOut,
             responses={**_ERRORS, 200: {"links": {"ListRings": link("GET", "/v1/rings", "The rings found.")}},
                        409: {"model": ErrorOut, "description": "No fraud_ring detector is active."}})
async def refresh(request: Request, service: ServiceDep,
                  principal: Annotated[Principal, Depends(Allow("analyst"))]) -> Any:
    """Detect rings over the whole graph now and wait for them; scoring uses them from the next application."""
    return await run_in_threadpool(refresh_rings, service, principal, request_id=request_id(request))


@router.get("/v1/rings/{ring_id}", response_model=RingDetailOut,
            responses={200: {"links": _ring_links("$response.body#/ring_id")}, **_NOT_FOUND})
def ring(request: Request, service: ServiceDep, principal: Reader,
         ring_id: Annotated[str, Path(max_length=64, examples=["R-000001"])]) -> Any:
    """One ring: its applications, the attributes they share (masked), statistics and its subgraph."""
    return get_ring(service, principal, ring_id, request_id=request_id(request))


@router.get("/v1/applications/{application_id}/network", response_model=NetworkOut, responses=_NOT_FOUND)
def application_network(request: Request, service: ServiceDep, principal: Reader,
                        application_id: Annotated[str, _APP_ID],
                        hops: Annotated[int, Query(ge=1, le=2)] = 1,
                        max_neighbours: Annotated[int, Query(ge=1, le=500, description="A node with more "
                                                             "neighbours is shown as one hub.")] = 25) -> Any:
    """An application's network up to two hops; hubs collapsed, confirmed fraud flagged."""
    return network(service, principal, application_id, hops=hops, max_neighbours=max_neighbours,
                   request_id=request_id(request))


@router.get("/v1/paths", response_model=PathOut, response_model_by_alias=True, responses=_NOT_FOUND)
def path(request: Request, service: ServiceDep, principal: Reader,
         from_: Annotated[str, Query(alias="from", max_length=64, examples=["APP-000001"])],
         to: Annotated[str, Query(max_length=64, examples=["APP-000002"])],
         max_hops: Annotated[int, Query(ge=1, le=8)] = 6) -> Any:
    """The shortest path between two applications through what they share; 404 when none within ``max_hops``."""
    return shortest_path(service, principal, from_, to, max_hops=max_hops, request_id=request_id(request))


@router.get("/v1/nodes/{node_id}/neighbours", response_model=NodeNeighboursOut, responses=_NOT_FOUND)
def neighbours(request: Request, service: ServiceDep, principal: Reader,
               node_id: Annotated[str, Path(max_length=96, examples=["phone:3f2a9c1d0b7e6a51"])],
               limit: Annotated[int, Query(ge=1, le=200, description="Neighbours shown at most.")] = 50,
               max_neighbours: Annotated[int, Query(ge=1, le=500, description="A neighbour with more neighbours "
                                                    "is shown as one hub (as on the network).")] = 25,
               near: Annotated[str | None, Query(max_length=64, description="Optional: an application within two "
                                                 "hops of the node, where to look for a node this process has not "
                                                 "drawn.")] = None) -> Any:
    """A drawn node and its one-hop neighbours (masked, applications with their band and confirmed fraud, hubs
    collapsed); 404 ``not_found`` for an unknown or malformed id."""
    return node_neighbours(service, principal, node_id, near=near, limit=limit, max_neighbours=max_neighbours,
                           request_id=request_id(request))


@router.get("/v1/dealers", response_model=Page[DealerRowOut], responses={200: {"links": _FIRST_DEALER_LINKS},
                                                                        **_ERRORS})
def dealers(request: Request, service: ServiceDep, principal: Reader,
            sort: Annotated[Literal["risk", "applications", "dealer_id"], Query(
                description="`risk`: fraud rate, then the share in risky rings, highest first; `applications`: "
                            "most first; `dealer_id`.")] = "risk",
            min_applications: Annotated[int, Query(ge=0)] = 0,
            cursor: Annotated[str | None, Query(max_length=512, pattern="^[A-Za-z0-9_-]+$")] = None,
            limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    """Every dealer with the scorecard's figures, riskiest first by default."""
    return list_dealers(service, principal, sort=sort, min_applications=min_applications, cursor=cursor,
                        limit=limit, request_id=request_id(request))


@router.get("/v1/dealers/{dealer_id}/scorecard", response_model=DealerScorecardOut, responses=_NOT_FOUND)
def scorecard(request: Request, service: ServiceDep, principal: Reader,
              dealer_id: Annotated[str, Path(max_length=64, examples=["D-BJ-001"])]) -> Any:
    """A dealer's applications, decisions by band, fraud rate, inflated deals and the rings touching it."""
    return dealer_scorecard(service, principal, dealer_id, request_id=request_id(request))
