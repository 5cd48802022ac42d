#!/usr/bin/env bash
# `make test-scale`: the video tier on real servers, all on 127.0.0.1 in temporary directories:
# PostgreSQL (scripts/postgres-cluster.sh), then scripts/scale.py starts redis-server, moto's S3
# server, 2 API processes and 3 separate workers, runs the scenario and prints its figures.
# Everything is stopped by process id, also on failure or Ctrl-C.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
# 2 APIs + 3 workers + the checks, each with a pool of at most 40 + 10.
MAX_CONNECTIONS=${PG_MAX_CONNECTIONS:-300}
bash scripts/ensure-debian.sh redis-server=redis-server
source scripts/postgres-cluster.sh

trap 'status=$?; stop_postgres $status; exit $status' EXIT
trap 'exit 130' INT TERM
start_postgres

PG_STARTED_TESTS=1
DATABASE_URL=$POSTGRES_URL "$PYTHON" -m scripts.scale "$@"
