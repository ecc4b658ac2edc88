#!/usr/bin/env bash
# Run the demo:  bash scripts/demo.sh [args...]     (args: see `bash scripts/demo.sh --help`)
#
# Makes the venv (.venv, or $VENV_DIR) with `pip install -e '.[demo]'`, installs the pinned Node
# packages in tests/node when Node is there (the Node server, and the socket.io client library
# the pages load), then starts `python -m sio_redis.demo`: Redis, two Python servers, a Node
# server, a clock ticker; it prints the URL of every page. Ctrl-C stops everything.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

ensure_venv demo

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    if [ ! -d tests/node/node_modules ] ||
        [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
        echo "npm ci in tests/node (node $(node --version))"
        # Without node_modules the demo still runs, minus the Node server and the browser pages.
        (cd tests/node && npm ci --no-audit --no-fund) ||
            echo "warning: npm ci failed: no Node server, and the pages cannot load the socket.io client" >&2
    fi
else
    echo "note: node/npm not found: the demo runs without its Node server, and its pages need" \
        "tests/node/node_modules (npm ci in tests/node) to load the socket.io client" >&2
fi

exec "$VENV_PY" -m sio_redis.demo "$@"
