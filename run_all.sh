#!/usr/bin/env bash
# dmrec-bench in one command.
#   ./run_all.sh        set up .venv if needed, prepare ml-100k-text, run the default grid, write tables and figures
#   ./run_all.sh run [runner options]   the same, passing options to `python -m benchmark.run`
#   ./run_all.sh test   set up .venv if needed (test and docs extras), run ruff, then the test suite
set -euo pipefail
cd "$(dirname "$0")"

TORCH_PIN="torch==2.13.0"       # installed first; the constraint keeps every later install from replacing it
RECBOLE_PIN="recbole==1.2.1"     # installed without its pins (ray<=2.6.3, colorlog==4.7.2, ...): see pyproject.toml
VENV=.venv
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

setup() {
    local stamp="$VENV/.dmrec-setup"
    local want
    want=$(cat pyproject.toml run_all.sh | sha256sum | cut -c1-16)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "== setting up $VENV (torch pinned to ${TORCH_PIN#torch==})"
    [ -x "$PY" ] || python3 -m venv "$VENV"
    local constraints="$VENV/constraints.txt"
    echo "$TORCH_PIN" > "$constraints"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q "$TORCH_PIN"
    "$PY" -m pip install -q --no-deps "$RECBOLE_PIN"
    # RecBole's stale pins (ray<=2.6.3, colorlog, colorama) are left unmet on purpose (see the
    # docs, "RecBole on today's stack"): keep pip from reporting them as errors on every set-up
    "$PY" -m pip install -q --no-warn-conflicts -c "$constraints" -e ".[test,docs]"
    "$PY" - <<'PYCHECK'
import importlib.metadata as m, sys
v = m.version("torch")
if not v.startswith("2.13.0"):
    sys.exit(f"set-up error: torch {v} was installed, expected the pinned 2.13.0")
PYCHECK
    echo "$want" > "$stamp"
}

case "${1:-run}" in
    test)
        setup
        shift || true
        "$VENV/bin/ruff" check .       # lint first: a violation fails the test command
        set +e
        "$PY" -m pytest "$@"
        rc=$?
        set -e
        if [ "$rc" -eq 5 ]; then
            echo "error: pytest collected no tests" >&2
            exit 1
        fi
        exit "$rc"
        ;;
    run)
        setup
        shift || true
        "$PY" -m benchmark.data prepare ml-100k-text
        "$PY" -m benchmark.data stats ml-100k-text
        set +e
        "$PY" -m benchmark.run --grid default "$@"   # e.g. ./run_all.sh run --no-ray
        run_status=$?
        set -e
        if [ "$run_status" -eq 130 ]; then
            # stopped: analysing now would overwrite the committed reference outputs with a partial run
            echo "== stopped before the grid ended: nothing analysed; rerun the same command to resume" >&2
            exit 130
        fi
        # tables and figures from whatever finished, also when some trials failed
        "$PY" -m benchmark.analysis --grid default
        echo "== results: results/default_report.md (and .html), tables in results/tables/, figures in figures/"
        exit "$run_status"
        ;;
    *)
        echo "usage: ./run_all.sh [test]" >&2
        exit 2
        ;;
esac
