"""The routers, one small module per group of endpoints.

:data:`MODULES` lists them in the order the OpenAPI document shows them. A module has a
``router``; it may also have ``on_start(service)`` / ``on_stop(service)``, which the
application's lifespan calls (background workers such as the webhook sender).
"""

from api.routers import analysts, applications, auth, cases, feedback, jobs, operations, rings, scoring, watchlist

__all__ = ["MODULES"]

MODULES = [operations, auth, scoring, applications, cases, feedback, rings, watchlist, analysts, jobs]
