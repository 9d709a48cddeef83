"""A served deployment on generated data (:func:`fixtures.workbench.prepare_workbench` and ``tianwang
serve``), and the workbench in a real browser against it: Debian's chromium driven by Playwright.

``TIANWANG_CHROMIUM`` names the browser (``make test`` installs it with
``scripts/browser-dev.sh``); without it the browser tests skip, except with ``CI=true``
where they fail. Screenshots go to ``TIANWANG_ARTIFACTS`` (default ``build/test-artifacts``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.workbench import WorkbenchData, prepare_workbench, serve_workbench

SECRET = "workbench-test-secret-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


def chromium_path() -> str:
    path = os.environ.get("TIANWANG_CHROMIUM") or shutil.which("chromium")
    if path:
        return path
    why = "no chromium: set TIANWANG_CHROMIUM or run scripts/browser-dev.sh ensure (make test does)"
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("TIANWANG_ARTIFACTS", ROOT / "build" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, WorkbenchData]]:
    folder = tmp_path_factory.mktemp("workbench")
    data = prepare_workbench(folder, secret=SECRET, applications=1500)
    with serve_workbench(folder, secret=SECRET) as served:
        yield served.base, data


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


def page_problems(page: Any) -> list[str]:
    """A list that fills with the console errors and warnings and the uncaught errors of ``page``."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems
