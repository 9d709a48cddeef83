"""Write the service's OpenAPI document to docs/openapi.json, as the application generates it now.

    python scripts/export_openapi.py [--out docs/openapi.json] [--check]

No service is opened: building the document needs only the routes and the schemas.
``tests/docs/test_docs_content.py`` checks that the committed file is what the
application serves now, so a route or schema changed without exporting again fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts" / "lib"))

from generated import write_or_check  # noqa: E402

OUT = ROOT / "docs" / "openapi.json"


def openapi_json() -> str:
    """The OpenAPI document of ``api.app.create_app()`` as the text docs/openapi.json holds."""
    from api.app import create_app

    return json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(argv, (__doc__ or "").splitlines()[0], OUT, openapi_json,
                          "is not the document the application serves now: run python scripts/export_openapi.py")


if __name__ == "__main__":
    raise SystemExit(main())
