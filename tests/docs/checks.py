"""What a documented shell command is checked against: the code it names.

:func:`check_command` returns the problems of one command (empty when it is true to the
code). Each kind of command has its checker: ``tianwang`` against the CLI's commands,
options, arguments and choices; ``make`` against the Makefile's targets; ``scripts/*.sh``
against the verbs the script handles; ``python bench/*.py`` and ``python scripts/*.py``
against their ``--help``; ``curl`` against the API's routes and methods; ``export`` and
``VAR=value`` prefixes against the ``TIANWANG_*`` variables the code reads; ``pip install
-e '.[extra]'`` against pyproject's extras. A command of another kind is a problem until a
checker is added here, except for the plain system tools of a runbook (:data:`SYSTEM_TOOLS`).
"""

from __future__ import annotations

import enum
import functools
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from tests.docs.markdown import ROOT, words

__all__ = ["SYSTEM_TOOLS", "check_command", "known_variables", "openapi_routes"]

#: tools of the operating system a runbook may name; they are not ours to check
SYSTEM_TOOLS = frozenset({"cd", "mv", "rm", "cp", "mkdir", "ls", "cat", "systemctl", "openssl", "git", "kill",
                          "chmod", "tar", "sha256sum"})

_VARIABLE = re.compile(r"\bTIANWANG_[A-Z0-9_]*[A-Z0-9]\b")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")


#: where variables are read: the packages, the benchmarks, the scripts (and the Makefile, CI, the test fixtures)
READERS = ("tianwang", "graph_schema", "detectors", "embeddings", "api", "fixtures", "bench", "scripts")


@functools.cache
def known_variables() -> frozenset[str]:
    """``Settings``' variables, and every ``TIANWANG_*`` name the code, the scripts, the Makefile, CI and the
    test fixtures read or set (not the tests themselves: a test may name a variable that does not exist)."""
    from tianwang.settings import Settings

    prefix = str(Settings.model_config.get("env_prefix", ""))
    names = {f"{prefix}{field}".upper() for field in Settings.model_fields}
    files = [path for folder in READERS for path in (ROOT / folder).rglob("*")
             if path.suffix in (".py", ".sh") and "__pycache__" not in path.parts]
    files += [ROOT / "Makefile", ROOT / ".ci" / "run", *(ROOT / "tests").rglob("conftest.py")]
    for path in files:
        if path.is_file():
            names |= set(_VARIABLE.findall(path.read_text(encoding="utf-8", errors="replace")))
    return frozenset(names)


@functools.cache
def _cli() -> Any:
    """The ``tianwang`` command tree (typer's own click: commands, groups with ``.commands``)."""
    import typer

    from tianwang.cli import app

    return typer.main.get_command(app)


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def _choices(param: Any) -> list[str] | None:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    return None


@functools.cache
def openapi_routes() -> frozenset[tuple[str, str]]:
    """(METHOD, path pattern) of every route the service answers."""
    from api.app import create_app

    spec = create_app().openapi()
    return frozenset((method.upper(), path) for path, item in spec["paths"].items() for method in item)


def check_command(text: str) -> list[str]:
    """The problems of one documented command (``text`` as written, synopsis notation allowed)."""
    problems = [f"$({inner}): {p}" for inner in _SUBSTITUTION.findall(text) for p in check_command(inner)]
    argv = words(_SUBSTITUTION.sub("VALUE", text))
    while argv and (match := _ASSIGNMENT.match(argv[0])):
        problems += _check_variable(match.group(1))
        argv = argv[1:]
    if not argv:
        return problems
    head = argv[0]
    if head == "tianwang":
        problems += _check_tianwang(argv)
    elif head == "make":
        problems += _check_make(argv[1:])
    elif head.startswith("scripts/") and head.endswith(".sh"):
        problems += _check_script(head, argv[1:])
    elif head in ("python", "python3"):
        problems += _check_python(argv[1:])
    elif head == "curl":
        problems += _check_curl(argv[1:])
    elif head == "export":
        for word in argv[1:]:
            match = _ASSIGNMENT.match(word)
            problems += _check_variable(match.group(1) if match else word)
    elif head == "eval":
        problems += [p for word in argv[1:] for p in check_command(word)]
    elif head == "pip":
        problems += _check_pip(argv[1:])
    elif head not in SYSTEM_TOOLS:
        problems.append(f"no docs check knows the command {head!r} (add one in tests/docs/checks.py)")
    return problems


def _check_variable(name: str) -> list[str]:
    if name.startswith("TIANWANG_") and name not in known_variables():
        return [f"{name} is read nowhere in the code"]
    return []


_HELP = type("Help", (), {"is_flag": True, "param_type_name": "option"})()


def _options(command: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"--help": _HELP}
    for param in command.params:
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("-"):
                found[opt] = param
    return found


def _segments(argv: list[str]) -> list[list[str]]:
    """Split a synopsis at ``|`` words: ``vault status | rotate`` names two commands."""
    out: list[list[str]] = [[]]
    for word in argv:
        if word == "|":
            out.append([])
        else:
            out[-1].append(word)
    return [segment for segment in out if segment]


