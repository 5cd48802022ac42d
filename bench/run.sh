#!/usr/bin/env bash
# `make bench`: the project against bench/reference.py (bare FastAPI doing only the crypto).
#   bash bench/run.sh            the comparison, then videos, transcribe, events and search: about 20 minutes
#   bash bench/run.sh --scale    also 1 vs 2 workers and 1k vs 100k users, about 3 more minutes
# Needs the dev requirements in .venv (make bench installs them) and wrk (installed with apt-get
# when missing and root). Results are printed and kept in bench/results/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "wrk is missing: installing it with apt-get" >&2
    apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null
  else
    echo "wrk is missing: install it (apt-get install -y wrk) and run again" >&2
    exit 2
  fi
fi

PY=.venv/bin/python
[ -x "$PY" ] || { echo "no .venv: run 'make bench'" >&2; exit 2; }

# The driver starts and stops the servers itself (by process-group id, also on SIGTERM);
# this trap forwards Ctrl-C / TERM to it so nothing is left listening.
run() {
  "$PY" "$@" &
  driver=$!
  trap 'kill -TERM "$driver" 2>/dev/null; wait "$driver"' INT TERM
  wait "$driver"
}
run bench/bench.py "$@"
# Phase 2: upload throughput and memory, queue latency, probe time (about 3 minutes).
run bench/videos.py
# Phase 3: transcription speed, word error rate, memory, /me while it runs (about 2.5 minutes).
run bench/transcribe.py
run bench/events.py  # issue 24: /me beside 0/100/1,000 event streams, reads, latency (10 min)
run bench/search.py  # issue 23: /search vs its own SQL on 400,000 segments, SQLite + PostgreSQL (5 min)
