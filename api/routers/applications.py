"""An application's details for the workbench, masked by role.

| method | path | roles |
| --- | --- | --- |
| GET | ``/v1/applications/{application_id}`` | investigator (personal fields masked), analyst (left out) |
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import Allow, ServiceDep, request_id
from api.schemas import ErrorOut
from tianwang.application import APPLICATION_ID_PATTERN
from tianwang.service.accounts import Principal
from tianwang.service.applications import application_details

router = APIRouter(tags=["cases"])


class ApplicationDetailsOut(BaseModel):
    """A stored application as the caller may see it."""

    application_id: str
    personal_fields: Literal["masked", "hidden"] = Field(
        description="`masked` for investigators (identity number, name, phones, address, account masked); "
                    "`hidden` for analysts (left out).")
    application: dict[str, Any] = Field(description="The application (schema v1 layout), redacted.")


@router.get("/v1/applications/{application_id}", response_model=ApplicationDetailsOut,
            responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}})
async def application(request: Request, service: ServiceDep,
                      principal: Annotated[Principal, Depends(Allow("investigator", "analyst"))],
                      application_id: Annotated[str, Path(max_length=64, pattern=APPLICATION_ID_PATTERN,
                                                           examples=["APP-00001296"])]) -> Any:
    """The stored application, personal fields masked (investigators) or left out (analysts); audited."""
    return await run_in_threadpool(application_details, service, principal, application_id,
                                   request_id=request_id(request))
