#!/usr/bin/env bash
# trader-cli launcher: sets itself up on first run, then
#   ./start_cli.sh               opens the shell on the bundled sample data
#   ./start_cli.sh test [ARGS]   runs the test suite (pytest ARGS)
#   ./start_cli.sh ANYTHING      passes the arguments to trader-cli
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
say() { printf 'start_cli: %s\n' "$*" >&2; }

find_python() {
    local cand
    for cand in "${TRADER_CLI_PYTHON:-}" python3.13 python3.12 python3.11 python3 python; do
        [ -n "$cand" ] || continue
        command -v "$cand" >/dev/null 2>&1 || continue
        if "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    return 1
}

extras=""
[ "${1:-}" = "test" ] && extras="[test]"

# The stamp records what was installed: pyproject.toml's hash and the extras.
want="$( (cat "$ROOT/pyproject.toml"; echo "extras=$extras") | cksum | cut -d' ' -f1)"
stamp="$VENV/.trader-cli-installed"
have=""
[ -f "$stamp" ] && have="$(cat "$stamp")"

if [ ! -x "$VENV/bin/python" ]; then
    PY="$(find_python)" || {
        found="$(command -v python3 >/dev/null 2>&1 && python3 -c 'import platform; print(platform.python_version())' || echo none)"
        say "trader-cli needs Python 3.11 or newer (found: $found). Install it, or set TRADER_CLI_PYTHON to its path."
        exit 1
    }
    say "creating $VENV with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
    "$PY" -m venv "$VENV"
fi

# A test install also satisfies a plain run; a plain install does not satisfy a test run.
test_stamp="$( (cat "$ROOT/pyproject.toml"; echo "extras=[test]") | cksum | cut -d' ' -f1)"
if [ "$have" != "$want" ] && ! { [ -z "$extras" ] && [ "$have" = "$test_stamp" ]; }; then
    say "installing trader-cli${extras} into .venv (pyproject.toml changed or first run)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
        --config-settings editable_mode=compat -e "$ROOT$extras" >&2
    echo "$want" > "$stamp"
fi

export TRADER_CLI_CONFIG="${TRADER_CLI_CONFIG:-$ROOT/configs/default.json}"

if [ "${1:-}" = "test" ]; then
    shift
    cd "$ROOT"
    # One worker a core, each test file on one worker (its module fixtures: servers, stores);
    # -n 0 in ARGS runs everything in this process.
    exec "$VENV/bin/python" -m pytest -n auto --dist loadfile "$@"
fi
exec "$VENV/bin/trader-cli" "$@"
