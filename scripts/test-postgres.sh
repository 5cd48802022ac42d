#!/usr/bin/env bash
# The test suite against a throwaway PostgreSQL cluster: `make test-postgres`.
#
# Starts a cluster in a temporary directory on 127.0.0.1 on a free port
# (scripts/postgres-cluster.sh), runs pytest with TEST_DATABASE_URL pointing at it, then stops
# the cluster and removes the directory, also on failure or Ctrl-C.
# Arguments are passed to pytest: `bash scripts/test-postgres.sh tests/test_postgres.py -x`.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
# 4 workers x (40 pooled + 10 overflow) connections in tests/test_postgres.py, plus the tests'.
MAX_CONNECTIONS=${PG_MAX_CONNECTIONS:-300}
source scripts/postgres-cluster.sh

trap 'status=$?; stop_postgres $status; exit $status' EXIT
trap 'exit 130' INT TERM
start_postgres

export TEST_DATABASE_URL=$POSTGRES_URL
echo "TEST_DATABASE_URL=$TEST_DATABASE_URL" >&2
PG_STARTED_TESTS=1
"$PYTHON" -m pytest "$@"
