"""Write the service's OpenAPI document to docs/openapi.json, as the application generates it now.

    python scripts/export_openapi.py [--out docs/openapi.json] [--check]

No service is opened: building the document needs only the routes and the schemas.
``tests/docs/test_docs_content.py`` checks that the committed file is what the
application serves now, so a route or schema changed without exporting again fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "openapi.json"


def openapi_json() -> str:
    """The OpenAPI document of ``api.app.create_app()`` as the text docs/openapi.json holds."""
    from api.app import create_app

    return json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the document (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file differs")
    args = parser.parse_args(argv)
    document = openapi_json()
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == document
        if not same:
            print(f"{args.out} is not the document the application serves now: run python scripts/export_openapi.py",
                  file=sys.stderr)
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(document, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
