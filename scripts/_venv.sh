# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh (cwd = repository root).
#
#   ensure_venv EXTRA   create .venv with python3 if missing, then
#                       `pip install -e ".[EXTRA]"` unless nothing changed
#                       since the last successful install of that extra.
# Sets VENV_PY to the venv's python. Honours $PYTHON (default: python3).

VENV_DIR="${VENV_DIR:-.venv}"
VENV_PY="$VENV_DIR/bin/python"

ensure_venv() {
    local extra="$1"
    local python="${PYTHON:-python3}"
    local stamp="$VENV_DIR/.sio-redis-installed-$extra"

    if [ ! -x "$VENV_PY" ]; then
        echo "creating $VENV_DIR with $("$python" --version 2>&1)"
        "$python" -m venv "$VENV_DIR" || return 1
        rm -f "$VENV_DIR"/.sio-redis-installed-*
    fi
    if [ -f "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ]; then
        echo "$VENV_DIR up to date for .[$extra]"
        return 0
    fi
    echo "pip install -e '.[$extra]'"
    "$VENV_PY" -m pip install --quiet --disable-pip-version-check -e ".[$extra]" || return 1
    touch "$stamp"
}
