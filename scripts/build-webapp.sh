#!/usr/bin/env bash
# `make run` builds the web app through this (the frontend/dist/index.html target, when the build
# is missing or older than its sources): npm ci + npm run build in frontend/ (docs/web-app.md).
# Needs Node.js 20.19+ and npm: when they are missing, Debian's nodejs is installed with apt-get
# if its version is recent enough. Otherwise, or when the build fails, this says clearly that
# only the API will be served and exits 0, so make run goes on (/app/ then says "not built").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -f frontend/package.json ]] || exit 0  # no web app in this checkout

api_only() {
    echo "=== The web app is NOT built: $1" >&2
    echo "=== make run serves the API alone; http://127.0.0.1:8000/app/ says the app is not built." >&2
    exit 0
}

node_ok() {
    command -v node >/dev/null && command -v npm >/dev/null && node -e '
        const [major, minor] = process.versions.node.split(".").map(Number);
        process.exit(major > 20 || (major === 20 && minor >= 19) ? 0 : 1);'
}

version_ok() {  # a Debian version string such as 20.19.2+dfsg-1
    [[ "$1" =~ ^([0-9]+)\.([0-9]+) ]] || return 1
    local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
    ((major > 20 || (major == 20 && minor >= 19)))
}

if ! node_ok && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    echo "Node.js 20.19+ not found: looking for Debian's nodejs" >&2
    apt-get update -q >&2 || true
    candidate=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ {print $2}')
    if version_ok "${candidate:-none}"; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm >&2 \
            || true
    else
        echo "Debian's nodejs is ${candidate:-not available}: too old for the web app" >&2
    fi
fi
found=$(node -v 2>/dev/null || true)
node_ok || api_only "Node.js 20.19+ and npm are needed (found: ${found:-none}); install them \
(https://nodejs.org/en/download) and run make run again."

echo "== building the web app: frontend/ -> frontend/dist (npm ci, npm run build)"
cd frontend
npm ci --no-audit --no-fund --loglevel=error || api_only "npm ci failed (see above)."
npm run build || api_only "npm run build failed (see above)."