def _check_tianwang(argv: list[str]) -> list[str]:
    root = _cli()
    global_options = _options(root)
    problems: list[str] = []
    command: Any = root
    parent: Any = root
    for n, segment in enumerate(_segments(argv[1:] if argv[1:] != [] else ["--help"])):
        i = 0
        if n == 0:
            while i < len(segment) and _is_group(command) and segment[i] in command.commands:
                parent, command = command, command.commands[segment[i]]
                i += 1
        elif segment[0] in parent.commands:
            command, i = parent.commands[segment[0]], 1
        problems += _check_arguments(" ".join(argv[:2]), command, segment[i:], global_options)
    return problems


def _check_arguments(name: str, command: Any, rest: list[str], global_options: dict[str, Any]) -> list[str]:
    options = {**global_options, **_options(command)}
    if _is_group(command) and rest and "--help" not in rest:
        listed = ", ".join(sorted(command.commands))
        word = rest[0] if rest else "(nothing)"
        return [f"{name}: {word!r} is not one of its commands ({listed})"]
    problems: list[str] = []
    positionals = [p for p in command.params if p.param_type_name == "argument"]
    unbounded = any(p.nargs == -1 for p in positionals)
    given = 0
    i = 0
    while i < len(rest):
        word = rest[i]
        if word.startswith("-") and len(word) > 1:
            flag, _, value = word.partition("=")
            param = options.get(flag)
            if param is None:
                problems.append(f"{name}: no option {flag} (it has {', '.join(sorted(options))})")
            elif not param.is_flag and not value and i + 1 < len(rest):
                problems += _check_choice(name, flag, param, rest[i + 1])
                i += 1
            elif value:
                problems += _check_choice(name, flag, param, value)
        else:
            given += 1
        i += 1
    if given > len(positionals) and not unbounded:
        problems.append(f"{name}: takes {len(positionals)} argument(s), the docs give {given}")
    return problems


def _check_choice(name: str, flag: str, param: Any, value: str) -> list[str]:
    choices = _choices(param)
    if choices is None or not value.islower():
        return []
    wrong = [v for v in value.split("|") if v not in choices and v not in ("...", "")]
    return [f"{name}: {flag} takes {', '.join(choices)}, not {', '.join(wrong)}"] if wrong else []


def _check_make(argv: list[str]) -> list[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"(?m)^([A-Za-z0-9_.-]+):", makefile))
    return [f"make: no target {t!r}" for t in argv if not _ASSIGNMENT.match(t) and t not in targets]


def _check_script(path: str, argv: list[str]) -> list[str]:
    script = ROOT / path
    if not script.is_file():
        return [f"{path} does not exist"]
    text = script.read_text(encoding="utf-8")
    problems = [] if script.stat().st_mode & 0o111 else [f"{path} is not executable"]
    for word in argv:
        for verb in word.split("|"):
            if verb and not verb.startswith("-") and not re.search(rf"(?m)^\s*\(?[\w|-]*\b{re.escape(verb)}\b[\w|-]*\)",
                                                                   text):
                problems.append(f"{path}: handles no verb {verb!r}")
    return problems


@functools.cache
def _help(path: str) -> str:
    answer = subprocess.run([sys.executable, path, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=180,
                            env={"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    return answer.stdout if answer.returncode == 0 else f"FAILED {answer.returncode}: {answer.stderr[-500:]}"


def _check_python(argv: list[str]) -> list[str]:
    if argv[:1] == ["-m"] or argv[:1] == ["-c"] or not argv:
        return [f"python {' '.join(argv[:2])}: only scripts of the repository are checked; name one"]
    path = argv[0]
    if not (ROOT / path).is_file():
        return [f"{path} does not exist"]
    text = _help(path)
    if text.startswith("FAILED"):
        return [f"{path} --help: {text}"]
    flags = {word.partition("=")[0] for word in argv[1:] if word.startswith("--")}
    return [f"{path}: --help names no {flag}" for flag in sorted(flags) if not re.search(rf"{re.escape(flag)}\b", text)]


def _check_curl(argv: list[str]) -> list[str]:
    method, url, problems = "", "", []
    for i, word in enumerate(argv):
        if word in ("-X", "--request") and i + 1 < len(argv):
            method = argv[i + 1]
        elif word in ("-d", "--data", "--data-binary") and i + 1 < len(argv):
            method = method or "POST"
            if argv[i + 1].startswith("@") and not (ROOT / argv[i + 1][1:]).is_file():
                problems.append(f"curl: the body file {argv[i + 1][1:]} does not exist")
        elif word.startswith(("http://", "https://")):
            url = word
    if not url:
        return [*problems, "curl: no URL"]
    path = "/" + url.split("://", 1)[1].partition("/")[2].partition("?")[0]
    method = method or "GET"
    for known_method, pattern in openapi_routes():
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(pattern)) + "$"
        if known_method == method and re.match(regex, path):
            return problems
    return [*problems, f"curl: the service has no route {method} {path}"]


def _check_pip(argv: list[str]) -> list[str]:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    problems = []
    for word in argv:
        match = re.fullmatch(r"\.\[([\w,-]+)\]?", word)
        if match:
            problems += [f"pip: pyproject has no extra {e!r}" for e in match.group(1).split(",") if e not in extras]
    return problems


def parse_nginx(text: str) -> list[str]:
    """Statements end in ``;`` or open a block; braces balance."""
    depth, problems = 0, []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        depth += line.count("{") - line.count("}")
        if depth < 0:
            problems.append(f"line {number}: a closing brace too many")
        if not line.endswith((";", "{", "}")):
            problems.append(f"line {number}: a statement that does not end in ';'")
    return [*problems, "unbalanced braces"] if depth else problems
