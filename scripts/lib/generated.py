"""The command line of a script that writes a file generated from the code (``--out``, ``--check``).

Used by ``scripts/draw_graph_model.py`` and ``scripts/export_openapi.py``; the docs tests
compare the committed file with a fresh one, and ``--check`` does the same from a shell.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_or_check"]


def write_or_check(argv: list[str] | None, description: str, default: Path, make: Callable[[], str],
                   stale: str) -> int:
    """Parse ``--out`` and ``--check``; write ``make()`` to the file, or (``--check``) exit 1 when it differs,
    saying ``stale`` on stderr."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=default, help="where to write it (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file differs")
    args = parser.parse_args(argv)
    text = make()
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        if not same:
            print(f"{args.out} {stale}", file=sys.stderr)
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0
