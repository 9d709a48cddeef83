"""Every command and code sample in README.md and docs/ is checked or run, so the docs cannot drift.

One test per document and kind: fences carry a language the docs tests know; shell
commands (in ``sh`` blocks and inline spans) are checked against the code they name
(:mod:`tests.docs.checks`); ``python`` blocks run; ``json``, ``toml`` and ``yaml`` parse,
and YAML scoring configuration loads; every ``TIANWANG_*`` variable named is read by the
code (links: ``test_docs_content.py``). The README's service walkthrough
is run for real in ``test_readme_walkthrough.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs.checks import check_command, known_variables, parse_nginx
from tests.docs.markdown import LANGUAGES, ROOT, Block, blocks, commands, documents, inline_spans

DOCUMENTS = documents()
#: pages whose samples show what they print (a ``text`` block after the sample), compared when run
SHOWN_OUTPUT = {"graph-model.md", "detectors.md"}
IDS = [str(path.relative_to(ROOT)) for path in DOCUMENTS]

#: inline spans that are commands to check: those that start like one
_COMMAND_SPAN = re.compile(r"^(tianwang( -{1,2}[a-z]|\s+[a-z][a-z-]*( |$))|make [a-z]|python3? (bench|scripts)/|"
                           r"scripts/[\w-]+\.sh\b|pip install)")


def _of(path: Path, lang: str) -> list[Block]:
    return [block for block in blocks(path) if block.lang == lang]


def test_the_docs_set_is_found() -> None:
    names = {path.name for path in DOCUMENTS}
    assert {"README.md", "architecture.md", "operations.md", "benchmarks.md", "scoring.md"} <= names


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_every_fence_says_what_it_holds(path: Path) -> None:
    wrong = [f"{b.where}: ```{b.lang}" for b in blocks(path) if b.lang not in LANGUAGES]
    assert not wrong, f"fences need one of {sorted(LANGUAGES)} (see tests/docs/markdown.py): {wrong}"


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_shell_commands_are_true_to_the_code(path: Path) -> None:
    problems = [f"{command.where}: {command.text}\n    {problem}"
                for block in _of(path, "sh") for command in commands(block) for problem in check_command(command.text)]
    for line, span in inline_spans(path):
        if _COMMAND_SPAN.match(span) and "…" not in span:  # `python bench/….py`: prose naming a kind
            problems += [f"{path.relative_to(ROOT)}:{line}: `{span}`\n    {p}" for p in check_command(span)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_python_samples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples = _of(path, "python")
    if not samples:
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setenv("TIANWANG_DB_PATH", str(tmp_path / "graph.db"))
    monkeypatch.setenv("TIANWANG_STORE", "embedded")
    monkeypatch.delenv("TIANWANG_NEO4J_URI", raising=False)
    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem.replace('-', '_')}"}
    every = blocks(path)
    compared = 0
    for block in samples:
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(block.text, block.where, "exec"), namespace)  # the docs' own samples
        except Exception as exc:
            raise AssertionError(f"{block.where}: the sample fails: {type(exc).__name__}: {exc}") from exc
        after = every.index(block) + 1
        if after < len(every) and every[after].lang == "text" and printed.getvalue():  # the output it shows
            shown = every[after].text
            compared += 1
            assert printed.getvalue().rstrip("\n") == shown.rstrip("\n"), (
                f"{block.where}: the sample prints\n{printed.getvalue()}\nbut the page shows\n{shown}")
    if path.name in SHOWN_OUTPUT:
        assert compared, f"{path.relative_to(ROOT)} shows no sample's output any more"


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_data_samples_parse(path: Path) -> None:
    from detectors.registry import DetectorRegistry
    from tianwang.scoring.config import ScoringConfigError, parse_config

    problems: list[str] = []
    for block in blocks(path):
        try:
            if block.lang == "json":
                json.loads(block.text)
            elif block.lang == "toml":
                tomllib.loads(block.text)
            elif block.lang == "yaml":
                data = yaml.safe_load(block.text)
                if isinstance(data, dict) and ("detectors" in data or "strategies" in data):
                    parse_config(block.text, DetectorRegistry.with_plugins(), source=block.where)
            elif block.lang == "nginx":
                problems += [f"{block.where}: {p}" for p in parse_nginx(block.text)]
        except (ValueError, tomllib.TOMLDecodeError, yaml.YAMLError, ScoringConfigError) as exc:
            problems.append(f"{block.where}: {type(exc).__name__}: {exc}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_named_variables_are_read_by_the_code(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    unknown = sorted(set(re.findall(r"\bTIANWANG_[A-Z0-9_]+\b", text)) - known_variables())
    assert not unknown, f"{path.relative_to(ROOT)} names variables no code reads: {unknown}"


@pytest.mark.parametrize("command, problem", [
    ("tianwang ingest x.ndjson --no-such-flag", "no option --no-such-flag"),
    ("tianwang ingest x.ndjson --store mongo", "--store takes"),
    ("tianwang no-such-command", "is not one of its commands"),
    ("tianwang vault status | rotate [--batch-size N] | spin", "argument"),
    ("tianwang vault spin", "is not one of its commands"),
    ("tianwang stats extra", "takes 0 argument"),
    ("make no-such-target", "no target"),
    ("scripts/neo4j-dev.sh start|explode", "handles no verb 'explode'"),
    ("scripts/missing.sh start", "does not exist"),
    ("python bench/score.py --no-such-flag", "names no --no-such-flag"),
    ("curl -s -X DELETE http://127.0.0.1:8000/v1/applications/score", "no route DELETE"),
    ("export TIANWANG_NOT_A_SETTING=1", "read nowhere"),
    ("TIANWANG_NOT_A_SETTING=1 make test", "read nowhere"),
    ("eval \"export $(scripts/kafka-dev.sh explode)\"", "handles no verb"),
    ("pip install -e '.[nope]'", "no extra 'nope'"),
    ("frobnicate --now", "no docs check knows"),
])
def test_the_checks_catch_drift(command: str, problem: str) -> None:
    """Each checker fails on a command that is not true to the code (the checks can fail)."""
    assert any(problem in p for p in check_command(command)), check_command(command)


@pytest.mark.parametrize("command", [
    "tianwang vault status | rotate [--batch-size N] | new-key KEY_ID",
    "tianwang ingest applications.ndjson [--store embedded|neo4j] [--on-error skip|stop]",
    "scripts/neo4j-dev.sh start|stop|status",
    "curl -s -X POST http://127.0.0.1:8000/v1/applications/score --data @api/examples/application.json",
    "curl -s http://127.0.0.1:8000/v1/decisions/dec_1",
])
def test_true_commands_pass(command: str) -> None:
    assert check_command(command) == []
