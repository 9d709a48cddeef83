"""The watchlist, for investigators: add a value, remove an entry, list them (masked hints only).

| method | path | roles |
| --- | --- | --- |
| POST | ``/v1/watchlist`` | investigator |
| GET | ``/v1/watchlist`` | investigator |
| DELETE | ``/v1/watchlist/{entry_id}`` | investigator |
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.deps import Allow, ServiceDep, request_id
from api.links import link
from api.schemas import ErrorOut, Page
from api.schemas_rings import WatchlistEntryIn, WatchlistEntryOut
from tianwang.service.accounts import Principal
from tianwang.service.watchlist import add_entry, list_entries, remove_entry

router = APIRouter(prefix="/v1/watchlist", tags=["watchlist"])

Investigator = Annotated[Principal, Depends(Allow("investigator"))]
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                                            422: {"model": ErrorOut}}
_ENTRY_LINKS = {"RemoveEntry": link("DELETE", "/v1/watchlist/{entry_id}", "Take the entry off the watchlist.",
                                    entry_id="$response.body#/entry_id")}
_FIRST_ENTRY_LINKS = {"RemoveEntry": link("DELETE", "/v1/watchlist/{entry_id}", "Take the newest entry off the "
                                          "watchlist.", entry_id="$response.body#/data/0/entry_id")}


@router.post("", response_model=WatchlistEntryOut, status_code=201,
             responses={201: {"links": _ENTRY_LINKS}, 200: {"model": WatchlistEntryOut, "description": "Listed "
                        "before: the entry, updated.", "links": _ENTRY_LINKS}, **_ERRORS})
def add(body: WatchlistEntryIn, request: Request, response: Response, service: ServiceDep,
        principal: Investigator) -> Any:
    """Put a value on the watchlist: from the next score on, an application carrying it gets the
    ``watchlist`` detector's vote. The value is stored only as its key; the answer shows a masked hint."""
    entry, created = add_entry(service, principal, body.kind, body.value, reason=body.reason,
                               expires_at=body.expires_at, request_id=request_id(request))
    response.status_code = 201 if created else 200
    return entry


@router.get("", response_model=Page[WatchlistEntryOut], responses={200: {"links": _FIRST_ENTRY_LINKS},
                                                                **_ERRORS})
def entries(request: Request, service: ServiceDep, principal: Investigator,
            cursor: Annotated[str | None, Query(max_length=512, pattern="^[A-Za-z0-9_-]+$",
                                                description="`pagination.next` of the last page.")] = None,
            limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    """The watchlist, newest first, with masked hints only."""
    return list_entries(service, principal, cursor=cursor, limit=limit, request_id=request_id(request))


@router.delete("/{entry_id}", response_model=WatchlistEntryOut,
               responses={**_ERRORS, 200: {"links": _ENTRY_LINKS}, 404: {"model": ErrorOut}})
def remove(request: Request, service: ServiceDep, principal: Investigator,
           entry_id: Annotated[str, Path(max_length=64, examples=["wl_019ae2b1c4d3a1b2c3d4e5f6"])]) -> Any:
    """Take an entry off the watchlist (it stops counting from the next score)."""
    return remove_entry(service, principal, entry_id, request_id=request_id(request))
