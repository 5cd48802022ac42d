#!/usr/bin/env bash
# with-live-server.sh COMMAND [ARGS...]: run COMMAND against a real uvicorn server of the app.
#
# The server listens on 127.0.0.1 on a free port, on a throwaway SQLite database, media folder
# and queue, and is stopped by its process id when COMMAND ends. COMMAND sees API_BASE_URL,
# E2E_SECRET_KEY (the server's key), E2E_EXPECTED_CREDITS (its DEFAULT_CREDITS) and
# E2E_VIDEO_FILE (a short MP4 generated now; test media is never committed) and E2E_SPEECH_FILE
# (an MP4 with speech by espeak-ng, empty when espeak-ng is missing), and E2E_OPENAI_URL (the
# fake summary provider's control routes). Webhooks may target loopback (WEBHOOK_ALLOW_PRIVATE),
# so the programs can register a receiver of their own. Used by the
# generated-client end-to-end checks (make client-test, make client-test-python).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
[[ -x "$PYTHON" ]] || { echo "with-live-server: $PYTHON missing; run it through make" >&2; exit 1; }

TMP="$(mktemp -d)"
SERVER_PID=""
PROVIDER_PID=""
cleanup() {
  local status=$?
  if [[ -n "$PROVIDER_PID" ]]; then
    kill -TERM "$PROVIDER_PID" 2>/dev/null || true
    wait "$PROVIDER_PID" 2>/dev/null || true
  fi
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

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE_URL="http://127.0.0.1:$PORT"
SECRET_KEY="e2e-$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))')"
CREDITS=4  # extract_audio (1) + transcribe (2) + summarize (1) of short clips

# The tests' own OpenAI-compatible server (tests/support/openai_server.py) stands in for the
# summary provider; the program scripts its answers through E2E_OPENAI_URL's control routes.
PROVIDER_PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
PROVIDER_URL="http://127.0.0.1:$PROVIDER_PORT"
PROVIDER_KEY="e2e-provider-key"
(cd "$ROOT" && exec "$PYTHON" tests/support/openai_server.py --port "$PROVIDER_PORT" --api-key "$PROVIDER_KEY") \
  >"$TMP/provider.log" 2>&1 &
PROVIDER_PID=$!

echo "== uvicorn on $BASE_URL, database $TMP/app.db"
(cd "$ROOT" && "$PYTHON" -c 'import sys; from pathlib import Path; from tests.support.media import mp4; mp4(Path(sys.argv[1]))' \
  "$TMP/clip.mp4")
# A clip with speech (espeak-ng, installed by make test) for the transcription check.
SPEECH_FILE=""
if command -v espeak-ng >/dev/null; then
  (cd "$ROOT" && "$PYTHON" -c 'import sys; from pathlib import Path; from tests.support.speech import speech_video; speech_video(Path(sys.argv[1]), "Hello from the end to end test. The captions come from this sentence.")' \
    "$TMP/speech.mp4") && SPEECH_FILE="$TMP/speech.mp4"
fi
(
  cd "$ROOT"
  MEDIA_ROOT="$TMP/media" QUEUE_URL="sqlite:///$TMP/queue.db" DATABASE_URL="sqlite:///$TMP/app.db" SECRET_KEY="$SECRET_KEY" BCRYPT_ROUNDS=4 \
    DEFAULT_CREDITS="$CREDITS" ENVIRONMENT=development MIGRATE_ON_STARTUP=true CORS_ORIGINS="" \
    SUMMARY_PROVIDER=openai OPENAI_BASE_URL="$PROVIDER_URL/v1" OPENAI_API_KEY="$PROVIDER_KEY" \
    WEBHOOK_ALLOW_PRIVATE=true WEBHOOK_POLL_SECONDS=0.2 \
    exec "$ROOT/.venv/bin/uvicorn" app.main:app --host 127.0.0.1 --port "$PORT" --no-access-log
) >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

for attempt in $(seq 300); do
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "with-live-server: uvicorn exited before answering" >&2; exit 1; }
  # No proxy, whatever the environment says: the server is on loopback.
  if "$PYTHON" -c 'import sys, urllib.request as u; u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=1)' \
    "$BASE_URL/health" 2>/dev/null; then
    break
  fi
  [[ $attempt -lt 300 ]] || { echo "with-live-server: no answer from $BASE_URL/health within 30 s" >&2; exit 1; }
  sleep 0.1
done

API_BASE_URL="$BASE_URL" E2E_SECRET_KEY="$SECRET_KEY" E2E_EXPECTED_CREDITS="$CREDITS" \
  E2E_VIDEO_FILE="$TMP/clip.mp4" E2E_SPEECH_FILE="$SPEECH_FILE" E2E_OPENAI_URL="$PROVIDER_URL" "$@"
