"""Screenshots of the workbench for the documentation: docs/img/workbench-{queue,case,ring}.png.

    python scripts/screenshots.py [--out docs/img] [--lang zh-CN|en-US] [--demo]
    python scripts/screenshots.py --report tianwang-demo-report.html [--out docs/img]

With ``--report``, photographs the demo's HTML report instead (docs/img/demo-report.png:
its header, summary and figures).

Generates workbench data (fixtures.workbench.prepare_workbench) in a temporary folder,
starts ``tianwang serve`` on it and photographs the queue, the riskiest case and the
largest ring in Debian's chromium (``TIANWANG_CHROMIUM``, else ``chromium`` on the PATH;
``scripts/browser-dev.sh ensure`` installs it). With ``--demo`` it runs ``tianwang demo
--serve`` instead (--applications of them, the service on any free port), logs in as the
investigator it prints and photographs the queue and the riskiest case as
workbench-demo-{queue,case}.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.workbench import DEMO_PASSWORD, prepare_workbench, serve_workbench  # noqa: E402

SECRET = "workbench-screenshots-0123456789abcdef"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--lang", default="zh-CN", help="the browser's language (the page follows it)")
    parser.add_argument("--applications", type=int, default=1500)
    parser.add_argument("--report", type=Path, help="photograph this demo report instead of the workbench")
    parser.add_argument("--demo", action="store_true", help="photograph what `tianwang demo --serve` serves")
    args = parser.parse_args()
    chromium = os.environ.get("TIANWANG_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        raise SystemExit("no chromium: run scripts/browser-dev.sh ensure, or set TIANWANG_CHROMIUM")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(locale=args.lang, viewport={"width": 1400, "height": 1350})
            page.goto(args.report.resolve().as_uri())
            page.screenshot(path=str(args.out / "demo-report.png"), full_page=False)
            browser.close()
        print(args.out / "demo-report.png")
        return 0
    if args.demo:
        return demo_screenshots(args, chromium)
    with tempfile.TemporaryDirectory(prefix="tianwang-screenshots-") as tmp:
        folder = Path(tmp)
        data = prepare_workbench(folder, secret=SECRET, applications=args.applications)
        with serve_workbench(folder, secret=SECRET) as served, sync_playwright() as playwright:
            import httpx

            base = served.base
            api = httpx.Client(base_url=base, headers={"X-API-Key": data.admin_key}, timeout=30)
            rings = api.get("/v1/rings", params={"limit": 200}).json()["data"]
            ring = max(rings, key=lambda r: (r["risk"] >= 0.5, r["size"] <= 20, r["size"]))["ring_id"]
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(locale=args.lang, viewport={"width": 1400, "height": 900})
            queue_and_case(page, base, "demo.investigator", DEMO_PASSWORD, args.out, "workbench")
            page.goto(f"{base}/#/ring/{ring}")
            page.wait_for_selector("#graph[data-ready]")
            page.wait_for_timeout(800)
            page.screenshot(path=str(args.out / "workbench-ring.png"), full_page=True)
            browser.close()
    for name in ("queue", "case", "ring"):
        print(args.out / f"workbench-{name}.png")
    return 0


def queue_and_case(page: Any, base: str, username: str, password: str, out: Path, prefix: str) -> None:
    """Log in, photograph every open case in the queue (``PREFIX-queue.png``), take the next case and
    photograph it (``PREFIX-case.png``)."""
    page.goto(base.rstrip("/") + "/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_selector("#take-next")
    page.click("#tab-all")
    page.wait_for_selector("#queue tbody tr")
    page.screenshot(path=str(out / f"{prefix}-queue.png"))
    page.click("#take-next")
    page.wait_for_selector("#graph[data-ready]")
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / f"{prefix}-case.png"), full_page=True)


def demo_screenshots(args: argparse.Namespace, chromium: str) -> int:
    """Run ``tianwang demo --serve``, log in as the investigator it names, photograph the queue and a case."""
    import re
    import signal
    import subprocess

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="tianwang-screenshots-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TIANWANG_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
        demo = subprocess.Popen([sys.executable, "-m", "tianwang.cli", "demo", "--applications", str(args.applications),
                                 "--serve", "--port", "0", "--report", str(Path(tmp) / "report.html")],
                                cwd=tmp, env=env, stdout=subprocess.PIPE, text=True)
        try:
            said = ""
            for line in demo.stdout or []:
                said += line
                if line.startswith("Ctrl-C"):
                    break
            found = re.search(r"^workbench: (\S+)$.*^log in as (\S+), password (\S+)$", said, re.M | re.S)
            if found is None:
                raise SystemExit(f"tianwang demo --serve did not announce its workbench:\n{said}")
            base, username, password = found.groups()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(locale=args.lang, viewport={"width": 1400, "height": 900})
                queue_and_case(page, base, username, password, args.out, "workbench-demo")
                browser.close()
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=120)
    for name in ("queue", "case"):
        print(args.out / f"workbench-demo-{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
