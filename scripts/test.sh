#!/usr/bin/env bash
# The one command that runs the whole test suite on a fresh machine:
#   bash scripts/test.sh [extra pytest args, e.g. -k dedup -x]
# Installs what is missing, runs ruff and mypy (no stack needed), starts the local Kafka + Redis +
# Mosquitto (`hub stack up`) unless they already run, applies topology/topics.yaml, runs pytest.
# Exit status: pytest's (5 "no tests" counts as a failure), else 1 if ruff/mypy failed. A stack this script started is stopped at the end
# (set KEEP_STACK=1 to leave it running); a stack that was already running is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh

# Lint first: it needs no stack, and says in seconds what a broken import would say in minutes.
lint_rc=0
echo "test: ruff check"
python3 -m ruff check . || lint_rc=1
echo "test: mypy"
python3 -m mypy || lint_rc=1

if python3 -m hub stack status >/dev/null 2>&1; then
    echo "test: stack already running; leaving it running afterwards"
else
    if [ "${KEEP_STACK:-0}" != 1 ]; then
        trap 'echo "test: stopping the stack this script started"; python3 -m hub stack down || true' EXIT
    fi
fi
python3 -m hub stack up
python3 -m hub topics apply

echo "test: pytest $*"
set +e
python3 -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "test: FAILED: pytest collected no tests (exit 5); a test run must run tests" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "test: FAILED: pytest exit status $rc" >&2
    exit "$rc"
fi
if [ "$lint_rc" -ne 0 ]; then
    echo "test: FAILED: tests passed but ruff or mypy reported problems (see above)" >&2
    exit 1
fi
echo "test: all passed"
