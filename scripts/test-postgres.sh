#!/usr/bin/env bash
# The test suite against a throwaway PostgreSQL cluster: `make test-postgres`.
#
# Finds initdb/pg_ctl (PATH, then /usr/lib/postgresql/*/bin; installs the `postgresql` package
# with apt-get if neither has them), creates a cluster in a temporary directory, starts it on
# 127.0.0.1 on a free port, creates a database, runs pytest with TEST_DATABASE_URL pointing at
# it, then stops the cluster and removes the directory, also on failure or Ctrl-C.
# Arguments are passed to pytest: `bash scripts/test-postgres.sh tests/test_postgres.py -x`.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
# 4 workers x (40 pooled + 10 overflow) connections in tests/test_postgres.py, plus the tests'.
MAX_CONNECTIONS=${PG_MAX_CONNECTIONS:-300}

find_bindir() {
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            echo "$dir"
            return
        fi
    done
}

BINDIR=$(find_bindir)
if [[ -z $BINDIR ]]; then
    echo "PostgreSQL server binaries not found: installing the postgresql package" >&2
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    BINDIR=$(find_bindir)
fi
[[ -n $BINDIR ]] || { echo "initdb/pg_ctl not found after installing postgresql" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, run the cluster as an unprivileged user.
as_owner=()
if [[ $(id -u) == 0 ]]; then
    owner=postgres
    id -u "$owner" >/dev/null 2>&1 || owner=nobody
    as_owner=(runuser -u "$owner" --)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-postgres.XXXXXX")
chmod 700 "$WORK"
[[ ${#as_owner[@]} == 0 ]] || chown "$owner" "$WORK"
DATA=$WORK/data
LOG=$WORK/postgres.log

cleanup() {
    local status=$?
    if [[ -f $DATA/postmaster.pid ]]; then
        "${as_owner[@]}" "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || {
            # pg_ctl failed: stop the server by the pid it recorded.
            pid=$(head -1 "$DATA/postmaster.pid" 2>/dev/null || true)
            [[ -z $pid ]] || kill -TERM "$pid" 2>/dev/null || true
        }
    fi
    if [[ $status != 0 && -z ${TESTS_RAN:-} && -f $LOG ]]; then  # the cluster's fault, not a test's
        echo "--- last lines of $LOG ---" >&2
        tail -20 "$LOG" >&2 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')

echo "$("$BINDIR/postgres" --version) in $WORK on 127.0.0.1:$PORT" >&2
"${as_owner[@]}" "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C \
    >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
# Durability off: a throwaway cluster, only the tests' speed matters.
"${as_owner[@]}" "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start -o "\
 -c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$WORK\
 -c max_connections=$MAX_CONNECTIONS -c fsync=off -c synchronous_commit=off\
 -c full_page_writes=off" >/dev/null

"$BINDIR/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE app_test"

export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/app_test"
echo "TEST_DATABASE_URL=$TEST_DATABASE_URL" >&2
TESTS_RAN=1
"$PYTHON" -m pytest "$@"
