"""Reading README.md and docs/*.md for the docs tests: fenced blocks, shell commands, inline spans.

A fenced block is ```` ```lang ```` ... ```` ``` ````; its language says how the docs tests treat
it (:data:`LANGUAGES`). A shell block is split into commands: backslash continuations are
joined, ``#`` comments dropped, each line one command. Synopsis notation (``[--x N]``,
``a|b``, ``...``) is allowed in commands; :func:`words` drops the brackets.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LANGUAGES", "ROOT", "Block", "Command", "blocks", "commands", "documents", "inline_spans", "words"]

ROOT = Path(__file__).resolve().parents[2]

#: what each fence language means to the docs tests
LANGUAGES = {
    "sh": "shell commands, each checked against what it names (tests/docs/checks.py)",
    "python": "executed, in file order, one namespace per file",
    "json": "parsed",
    "yaml": "parsed; scoring configuration is loaded by the configuration loader",
    "toml": "parsed",
    "nginx": "an nginx configuration, checked by `nginx -t` when nginx is installed",
    "text": "output, tables and diagrams: not run",
}

_FENCE = re.compile(r"^(\s*)(`{3,})([\w+-]*)\s*$")
_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


@dataclass(frozen=True)
class Block:
    """One fenced block: its file, the line of its opening fence, its language and text."""

    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Command:
    """One shell command of a block: where it starts and its text (continuations joined)."""

    where: str
    text: str


def documents() -> list[Path]:
    """README.md and every Markdown file under docs/, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file; an unclosed fence is an error."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    opened: tuple[int, str, str, str] | None = None  # line, fence, lang, indent
    body: list[str] = []
    for number, line in enumerate(lines, start=1):
        match = _FENCE.match(line)
        if opened is None:
            if match:
                opened = (number, match.group(2), match.group(3), match.group(1))
                body = []
        elif match and match.group(2) == opened[1] and not match.group(3):
            indent = opened[3]
            text = "\n".join(row[len(indent):] if row.startswith(indent) else row for row in body)
            found.append(Block(path, opened[0], opened[2], text))
            opened = None
        else:
            body.append(line)
    if opened is not None:
        raise AssertionError(f"{path.relative_to(ROOT)}:{opened[0]}: a fence that is never closed")
    return found


def commands(block: Block) -> list[Command]:
    """The commands of a shell block, continuations joined, comments and blank lines dropped."""
    out: list[Command] = []
    pending: list[str] = []
    start = 0
    for offset, raw in enumerate(block.text.splitlines(), start=1):
        line = raw.rstrip()
        if not pending:
            start = offset
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        text = _strip_comment(" ".join(part.strip() for part in pending)).strip()
        pending = []
        if text:
            out.append(Command(f"{block.where}+{start}", text))
    return out


def _strip_comment(text: str) -> str:
    """Drop a ``#`` comment that starts a word outside quotes."""
    quote = ""
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i]
    return text


def words(text: str) -> list[str]:
    """The shell words of a command, with synopsis brackets removed (``[--x N]`` -> ``--x N``)."""
    split = shlex.split(text, posix=True)
    cleaned = [word.strip("[]") if not word.startswith("$") else word for word in split]
    return [word for word in cleaned if word and word != "..."]


def inline_spans(path: Path) -> list[tuple[int, str]]:
    """Inline code spans outside fenced blocks, with their line numbers."""
    spans: list[tuple[int, str]] = []
    inside = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _FENCE.match(line)
        if match:
            if not inside:
                inside = match.group(2)
            elif match.group(2) == inside and not match.group(3):
                inside = ""
            continue
        if not inside:
            spans.extend((number, span) for span in _SPAN.findall(line))
    return spans
