#!/usr/bin/env bash
# `make client-test-python`: generate a Python client from openapi.json with openapi-python-client
# (pinned in requirements.txt, in its own venv clients/python/.venv so its dependencies never
# meet the app's), into a temporary directory, and run e2e.py with it against a live server.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "== creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if ! cmp -s "$HERE/requirements.txt" "$VENV/.installed" 2>/dev/null; then
  echo "== pip install -r requirements.txt"
  "$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.installed"
fi

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
echo "== openapi-python-client generate from ../../openapi.json"
# PATH: the generator formats its output with the ruff of its own venv.
PATH="$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate --config "$HERE/config.yaml" \
  --path "$ROOT/openapi.json" --output-path "$OUT/video_ai_client" --meta none --fail-on-warning

echo "== e2e.py against a live server"
PYTHONPATH="$OUT" "$ROOT/scripts/with-live-server.sh" "$VENV/bin/python" "$HERE/e2e.py"
