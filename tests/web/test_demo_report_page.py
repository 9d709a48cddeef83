"""The demo's HTML report in Chromium, opened from the file system: every figure drawn, in Chinese and in
English, nothing asked of the network, no console error; a screenshot of each language in the artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fixtures.generator import generate
from tests.web.conftest import page_problems
from tests.web.test_no_raw_personal_data import leaks, raw_values
from tianwang.cli import app as cli
from tianwang.report.page import FIGURES

pytestmark = [pytest.mark.slow]

# per figure: its marks (what the data draws, class "mark"), their count and the box they fill on screen
MEASURE = """() => Array.from(document.querySelectorAll("svg[data-figure]")).map((svg) => {
  const marks = Array.from(svg.querySelectorAll(".mark"));
  const boxes = marks.map((m) => m.getBoundingClientRect()).filter((r) => r.width > 0 || r.height > 0);
  const left = Math.min(...boxes.map((r) => r.left)), right = Math.max(...boxes.map((r) => r.right));
  const top = Math.min(...boxes.map((r) => r.top)), bottom = Math.max(...boxes.map((r) => r.bottom));
  const shown = Array.from(svg.querySelectorAll("text")).filter((t) => getComputedStyle(t).display !== "none"
                                                                      && t.getBBox().width > 0);
  const svgBox = svg.getBoundingClientRect();
  return {figure: svg.dataset.figure, marks: marks.length, drawn: boxes.length,
          width: boxes.length ? right - left : 0, height: boxes.length ? bottom - top : 0,
          svgWidth: svgBox.width, svgHeight: svgBox.height, title: shown.length ? shown[0].textContent : ""};
})"""


APPLICATIONS, SEED = 1500, 7


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The demo at 1,500 applications: its report and what it printed."""
    folder = tmp_path_factory.mktemp("demo-report")
    report = folder / "report.html"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIANWANG_SECRET", "tianwang-test-demo-secret-0123456789abcdef")
        result = CliRunner().invoke(cli, ["demo", "--applications", str(APPLICATIONS), "--seed", str(SEED),
                                          "--db", str(folder / "demo.db"), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert f"report written to {report.resolve()}" in result.output.replace("\n", "")
    yield report, result.output


def test_no_raw_personal_value_in_the_report_or_the_demo_output(demo_run: tuple[Path, str], tmp_path: Path) -> None:
    report, output = demo_run
    generate(APPLICATIONS, SEED, tmp_path)  # the same applications again (the demo's folder is gone)
    raw = raw_values(tmp_path / "applications.ndjson")
    assert len(raw) > 3000
    html = report.read_bytes()
    assert b"****" in html  # attributes are drawn, masked
    assert leaks(html, raw) == set() and leaks(output.encode(), raw) == set()


@pytest.mark.browser
def test_every_figure_of_the_demo_report_is_drawn_in_both_languages(demo_run: tuple[Path, str], browser: Any,
                                                                   artifacts: Path) -> None:
    demo_report, _ = demo_run
    context = browser.new_context(locale="en-GB", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems = page_problems(page)
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(f"asked {r.url}"))
    page.goto(demo_report.resolve().as_uri())
    assert page.evaluate("document.documentElement.dataset.lang") == "en"  # the browser's language first
    for lang, heading in (("en", "Tianwang demo report"), ("zh", "天网演示报告")):
        page.click(f"button[data-set-lang={lang}]")
        assert page.evaluate("document.documentElement.dataset.lang") == lang
        assert page.inner_text("header h1") == heading
        figures = page.evaluate(MEASURE)
        names = [f["figure"] for f in figures]
        assert names[:len(FIGURES)] == list(FIGURES)
        assert len([n for n in names if n.startswith("ring-")]) == 3, names
        for figure in figures:
            assert figure["marks"] > 0 and figure["drawn"] > 0, figure
            assert figure["width"] > 0 and figure["height"] > 0, figure
            assert figure["svgWidth"] > 200 and figure["svgHeight"] > 150, figure
            if not figure["figure"].startswith("ring-"):
                chinese = any("\u4e00" <= c <= "\u9fff" for c in figure["title"])
                assert chinese == (lang == "zh"), figure
        page.screenshot(path=str(artifacts / f"demo-report-{lang}.png"), full_page=True)
    page.reload()
    assert page.evaluate("document.documentElement.dataset.lang") == "zh"  # the choice is remembered
    assert problems == []
    context.close()
