"""The investigator workbench: one page at ``/`` and its files under ``/static``.

Plain ES modules and vendored, prebuilt libraries (``static/vendor``, listed with their
licences in ``static/vendor/VENDORED.md``, refreshed by ``scripts/vendor-web.sh``): no
build step, nothing from a CDN. The page logs in with the session cookie
(``POST /v1/auth/session``) and calls the same ``/v1`` endpoints as every other client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount", "router"]

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    """The workbench (it routes itself: ``/#/queue``, ``/#/case/<id>``, ``/#/ring/<id>`` ...)."""
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def mount(app: FastAPI) -> None:
    """Serve the page and its files on ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
