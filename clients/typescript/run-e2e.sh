#!/usr/bin/env bash
# `make client-test`: generate the TypeScript SDK from openapi.json, type-check it with the
# end-to-end program, then run that program against a real uvicorn server on a throwaway
# SQLite database (scripts/with-live-server.sh starts it on 127.0.0.1 and stops it by its pid).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

cd "$HERE"
echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "== generate the SDK from ../../openapi.json"
npm run --silent generate
echo "== tsc --noEmit"
npm run --silent typecheck

echo "== src/e2e.ts against a live server"
"$ROOT/scripts/with-live-server.sh" npm run --silent e2e
