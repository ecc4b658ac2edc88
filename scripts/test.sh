#!/usr/bin/env bash
# The one test command of the project:  bash scripts/test.sh [pytest args...]
# venv + install, npm ci (when node exists), ruff, mypy, pytest.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

step() { printf '\n==> %s\n' "$*"; }
failed=()

step "python venv ($VENV_DIR) + pip install -e '.[test]'"
ensure_venv test || { echo "venv/install failed" >&2; exit 1; }

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    if [ -f tests/node/package.json ]; then
        step "npm ci in tests/node (node $(node --version))"
        if [ ! -f tests/node/package-lock.json ]; then
            echo "tests/node/package-lock.json is missing" >&2
            exit 1
        elif [ ! -d tests/node/node_modules ] ||
            [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
            (cd tests/node && npm ci --no-audit --no-fund) || { echo "npm ci failed" >&2; exit 1; }
        else
            echo "tests/node/node_modules up to date"
        fi
    fi
else
    step "node not found: Node interop tests will be skipped (they fail under CI=true)"
fi

step "ruff check ."
"$VENV_DIR/bin/ruff" check . || failed+=("ruff")

step "mypy"
mypy_targets=()
for pkg in sio_emitter sio_redis; do
    if [ -n "$(find "$pkg" -name '*.py' -print -quit 2>/dev/null)" ]; then
        mypy_targets+=("$pkg")
    else
        echo "(no Python sources in $pkg yet, not type-checked)"
    fi
done
if [ "${#mypy_targets[@]}" -gt 0 ]; then
    "$VENV_DIR/bin/mypy" "${mypy_targets[@]}" || failed+=("mypy")
fi

step "pytest"
"$VENV_PY" -m pytest -q -ra --durations=15 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    failed+=("pytest (no tests)")
elif [ "$rc" -ne 0 ]; then
    failed+=("pytest (exit $rc)")
fi

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all checks passed"
