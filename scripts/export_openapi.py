"""Write the app's OpenAPI document to openapi.json at the repository root (`make openapi`).

The TypeScript client in clients/typescript is generated from that file, and
tests/test_openapi.py fails when it differs from what the app serves.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "openapi.json"


def render(document: dict[str, Any]) -> str:
    """The exact text committed as openapi.json."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def openapi_document() -> dict[str, Any]:
    # Before app.main is imported: its module-level app must touch no files (no app.db, no
    # .secret_key), so a throwaway in-memory database and key. The document depends on neither.
    os.environ["DATABASE_URL"] = "sqlite://"
    os.environ["SECRET_KEY"] = "openapi-export-throwaway-key-used-for-nothing"
    os.environ["MIGRATE_ON_STARTUP"] = "false"
    sys.path.insert(0, str(ROOT))
    from app.main import create_app

    return create_app().openapi()


def main() -> None:
    OUTPUT.write_text(render(openapi_document()), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
