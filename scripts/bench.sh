#!/usr/bin/env bash
# The benchmark (issue #8), one command:  bash scripts/bench.sh [--quick] [--soak] [python -m bench options]
# venv + pip install -e '.[bench,hiredis]' (+ websockets for uvicorn), npm ci in tests/node, then
# python -m bench: results into docs/benchmarks.md, docs/benchmarks.json, docs/benchmarks.png.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
ensure_venv "bench,hiredis"
"$VENV_PY" -c "import websockets" 2>/dev/null ||
    "$VENV_PY" -m pip install --quiet --disable-pip-version-check "websockets>=12"
command -v node >/dev/null || { echo "node is required (Node 18+)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is required (Redis 7)" >&2; exit 1; }
if [ ! -d tests/node/node_modules ] ||
    [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
    (cd tests/node && npm ci --no-audit --no-fund)
fi
exec "$VENV_PY" -m bench "$@"
