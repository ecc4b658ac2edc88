#!/usr/bin/env bash
# Run the demo:  bash scripts/demo.sh [args...]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

ensure_venv demo
exec "$VENV_PY" -m sio_redis.demo "$@"
