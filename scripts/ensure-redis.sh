#!/usr/bin/env bash
# Installs redis-server (the Debian package) when it is missing: idempotent, used by make test
# and make test-scale. Only the binary is needed; the tests start their own servers.
set -euo pipefail
if command -v redis-server >/dev/null || [[ -x /usr/bin/redis-server ]]; then
    exit 0
fi
echo "redis-server not found: installing the redis-server package" >&2
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server
