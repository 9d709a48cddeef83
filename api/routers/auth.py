"""Logging in: a token for scripts, a session for the workbench, and who am I.

| method | path | what |
| --- | --- | --- |
| POST | ``/v1/auth/login`` | a login token (``Authorization: Bearer``) |
| POST | ``/v1/auth/session`` | the workbench's session cookie and its anti-forgery token |
| GET | ``/v1/auth/session`` | the session's person and anti-forgery token again (a reloaded page), or nulls |
| DELETE | ``/v1/auth/session`` | log out: the cookie is cleared |
| GET | ``/v1/auth/me`` | the caller |

The session cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict``, ``Path=/``
and ``Secure`` when the request came over TLS (``https``, also as told by a proxy's
``X-Forwarded-Proto`` under ``uvicorn --proxy-headers``). Changes made with it need
``X-CSRF-Token`` (see :mod:`api.deps`).
"""

from __future__ import annotations

import math
from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, HTTPException, Request, Response, Security

from api.deps import SESSION_COOKIE, ServiceDep, get_principal, login_limiter, session_cookie
from api.schemas import ErrorOut, LoginIn, LoginOut, PrincipalOut, SessionOut
from tianwang.service import Service
from tianwang.service.accounts import Principal

router = APIRouter(prefix="/v1/auth", tags=["auth"])

_WRONG = "wrong username or password"


def _attempt(service: Service, username: str) -> None:
    """Count a login attempt for ``username``; 429 with ``Retry-After`` past the limit a minute."""
    wait = login_limiter(service).take(username.lower())
    if wait is not None:
        raise HTTPException(429, f"more than {service.settings.login_attempts_per_minute} login attempts a minute "
                                 "for this username: wait", headers={"Retry-After": str(max(1, math.ceil(wait)))})


@router.post("/login", response_model=LoginOut, responses={401: {"model": ErrorOut}, 429: {"model": ErrorOut}})
def login(body: LoginIn, service: ServiceDep) -> LoginOut:
    """Exchange a username and password for a login token (send it as ``Authorization: Bearer``)."""
    _attempt(service, body.username)
    found = service.accounts.login(body.username, body.password)
    if found is None:
        raise HTTPException(401, _WRONG)
    token, principal = found
    return LoginOut(token=token, expires_in=service.accounts.token_ttl, user=PrincipalOut(**principal.as_dict()))


@router.post("/session", response_model=SessionOut, responses={401: {"model": ErrorOut}, 429: {"model": ErrorOut}})
async def open_session(body: LoginIn, request: Request, response: Response, service: ServiceDep) -> SessionOut:
    """Log in for the workbench: the session arrives as an ``HttpOnly`` cookie, the answer
    holds the anti-forgery token to send in ``X-CSRF-Token`` with every change."""
    _attempt(service, body.username)
    found = await run_sync(service.accounts.login, body.username, body.password)
    if found is None:
        raise HTTPException(401, _WRONG)
    token, principal = found
    response.set_cookie(SESSION_COOKIE, token, max_age=service.accounts.token_ttl, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(user=PrincipalOut(**principal.as_dict()), csrf_token=service.accounts.csrf_token(token),
                      expires_in=service.accounts.token_ttl)


@router.get("/session", response_model=SessionOut)
async def current_session(response: Response, service: ServiceDep,
                          session: Annotated[str | None, Security(session_cookie)] = None) -> SessionOut:
    """The person the session cookie names and its anti-forgery token (a page loaded again); ``user``
    null without a valid session (the page then shows its login form)."""
    response.headers["Cache-Control"] = "no-store"
    principal = service.accounts.from_token(session) if session else None
    if principal is None or session is None:
        return SessionOut(user=None, csrf_token=None, expires_in=0)
    return SessionOut(user=PrincipalOut(**principal.as_dict()), csrf_token=service.accounts.csrf_token(session),
                      expires_in=service.accounts.token_ttl)


@router.delete("/session", status_code=204, responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
async def close_session(request: Request, _: Annotated[Principal, Depends(get_principal)]) -> Response:
    """Log out of the workbench: the session cookie is cleared (with the session's ``X-CSRF-Token``)."""
    answer = Response(status_code=204)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                         secure=request.url.scheme == "https")
    return answer


@router.get("/me", response_model=PrincipalOut, responses={401: {"model": ErrorOut}})
def me(principal: Annotated[Principal, Depends(get_principal)]) -> PrincipalOut:
    """The caller: a person or a system's key, with its roles (any valid credentials)."""
    return PrincipalOut(**principal.as_dict())
