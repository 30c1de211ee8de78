#!/usr/bin/env bash
# Issue 10's collection benchmarks on random-weight GPT-2-layout models (written by `bench gpt2-model`), each under
# /usr/bin/time -v for wall time and peak RSS. Prints numbers; asserts nothing. Needs ../shared (GPT-2 tokenizer,
# WebText) and a Release build (or NEURONEXPLAINER_CLI naming the executable). Usage: bench/collect-scale.sh [small|wide|xl|growth|all] [WORK_DIR]
#   small   GPT-2 small shape, all 12 layers, default settings, 200,000 WebText tokens, each batch also through the bare forward pass
#   wide    48 layers x 6,400 neurons, d_model 64, 20,000 tokens, DOTNET_GCHeapHardLimit=0x180000000 (6 GiB)
#   xl      GPT-2 XL shape (48 x 6,400, d_model 1600; ~6.2 GB of float32 weights), all layers, 2,048 tokens, --weight-views none
#   growth  d_model 64 models of 12 x {256, 1024} neurons over {20,000, 80,000} tokens: the N x tokens table
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cli="${NEURONEXPLAINER_CLI:-$here/src/NeuronExplainer.Cli/bin/Release/net10.0/neuron-explainer}"
shared="$here/../shared"
work="${2:-/tmp/neuron-explainer-bench}"
webtext="$shared/corpora/webtext-test.jsonl"
mkdir -p "$work"

model() { # name, then bench gpt2-model shape options
    local dir="$work/$1"; shift
    [[ -f "$dir/model.safetensors" ]] || "$cli" bench gpt2-model --out "$dir" --tokenizer "$shared/models/gpt2-tokenizer" "$@" >&2
    echo "$dir"
}

timed() { # label, command...: the command's output, then wall time and peak RSS from /usr/bin/time -v
    local label="$1"; shift
    echo "== $label: $* (uptime: $(uptime))"
    /usr/bin/time -v -o "$work/time.txt" "$@" 2> >(grep --line-buffered -v '^\(collecting\|counting\)' >&2)
    grep -E 'Elapsed \(wall|Maximum resident' "$work/time.txt"
}

case "${1:-all}" in
small|all)
    m=$(model gpt2-small --layers 12 --d-model 768)
    rm -rf "$work/store-small"
    timed "GPT-2 small shape, 200,000 tokens" "$cli" bench collect --model "$m" --corpus "$webtext" --store "$work/store-small" --max-tokens 200000
    du -sh "$work/store-small"; rm -rf "$work/store-small" ;;&
wide|all)
    m=$(model wide-48x6400 --layers 48 --d-model 64 --d-mlp 6400 --heads 1)
    rm -rf "$work/store-wide"
    DOTNET_GCHeapHardLimit=0x180000000 timed "48 x 6,400 neurons, d_model 64, 20,000 tokens, 6 GiB heap" "$cli" collect --model "$m" --corpus "$webtext" --store "$work/store-wide" --max-tokens 20000
    du -sh "$work/store-wide"; rm -rf "$work/store-wide" ;;&
xl|all)
    free -g
    m=$(model gpt2-xl --layers 48 --d-model 1600 --heads 25)
    rm -rf "$work/store-xl"
    # Without the weight-based views: for this shape they are ~250 TFLOP (hours here), independent of the corpus.
    timed "GPT-2 XL shape, 2,048 tokens, no weight views" "$cli" collect --model "$m" --corpus "$webtext" --store "$work/store-xl" --max-tokens 2048 --weight-views none
    du -sh "$work/store-xl"; rm -rf "$work/store-xl" ;;&
growth|all)
    for width in 256 1024; do
        m=$(model growth-12x$width --layers 12 --d-model 64 --d-mlp $width --heads 1)
        for tokens in 20000 80000; do
            rm -rf "$work/store-growth"
            timed "12 x $width neurons, $tokens tokens" "$cli" collect --model "$m" --corpus "$webtext" --store "$work/store-growth" --max-tokens $tokens
            du -sh "$work/store-growth"
        done
    done
    rm -rf "$work/store-growth" ;;
esac
