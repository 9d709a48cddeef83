"""What the docs say, checked against the code, so that neither can drift from the other.

* the graph model's diagram is what ``scripts/draw_graph_model.py`` draws now, and its
  tables are ``graph_schema.schema``'s labels, keys and relationship types;
* ``docs/configuration.md`` names every ``TIANWANG_*`` variable that settings, code and
  scripts read, and nothing else;
* ``docs/openapi.json`` is the document the application serves now;
* the worked plugin ``examples/night_owl`` installs with pip and is found through its entry point;
* ``docs/README.md`` lists every page of the docs, and every relative link of README.md and
  the docs resolves, headings included.

(``tests/docs/test_docs_blocks.py`` checks every fenced block of README.md and docs/*.md
against the CLI, the scripts and the configuration loader, and runs the Python samples.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from graph_schema.schema import NODE_TYPES, RELATIONSHIP_TYPES
from tests.docs.checks import known_variables
from tests.docs.markdown import blocks, documents
from tianwang.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[A-Za-z]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.MULTILINE | re.DOTALL)


def table_under(text: str, heading: str) -> list[list[str]]:
    """The rows (cells stripped, header and rule left out) of every table in the section ``heading``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip("#").strip() == heading and line.startswith("#"))
    level = len(lines[start]) - len(lines[start].lstrip("#"))
    rows: list[list[str]] = []
    header = True
    for line in lines[start + 1:]:
        if line.startswith("#") and len(line) - len(line.lstrip("#")) <= level:
            break
        if not line.startswith("|"):
            header = True
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header:  # the header row; the rule follows it
            header = False
            continue
        if not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    return rows


def code_names(cell: str) -> list[str]:
    """The `code` spans of a table cell."""
    return re.findall(r"`([^`]+)`", cell)


