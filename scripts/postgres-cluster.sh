# Sourced by scripts/test-postgres.sh and scripts/test-scale.sh: a throwaway PostgreSQL cluster.
#
# Finds initdb/pg_ctl (PATH, then /usr/lib/postgresql/*/bin; installs the `postgresql` package
# with apt-get if neither has them), creates a cluster in a temporary directory, starts it on
# 127.0.0.1 on a free port and creates the database app_test. `start_postgres` sets
# POSTGRES_URL; `stop_postgres` stops the cluster by its pid and removes the directory (call it
# from the caller's EXIT trap). Needs PYTHON (for a free port) and MAX_CONNECTIONS.

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

start_postgres() {
    BINDIR=$(find_bindir)
    if [[ -z $BINDIR ]]; then
        echo "PostgreSQL server binaries not found: installing the postgresql package" >&2
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
        BINDIR=$(find_bindir)
    fi
    [[ -n $BINDIR ]] || { echo "initdb/pg_ctl not found after installing postgresql" >&2; return 1; }

    # PostgreSQL refuses to run as root: as root, run the cluster as an unprivileged user.
    as_owner=()
    if [[ $(id -u) == 0 ]]; then
        owner=postgres
        id -u "$owner" >/dev/null 2>&1 || owner=nobody
        as_owner=(runuser -u "$owner" --)
    fi

    PG_WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-postgres.XXXXXX")
    chmod 700 "$PG_WORK"
    [[ ${#as_owner[@]} == 0 ]] || chown "$owner" "$PG_WORK"
    PG_DATA=$PG_WORK/data
    PG_LOG=$PG_WORK/postgres.log

    local port
    port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')

    echo "$("$BINDIR/postgres" --version) in $PG_WORK on 127.0.0.1:$port" >&2
    "${as_owner[@]}" "$BINDIR/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C \
        >"$PG_WORK/initdb.log" 2>&1 || { cat "$PG_WORK/initdb.log" >&2; return 1; }
    # Durability off: a throwaway cluster, only the tests' speed matters.
    "${as_owner[@]}" "$BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start -o "\
 -c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_WORK\
 -c max_connections=$MAX_CONNECTIONS -c fsync=off -c synchronous_commit=off\
 -c full_page_writes=off" >/dev/null

    "$BINDIR/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE app_test"
    POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/app_test"
}

# $1: the caller's exit status; with PG_STARTED_TESTS unset, a failure was the cluster's.
stop_postgres() {
    local status=${1:-0}
    [[ -n ${PG_WORK:-} ]] || return 0
    if [[ -f $PG_DATA/postmaster.pid ]]; then
        "${as_owner[@]}" "$BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || {
            # pg_ctl failed: stop the server by the pid it recorded.
            local pid
            pid=$(head -1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
            [[ -z $pid ]] || kill -TERM "$pid" 2>/dev/null || true
        }
    fi
    if [[ $status != 0 && -z ${PG_STARTED_TESTS:-} && -f $PG_LOG ]]; then
        echo "--- last lines of $PG_LOG ---" >&2
        tail -20 "$PG_LOG" >&2 || true
    fi
    rm -rf "$PG_WORK"
}
