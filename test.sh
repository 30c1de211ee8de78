#!/usr/bin/env bash
# The test command of the README and of CI: builds the solution in Release and runs every test,
# writing TestResults/results.trx. Extra arguments go to `dotnet test` (e.g. --filter "FullyQualifiedName~Storage").
set -euo pipefail
cd "$(dirname "$0")"
exec dotnet test NeuronExplainer.slnx -c Release --logger "trx;LogFileName=results.trx" --results-directory TestResults "$@"
