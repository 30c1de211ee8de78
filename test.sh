#!/usr/bin/env bash
# The test command of the README and of CI: installs the system packages the tests need (Chromium for the
# viewer's browser tests, OpenBLAS for the engine, PostgreSQL 15 for the PostgreSQL store) when they are missing,
# starts a throwaway PostgreSQL server for the store tests (stopped again when this script exits, however it exits),
# builds the solution in Release and runs every test, writing TestResults/results.trx. `--fast` leaves out the slow tests; other arguments go to
# `dotnet test` (e.g. --filter "FullyQualifiedName~Storage").
set -euo pipefail
cd "$(dirname "$0")"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
ldconfig -p 2>/dev/null | grep 'libopenblas\.so\.0' >/dev/null || missing+=(libopenblas0-pthread)
pg_bin=/usr/lib/postgresql/15/bin
[ -x "$pg_bin/initdb" ] || missing+=(postgresql-15)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing ${missing[*]} (apt)" >&2
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"; } </dev/null; then
        echo "warning: could not install ${missing[*]}; the tests that need them will fail" >&2
    fi
fi

# --fast skips the slow tests (trait Category=Slow: browser, end to end, ../shared data).
args=()
for arg in "$@"; do
    if [ "$arg" = --fast ]; then args+=(--filter "Category!=Slow"); else args+=("$arg"); fi
done
source .ci/postgres.sh
start_test_postgres "$pg_bin"

dotnet test NeuronExplainer.slnx -c Release --logger "trx;LogFileName=results.trx" --results-directory TestResults ${args[@]+"${args[@]}"}
