#!/usr/bin/env bash
# Issue 17's GEMM-under-load measurement: `neuron-explainer bench` (GPT-2-small shape, float32, batch 8 and 32) for
# each GEMM backend (openblas, managed) at 1 and 2 GEMM threads, alone and next to a competing CPU-bound process
# (one busy shell loop, not pinned: the scheduler places it, as it does another user's build), with OpenBLAS's idle
# workers spinning as built (Debian's default: up to 2^28 cycles) and with OPENBLAS_THREAD_TIMEOUT=4 (they sleep
# almost at once). The conditions alternate inside one run, repeated REPEATS times, with `uptime` before each.
# No pinning anywhere: Debian's OpenBLAS is built NO_AFFINITY and .NET's thread pool does not pin.
# Usage: bench/gemm-under-load.sh [REPEATS=2] [ITERATIONS=5]   (after `dotnet build -c Release`); full logs in $LOGS.
set -euo pipefail
cd "$(dirname "$0")/.."
exe="$PWD/src/NeuronExplainer.Cli/bin/Release/net10.0/neuron-explainer"
[ -x "$exe" ] || { echo "$exe is missing: run dotnet build -c Release first" >&2; exit 1; }
repeats="${1:-2}" iterations="${2:-5}"
LOGS="${LOGS:-$(mktemp -d /tmp/gemm-under-load.XXXXXX)}"
empty="$(mktemp -d -p /var/tmp)"  # bench runs here, where no shared/models/stories260K is found above, so it times the GPT-2 shape only
competitor=""
stop_competitor() {
    [ -n "$competitor" ] || return 0
    kill "$competitor" 2>/dev/null || true
    wait "$competitor" 2>/dev/null || true
    if kill -0 "$competitor" 2>/dev/null; then echo "competitor $competitor is still running" >&2; exit 1; fi
    competitor=""
}
trap 'stop_competitor; rm -rf "$empty"' EXIT

echo "logs in $LOGS; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for rep in $(seq "$repeats"); do
    for load in alone busy; do
        for spin in default 4; do
            name="rep$rep-$load-timeout$spin"
            [ "$load" = busy ] && { sh -c 'while :; do :; done' & competitor=$!; }
            echo "== $name: $(uptime)"
            if [ "$spin" = default ]; then unset OPENBLAS_THREAD_TIMEOUT; else export OPENBLAS_THREAD_TIMEOUT="$spin"; fi
            (cd "$empty" && "$exe" bench --dtype float32 --threads 1 --threads 2 --batch 8 --batch 32 --iterations "$iterations") >"$LOGS/$name.txt" 2>"$LOGS/$name.err"
            stop_competitor
            # The forward table's rows: GEMM, threads, dtype, batch, tokens/s, best, tokens/CPU-s, raw, in-forward, ratio, ...
            grep -E '^│ (openblas|managed) ' "$LOGS/$name.txt" | tr -d '│' | awk -v n="$name" '{printf "%-26s %-8s %st  batch %-3s %6s tokens/s  best %6s  %5s tokens/CPU-s  raw %6s  in-forward %6s GFLOP/s (%s%%)\n", n, $1, $2, $4, $5, $6, $7, $8, $9, $10}'
        done
    done
done
echo "== end: $(uptime)"
