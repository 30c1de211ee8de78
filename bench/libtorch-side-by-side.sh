#!/usr/bin/env bash
# Issue 17's side-by-side run: `neuron-explainer bench` (both GEMM backends, 2 threads) and bench/LibtorchForward
# (libtorch 2.10, 2 torch threads) on the same GPT-2-small-shaped forward, float32 and bf16, batch 8 and 32, the
# programs alternating (ours float32, libtorch float32, ours bf16, libtorch bf16 for each batch), REPEATS times,
# with `uptime` before each. Usage: bench/libtorch-side-by-side.sh [REPEATS=2]   (after `dotnet build -c Release`;
# it builds and patches LibtorchForward itself). libtorch's bf16 pass, on a CPU without AVX-512 BF16, takes
# tens of seconds, so it is timed 3 times (float32: 5).
set -euo pipefail
cd "$(dirname "$0")/.."
exe="$PWD/src/NeuronExplainer.Cli/bin/Release/net10.0/neuron-explainer"
[ -x "$exe" ] || { echo "$exe is missing: run dotnet build -c Release first" >&2; exit 1; }
repeats="${1:-2}"
LOGS="${LOGS:-$(mktemp -d /tmp/libtorch-side-by-side.XXXXXX)}"
mkdir -p "$LOGS"
empty="$(mktemp -d -p /var/tmp)"  # no shared/models/stories260K above it: bench times the GPT-2 shape only
trap 'rm -rf "$empty"' EXIT
bench/LibtorchForward/run.sh --prepare >/dev/null  # builds and patches once, before the timed runs

ours() {  # ours DTYPE BATCH NAME
    (cd "$empty" && "$exe" bench --gemm auto --threads 2 --dtype "$1" --batch "$2" --iterations 5) >"$LOGS/$3.txt" 2>"$LOGS/$3.err"
    grep -E '^│ (openblas|managed) ' "$LOGS/$3.txt" | tr -d '│' | awk -v n="$3" '{printf "%-24s ours %-8s %s batch %-3s %6s tokens/s  best %6s  %5s tokens/CPU-s  raw %6s  in-forward %6s GFLOP/s\n", n, $1, $3, $4, $5, $6, $7, $8, $9}'
}
libtorch() {  # libtorch DTYPE BATCH NAME ITERATIONS
    NO_BUILD=1 bench/LibtorchForward/run.sh --threads 2 --dtype "$1" --batch "$2" --iterations "$4" >"$LOGS/$3.txt" 2>"$LOGS/$3.err"
    grep '^libtorch .* batch' "$LOGS/$3.txt" | sed "s/^/$(printf '%-24s ' "$3")/"
}

echo "logs in $LOGS; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for rep in $(seq "$repeats"); do
    for batch in 8 32; do
        echo "== rep $rep batch $batch ours float32: $(uptime)"; ours float32 "$batch" "rep$rep-ours-float32-b$batch"
        echo "== rep $rep batch $batch libtorch float32: $(uptime)"; libtorch float32 "$batch" "rep$rep-torch-float32-b$batch" 5
        echo "== rep $rep batch $batch ours bf16: $(uptime)"; ours bf16 "$batch" "rep$rep-ours-bf16-b$batch"
        echo "== rep $rep batch $batch libtorch bf16: $(uptime)"; libtorch bf16 "$batch" "rep$rep-torch-bf16-b$batch" 3
    done
done
echo "== end: $(uptime)"
