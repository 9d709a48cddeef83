"""Logging in: ``POST /v1/auth/login`` and who am I, ``GET /v1/auth/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from api.deps import ServiceDep, get_principal
from api.schemas import ErrorOut, LoginIn, LoginOut, PrincipalOut
from tianwang.service.accounts import Principal

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/login", response_model=LoginOut, responses={401: {"model": ErrorOut}})
def login(body: LoginIn, service: ServiceDep) -> LoginOut:
    """Exchange a username and password for a login token (send it as ``Authorization: Bearer``)."""
    found = service.accounts.login(body.username, body.password)
    if found is None:
        raise HTTPException(401, "wrong username or password")
    token, principal = found
    return LoginOut(token=token, expires_in=service.accounts.token_ttl, user=PrincipalOut(**principal.as_dict()))


@router.get("/me", response_model=PrincipalOut, responses={401: {"model": ErrorOut}})
def me(principal: Annotated[Principal, Depends(get_principal)]) -> PrincipalOut:
    """The caller: a person or a system's key, with its roles (any valid credentials)."""
    return PrincipalOut(**principal.as_dict())
