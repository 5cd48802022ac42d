#!/usr/bin/env bash
# Installs the Debian packages whose commands are missing: `ensure-debian.sh COMMAND=PACKAGE ...`
# (make test: redis-server=redis-server espeak-ng=espeak-ng). Idempotent; only the binaries are
# needed: the tests start their own servers and make their own speech.
set -euo pipefail
missing=()
for pair in "$@"; do
    command=${pair%%=*} package=${pair#*=}
    if ! command -v "$command" >/dev/null && [[ ! -x /usr/bin/$command ]]; then
        missing+=("$package")
    fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "installing missing Debian packages: ${missing[*]}" >&2
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
