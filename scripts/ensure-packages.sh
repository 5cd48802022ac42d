#!/usr/bin/env bash
# Installs the Debian packages the tests start themselves, when a command of theirs is missing:
# `bash scripts/ensure-packages.sh redis-server`. Idempotent: does nothing when all are there.
# Fails loudly (non-zero) when a package is missing and apt-get cannot install it, so CI never
# skips a test for want of its server.
set -euo pipefail

missing=()
for command in "$@"; do
    command -v "$command" >/dev/null || missing+=("$command")  # package name = command name
done
[[ ${#missing[@]} == 0 ]] && exit 0

echo "ensure-packages: installing ${missing[*]} with apt-get" >&2
command -v apt-get >/dev/null || {
    echo "ensure-packages: ${missing[*]} missing and no apt-get: install them by hand" >&2
    exit 1
}
# Waits for another apt-get (up to 10 minutes) instead of failing on its lock.
apt-get -o DPkg::Lock::Timeout=600 update -q
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
for command in "${missing[@]}"; do
    command -v "$command" >/dev/null || { echo "ensure-packages: $command still missing" >&2; exit 1; }
done
