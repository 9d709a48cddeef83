"""An investigator's way through the workbench, in Chromium: log in, take the next case, read its
reasons, see its network, open a ring and count its drawing against the service's answer, close
the case as fraud, find it closed and audited, switch the language, and meet no console error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.workbench import DEMO_PASSWORD
from tests.web.conftest import page_problems

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class Clicks:
    """Counts the clicks an investigator makes (the issue's "login to a closed case in five clicks")."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def __call__(self, selector: str) -> None:
        self.count += 1
        self.page.click(selector)


def graph_nodes(page: Any) -> int:
    page.wait_for_selector("#graph[data-ready]")
    return int(page.evaluate("document.getElementById('graph').cy.nodes().length"))


def test_an_investigator_closes_the_riskiest_case_and_reviews_a_ring(workbench, browser, artifacts: Path) -> None:
    base, data = workbench
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems = page_problems(page)
    api = httpx.Client(base_url=base, headers={"X-API-Key": data.admin_key}, timeout=30)

    # log in: the page speaks Chinese to a browser that prefers it
    page.goto(base + "/")
    page.wait_for_selector("#login-form")
    assert page.inner_text("#login-submit") == "登录"
    click = Clicks(page)
    page.fill("#username", "demo.investigator")
    page.fill("#password", DEMO_PASSWORD)
    click("#login-submit")
    page.wait_for_selector("#take-next")
    page.screenshot(path=str(artifacts / "workbench-queue.png"))

    # take the next case: the riskiest open one, now assigned to me
    waiting = api.get("/v1/cases", params={"assignee": "unassigned", "limit": 200}).json()["data"]
    riskiest = max(c["risk"] for c in waiting)
    click("#take-next")
    page.wait_for_selector("#case-title")
    case_id = page.url.rsplit("/", 1)[-1]
    case = api.get(f"/v1/cases/{case_id}").json()
    assert case["risk"] == riskiest and case["assignee"] == "demo.investigator"

    # its reasons, each with its Chinese title, in the decision's order
    codes = page.eval_on_selector_all("#reasons li.reason", "els => els.map(e => e.dataset.code)")
    assert codes == [r["code"] for r in case["decision"]["reasons"]] and codes
    assert page.eval_on_selector_all("#votes .vote", "els => els.length") == sum(
        1 for v in case["decision"]["votes"] if v.get("vote"))
    network = api.get(f"/v1/applications/{case['application_id']}/network",
                      params={"hops": 2, "max_neighbours": 25}).json()
    assert graph_nodes(page) == len(network["nodes"])
    page.screenshot(path=str(artifacts / "workbench-case.png"), full_page=True)

    # the assignee shows one masked value: the raw phone replaces it on the page, and the reveal is audited
    masked = page.inner_text("span[data-field='applicant.phone']")
    assert "*" in masked and page.inner_text("button[data-reveal='applicant.phone']") == "显示原值"
    page.click("button[data-reveal='applicant.phone']")
    page.wait_for_selector("span[data-field='applicant.phone']:not(.masked)")
    shown = page.inner_text("span[data-field='applicant.phone']")
    assert shown.isdigit() and shown[:3] == masked[:3] and shown[-4:] == masked[-4:]
    assert page.query_selector("button[data-reveal='applicant.phone']") is None
    reveals = api.get("/v1/audit", params={"action": "personal.reveal", "target_id": case["application_id"]}).json()
    assert [(r["detail"]["field"], r["detail"]["case_id"]) for r in reveals["data"]] == [("applicant.phone", case_id)]
    assert shown not in str(reveals)

    # a ring: drawn with the ring's nodes; a click on a node brings its neighbours
    ring_id = api.get("/v1/rings", params={"limit": 1}).json()["data"][0]["ring_id"]
    page.goto(f"{base}/#/ring/{ring_id}")
    ring = api.get(f"/v1/rings/{ring_id}").json()
    assert graph_nodes(page) == len(ring["nodes"]) and page.inner_text("#ring-title").endswith(ring_id)
    shared = next(n for n in ring["nodes"] if n["type"] != "Application" and not n.get("hub"))
    near = next(e["source"] if e["target"] == shared["id"] else e["target"] for e in ring["edges"]
                if shared["id"] in (e["source"], e["target"]))
    expanded = api.get(f"/v1/nodes/{shared['id']}/neighbours", params={"limit": 40, "near": near[4:]}).json()
    page.evaluate("id => document.getElementById('graph').cy.getElementById(id).emit('tap')", shared["id"])
    wanted = len({n["id"] for n in ring["nodes"]} | {n["id"] for n in expanded["nodes"]})
    page.wait_for_function(f"document.getElementById('graph').cy.nodes().length === {wanted}")
    page.screenshot(path=str(artifacts / "workbench-ring.png"), full_page=True)

    # back to the case: confirm fraud, close it
    page.go_back()
    page.wait_for_selector("#act-fraud")
    click("#act-fraud")
    page.select_option("#typology", "identity_theft")
    click("#close-submit")
    page.wait_for_selector("#case-title >> xpath=..//span[contains(@class,'status-closed')]")
    closed = api.get(f"/v1/cases/{case_id}").json()
    assert closed["status"] == "closed" and closed["outcome"] == "confirmed_fraud"
    assert closed["typology"] == "identity_theft"
    verdicts = api.get("/v1/verdicts", params={"application_id": case["application_id"]}).json()["data"]
    assert [(v["source"], v["fraud"], v["case_id"]) for v in verdicts] == [("case", True, case_id)]
    trail = api.get("/v1/audit", params={"action": "case.close", "target_id": case_id}).json()["data"]
    assert len(trail) == 1 and trail[0]["actor"] and "investigator" in trail[0]["roles"]
    assert click.count <= 5, f"{click.count} clicks from the login form to a closed case"

    # the language switch: every label changes, the choice is remembered
    assert page.inner_text("#nav-queue") == "审核队列"
    page.select_option("#lang", "en")
    page.wait_for_function("document.getElementById('nav-queue').textContent === 'Queue'")
    assert page.inner_text("#act-fraud" if page.query_selector("#act-fraud") else "#case-title").strip()
    page.reload()
    page.wait_for_selector("#case-title")
    assert page.inner_text("#nav-queue") == "Queue"
    page.screenshot(path=str(artifacts / "workbench-case-en.png"), full_page=True)

    assert problems == []
    context.close()


def test_nothing_personal_reaches_a_url_or_the_page_without_a_session(workbench, browser) -> None:
    base, _data = workbench
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(base + "/")
    page.wait_for_selector("#login-form")
    assert page.inner_text("#login-submit") == "Log in"
    assert page.evaluate("document.cookie") == ""  # the session cookie is HttpOnly; nothing else is set
    page.fill("#username", "demo.investigator")
    page.fill("#password", "wrong password here")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:not([hidden])")
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#take-next")
    page.click("#tab-all")
    page.wait_for_selector("#queue tbody tr")
    page.click("#queue tbody tr a")
    page.wait_for_selector("#graph[data-ready]")
    page.wait_for_timeout(300)
    digits = [u for u in urls if any(ch.isdigit() for ch in u.split("?")[-1]) and "phone" in u]
    assert digits == []
    assert all(token not in u for u in urls for token in ("id_number", "bank_account", "name="))
    assert page.evaluate("document.cookie") == ""
    context.close()


def test_an_analyst_lands_on_the_configuration_and_reads_dealers(workbench, browser) -> None:
    base, data = workbench
    api = httpx.Client(base_url=base, headers={"X-API-Key": data.admin_key}, timeout=30)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1300, "height": 900})
    page = context.new_page()
    problems = page_problems(page)
    page.goto(base + "/")
    page.fill("#username", "demo.approver")
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#nav-analysts")
    assert page.url.endswith("#/analysts") and page.query_selector("#nav-queue") is None  # no investigator role
    proposed = api.get("/v1/config/versions", params={"status": "proposed"}).json()["data"]
    page.wait_for_selector("section.panel")
    assert page.eval_on_selector_all("article.proposal", "els => els.length") == len(proposed)

    page.click("#nav-dealers")
    page.wait_for_selector("#dealers tbody tr")
    first = api.get("/v1/dealers", params={"limit": 50}).json()["data"]
    shown = page.eval_on_selector_all("#dealers tbody tr td:first-child", "els => els.map(e => e.textContent)")
    assert shown == [d["dealer_id"] for d in first]
    page.click("#dealers tbody tr a")
    page.wait_for_selector("#dealer-title")
    card = api.get(f"/v1/dealers/{first[0]['dealer_id']}/scorecard").json()
    rings = page.eval_on_selector_all("#dealer-rings tbody tr", "els => els.length") if card["rings"] else 0
    assert rings == len(card["rings"])
    assert problems == []
    context.close()
