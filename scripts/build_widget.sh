#!/usr/bin/env bash
# Vendors the widget's one browser dependency (the socket.io client, pinned in
# widget/package-lock.json) into channels/webchat_static/vendor. `make install` runs it.
# Without npm or the registry the bot still runs; only the website widget cannot
# connect, and its vendor URL answers 503 saying why. Under CI=true that is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=channels/webchat_static/vendor

fail() {
    echo "Website widget: $1; the widget stays off (run 'make install' again with npm)." >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    exit 0
}

command -v npm >/dev/null 2>&1 || fail "npm is not installed"
(cd widget && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
    || fail "npm ci failed"
mkdir -p "$vendor"
dist=widget/node_modules/socket.io-client
cp "$dist/dist/socket.io.min.js" "$vendor/socket.io.min.js"
cp "$dist/LICENSE" "$vendor/socket.io-client.LICENSE"
echo "Website widget: socket.io-client $(node -p "require('./$dist/package.json').version" 2>/dev/null || echo '?') vendored."
