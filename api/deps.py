"""The one place the routers get what they need: the service, the caller and role checks.

* :func:`get_service` — the :class:`~tianwang.service.Service` the lifespan opened.
* :func:`get_principal` — who calls: an API key in ``X-API-Key`` (systems), a login
  token in ``Authorization: Bearer`` (people, scripts) or in the workbench's session
  cookie (people, in the page); 401 without valid credentials. A change (any method but
  GET, HEAD and OPTIONS) made with the session cookie must carry the anti-forgery token
  of that session in ``X-CSRF-Token``, else 403 ``forbidden``: another site can make
  a browser send the cookie, but cannot read or compute the token. A caller over its rate
  (:mod:`tianwang.service.limits`) is answered 429 with ``Retry-After``.
* :class:`Allow` — a route's roles: ``Depends(Allow("investigator"))`` answers 403 to a
  caller without one of them (``admin`` may do everything). The role matrix test reads
  these off the routes, so every route declares its roles here and nowhere else.

They are coroutines that read no database on the common path (a key seen in the last 30
seconds, a signed token): FastAPI runs a plain function dependency in its thread pool,
three thread handoffs per request that cost a scoring call more than the checks themselves.
"""

from __future__ import annotations

import math
from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tianwang.service import Service
from tianwang.service.accounts import Principal
from tianwang.service.limits import RateLimiter

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "Allow", "Caller", "ServiceDep", "get_principal", "get_service",
           "login_limiter", "rate_limiter", "request_id"]

#: the workbench's session cookie (a login token; HttpOnly, SameSite=Strict)
SESSION_COOKIE = "tianwang_session"
#: where the page sends its session's anti-forgery token
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (systems).")
bearer = HTTPBearer(auto_error=False, description="A login token from POST /v1/auth/login (people).")
session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description=(
    "The workbench's session, set by POST /v1/auth/session; changes also need its anti-forgery token in "
    "X-CSRF-Token."))


async def get_service(request: Request) -> Service:
    """The service the application's lifespan opened."""
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def request_id(request: Request) -> str | None:
    """The request's id (set by the request-id middleware, echoed in ``X-Request-ID``)."""
    return getattr(request.state, "request_id", None)


async def get_principal(
    request: Request,
    service: ServiceDep,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    session: Annotated[str | None, Security(session_cookie)] = None,
) -> Principal:
    """The caller, from an API key, a login token or the session cookie; 401 otherwise."""
    principal = None
    if api_key:
        principal = service.accounts.cached_key(api_key) or await run_sync(service.accounts.from_key, api_key)
    elif token is not None:
        principal = service.accounts.from_token(token.credentials)
    elif session:
        principal = service.accounts.from_token(session)
        if principal is not None and request.method not in _SAFE_METHODS and not service.accounts.csrf_matches(
                session, request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, f"a change made with the session cookie needs its {CSRF_HEADER} header")
    if principal is None:
        raise HTTPException(401, "give a valid API key (X-API-Key) or login token (Authorization: Bearer)",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    wait = rate_limiter(service).take(principal.id)
    if wait is not None:
        raise HTTPException(429, f"more than {service.settings.rate_limit:g} requests a second: slow down",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return principal


def rate_limiter(service: Service) -> RateLimiter:
    """The process's per-caller request limiter (``TIANWANG_RATE_LIMIT``, ``TIANWANG_RATE_BURST``)."""
    limiter: RateLimiter | None = service.extras.get("rate_limiter")
    if limiter is None:
        limiter = service.extras["rate_limiter"] = RateLimiter(service.settings.rate_limit,
                                                               service.settings.rate_burst)
    return limiter


def login_limiter(service: Service) -> RateLimiter:
    """The process's login-attempt limiter, by username (``TIANWANG_LOGIN_ATTEMPTS_PER_MINUTE``)."""
    limiter: RateLimiter | None = service.extras.get("login_limiter")
    if limiter is None:
        per_minute = service.settings.login_attempts_per_minute
        limiter = service.extras["login_limiter"] = RateLimiter(per_minute / 60.0, per_minute)
    return limiter


class Allow:
    """A dependency that lets through callers holding one of ``roles`` (or ``admin``)."""

    def __init__(self, *roles: str) -> None:
        self.roles = frozenset(roles) | {"admin"}

    async def __call__(self, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.roles & self.roles:
            raise HTTPException(403, f"this needs one of the roles {', '.join(sorted(self.roles))}")
        return principal

    def __repr__(self) -> str:
        return f"Allow({', '.join(sorted(self.roles))})"


def Caller(*roles: str) -> type[Principal]:
    """``principal: Caller("investigator")`` — the caller, allowed only with one of ``roles``."""
    return Annotated[Principal, Depends(Allow(*roles))]  # type: ignore[return-value]
