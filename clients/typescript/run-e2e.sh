#!/usr/bin/env bash
# `make client-test`: generate the TypeScript SDK from openapi.json, type-check it with the
# end-to-end program, then run that program against a real uvicorn server on a throwaway
# SQLite database. The server listens on 127.0.0.1 on a free port and is stopped by its pid.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
[[ -x "$PYTHON" ]] || { echo "run-e2e: $PYTHON missing; run it through 'make client-test'" >&2; exit 1; }

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  local status=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -s "$TMP/server.log" ]]; then
    echo "---- server log (last 40 lines)" >&2
    tail -n 40 "$TMP/server.log" >&2
  fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT

cd "$HERE"
echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "== generate the SDK from ../../openapi.json"
npm run --silent generate
echo "== tsc --noEmit"
npm run --silent typecheck

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE_URL="http://127.0.0.1:$PORT"
SECRET_KEY="e2e-$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))')"
CREDITS=3

echo "== uvicorn on $BASE_URL, database $TMP/app.db"
cd "$ROOT"
# A clip for the upload check, generated now (test media is never committed).
"$PYTHON" -c 'import sys; from pathlib import Path; from tests.media import mp4; mp4(Path(sys.argv[1]))' \
  "$TMP/clip.mp4"
MEDIA_ROOT="$TMP/media" QUEUE_URL="sqlite:///$TMP/queue.db" \
DATABASE_URL="sqlite:///$TMP/app.db" SECRET_KEY="$SECRET_KEY" BCRYPT_ROUNDS=4 \
  DEFAULT_CREDITS="$CREDITS" ENVIRONMENT=development MIGRATE_ON_STARTUP=true CORS_ORIGINS="" \
  "$ROOT/.venv/bin/uvicorn" app.main:app --host 127.0.0.1 --port "$PORT" --no-access-log \
  >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
cd "$HERE"

for attempt in $(seq 300); do
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "run-e2e: uvicorn exited before answering" >&2; exit 1; }
  if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
    "$BASE_URL/health"; then
    break
  fi
  [[ $attempt -lt 300 ]] || { echo "run-e2e: no answer from $BASE_URL/health within 30 s" >&2; exit 1; }
  sleep 0.1
done

echo "== src/e2e.ts against $BASE_URL"
API_BASE_URL="$BASE_URL" E2E_SECRET_KEY="$SECRET_KEY" E2E_EXPECTED_CREDITS="$CREDITS" \
  E2E_VIDEO_FILE="$TMP/clip.mp4" npm run --silent e2e
