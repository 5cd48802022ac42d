#!/usr/bin/env bash
# `make openapi-lint`: Redocly CLI (pinned in package.json) lints the committed openapi.json.
# Fails on any finding not listed in .redocly.lint-ignore.yaml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
npm ci --no-audit --no-fund --loglevel=error
# No usage data sent to Redocly, no update check.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
npx --no-install redocly lint --config redocly.yaml ../../openapi.json
