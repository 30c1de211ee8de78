#!/usr/bin/env bash
# Issue 17's GEMM-under-load measurement: `neuron-explainer bench` (GPT-2-small shape, float32, batch 8 and 32) for
# each GEMM backend at 1 and 2 GEMM threads, alone and next to a competing CPU-bound process (one busy shell loop,
# not pinned: the scheduler places it, as it does another user's build). OpenBLAS at 2 threads runs twice: with its
# idle workers spinning as built (Debian's default, up to 2^28 cycles, about 0.1 s) and with
# OPENBLAS_THREAD_TIMEOUT=4 (2^4 cycles: they sleep almost at once). The settings alternate inside one run, repeated
# REPEATS times, with `uptime` before each. No pinning anywhere: Debian's OpenBLAS is built NO_AFFINITY and .NET's
# thread pool does not pin. Usage: bench/gemm-under-load.sh [REPEATS=1] [ITERATIONS=3]   (after
# `dotnet build -c Release`); full logs in $LOGS.
set -euo pipefail
cd "$(dirname "$0")/.."
exe="$PWD/src/NeuronExplainer.Cli/bin/Release/net10.0/neuron-explainer"
[ -x "$exe" ] || { echo "$exe is missing: run dotnet build -c Release first" >&2; exit 1; }
repeats="${1:-1}" iterations="${2:-3}"
LOGS="${LOGS:-$(mktemp -d /tmp/gemm-under-load.XXXXXX)}"
mkdir -p "$LOGS"
empty="$(mktemp -d -p /var/tmp)"  # no shared/models/stories260K above it: bench times the GPT-2 shape only
competitor=""
stop_competitor() {
    [ -n "$competitor" ] || return 0
    kill "$competitor" 2>/dev/null || true
    wait "$competitor" 2>/dev/null || true
    if kill -0 "$competitor" 2>/dev/null; then echo "competitor $competitor is still running" >&2; exit 1; fi
    competitor=""
}
trap 'stop_competitor; rm -rf "$empty"' EXIT

# Each setting: label, backend, GEMM threads, OPENBLAS_THREAD_TIMEOUT ("" = as built).
settings=("openblas-1t openblas 1 " "openblas-2t openblas 2 " "openblas-2t-timeout4 openblas 2 4" "managed-1t managed 1 " "managed-2t managed 2 ")
echo "logs in $LOGS; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for rep in $(seq "$repeats"); do
    for load in alone busy; do
        for setting in "${settings[@]}"; do
            read -r label backend threads timeout <<<"$setting"
            name="rep$rep-$load-$label"
            [ "$load" = busy ] && { sh -c 'while :; do :; done' & competitor=$!; }
            echo "== $name: $(uptime)"
            (cd "$empty" && env ${timeout:+OPENBLAS_THREAD_TIMEOUT=$timeout} "$exe" bench --gemm "$backend" --threads "$threads" --dtype float32 \
                --batch 8 --batch 32 --iterations "$iterations") >"$LOGS/$name.txt" 2>"$LOGS/$name.err"
            stop_competitor
            # The forward table's rows: GEMM, threads, dtype, batch, tokens/s, best, tokens/CPU-s, raw, in-forward, ratio, ...
            grep -E '^│ (openblas|managed) ' "$LOGS/$name.txt" | tr -d '│' | awk -v n="$name" '{printf "%-34s batch %-3s %6s tokens/s  best %6s  %5s tokens/CPU-s  raw %6s  in-forward %6s GFLOP/s (%s%%)\n", n, $4, $5, $6, $7, $8, $9, $10}'
        done
    done
done
echo "== end: $(uptime)"