def load_script(name: str) -> ModuleType:
    """A script of ``scripts/`` as a module."""
    spec = importlib.util.spec_from_file_location(f"docs_script_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the graph model ------------------------------------------------------------------------


def test_the_graph_model_drawing_is_what_graph_schema_draws_now() -> None:
    drawn = load_script("draw_graph_model").graph_model_svg()
    committed = (DOCS / "img" / "graph-model.svg").read_text(encoding="utf-8")
    assert committed == drawn, "docs/img/graph-model.svg is out of date: run python scripts/draw_graph_model.py"
    for label in NODE_TYPES:
        assert f'data-label="{label.value}"' in drawn
    for rel_type in RELATIONSHIP_TYPES:
        assert f'data-type="{rel_type.value}"' in drawn


def test_the_graph_model_page_names_every_label_key_and_relationship_type() -> None:
    page = (DOCS / "graph-model.md").read_text(encoding="utf-8")
    assert "img/graph-model.svg" in page
    nodes = [(code_names(row[0])[0], code_names(row[1])[0], row[2]) for row in table_under(page, "Nodes")]
    assert nodes == [(t.label.value, t.key, "HMAC" if t.personal else "plain") for t in NODE_TYPES.values()]
    rels = [tuple(code_names(cell)[0] for cell in row[:3]) for row in table_under(page, "Relationships")]
    assert rels == [(t.type.value, t.source.value, t.target.value) for t in RELATIONSHIP_TYPES.values()]


# -- writing a detector: the worked plugin -------------------------------------------------


def test_the_entry_point_shown_is_the_example_plugins_own() -> None:
    shown = tomllib.loads(next(b.text for b in blocks(DOCS / "detectors.md") if b.lang == "toml"))
    pyproject = tomllib.loads((ROOT / "examples" / "night_owl" / "pyproject.toml").read_text(encoding="utf-8"))
    assert shown["project"]["entry-points"] == pyproject["project"]["entry-points"]


def test_the_example_plugin_installs_with_pip_and_its_tests_pass(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """As a user would: ``pip install`` the example, and Tianwang finds it through its entry point."""
    source = shutil.copytree(ROOT / "examples" / "night_owl", tmp_path / "night_owl",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site-packages"
    # offline with the environment's setuptools; where it has none (Python 3.12+ venvs), pip fetches it
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *offline,
                    "--target", str(target), str(source)],
                   check=True, capture_output=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert (target / "tianwang_night_owl").is_dir()
    monkeypatch.syspath_prepend(str(target))  # where pip put it: importlib.metadata reads its entry points there
    monkeypatch.delitem(sys.modules, "tianwang_night_owl", raising=False)
    try:
        from detectors import DetectorRegistry

        registry = DetectorRegistry.with_plugins()
        owl = registry.resolve("night_owl")
        installed = Path(sys.modules[owl.__module__].__file__ or "")
        assert owl.__module__ == "tianwang_night_owl" and installed.is_relative_to(target)
        spec = importlib.util.spec_from_file_location("night_owl_own_tests", source / "tests" / "test_night_owl.py")
        assert spec is not None and spec.loader is not None
        own_tests = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(own_tests)
        names = [name for name in vars(own_tests) if name.startswith("test_")]
        assert names, "examples/night_owl/tests has no tests"
        for name in names:
            getattr(own_tests, name)()
    finally:
        sys.modules.pop("tianwang_night_owl", None)


# -- configuration ---------------------------------------------------------------------------

ENV_NAME = re.compile(r"\bTIANWANG_[A-Z0-9_]*[A-Z0-9]\b")


def test_the_configuration_page_names_every_variable_and_no_other() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented: list[str] = []
    for row in table_under(page, "Environment variables"):
        documented += [name for name in code_names(row[0]) if ENV_NAME.fullmatch(name)]
    assert len(documented) == len(set(documented)), "a variable has two rows"
    known = set(known_variables())
    assert not known - set(documented), f"not in docs/configuration.md: {sorted(known - set(documented))}"
    assert not set(documented) - known, f"read by nothing: {sorted(set(documented) - known)}"


def test_the_configuration_page_gives_each_setting_its_default() -> None:
    """The numeric defaults in the table are ``Settings``' own (a changed default changes the page)."""
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    rows = {code_names(row[0])[0]: row for row in table_under(page, "The service and the command line")}
    for field, info in Settings.model_fields.items():
        default = info.default
        if isinstance(default, bool) or not isinstance(default, int | float) or default >= 1 << 20:
            continue
        row = rows.get(f"TIANWANG_{field.upper()}")
        if row is None:  # a grouped row: defaults in the order of its variables
            row = next(r for r in rows.values() if f"`TIANWANG_{field.upper()}`" in r[0])
            position = code_names(row[0]).index(f"TIANWANG_{field.upper()}")
            shown = code_names(row[2])[position] if len(code_names(row[2])) > position else row[2]
        else:
            shown = code_names(row[2])[0] if code_names(row[2]) else row[2]
        assert float(shown) == float(default), f"TIANWANG_{field.upper()}: the page says {shown}, Settings {default}"


# -- the API ---------------------------------------------------------------------------------


def test_the_committed_openapi_document_is_what_the_application_generates() -> None:
    generated = load_script("export_openapi").openapi_json()
    committed = (DOCS / "openapi.json").read_text(encoding="utf-8")
    assert json.loads(committed) == json.loads(generated), (
        "docs/openapi.json is out of date: run python scripts/export_openapi.py")
    assert committed == generated


# -- the set of pages ------------------------------------------------------------------------

LINK = re.compile(r"\]\((?!https?://|mailto:)([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of the headings of a markdown page."""
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_the_index_lists_every_page_once() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    listed = [code for row in table_under(index, "Tianwang's documentation")
              for code in re.findall(r"\]\(([\w-]+\.md)\)", row[0])]
    pages = sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md")
    assert sorted(listed) == pages


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    page = path.relative_to(ROOT)
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{page} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page} links to {target}: no such heading"
