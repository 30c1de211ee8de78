using BenchmarkDotNet.Attributes;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;

namespace NeuronExplainer.Benchmarks;

/// <summary>
/// What collection adds to the bare forward pass: one batch through the model alone, and the same
/// batch through the model and every neuron's samplers (top-K, reservoirs, moments, token sums) of
/// all layers, and the samplers alone. Random weights of the real shapes: stories260K (where bookkeeping dominates) and
/// GPT-2 small (the 20% budget). Run: dotnet run -c Release -- --filter *CollectionBenchmarks*
/// --inProcess --strategy Monitoring --launchCount 1 --warmupCount 1 --iterationCount 5
/// </summary>
public class CollectionBenchmarks
{
    [Params("stories260K", "gpt2-small")]
    public string Shape { get; set; } = "";

    Transformer model = null!;
    CollectionPass pass = null!;
    ForwardRequest request = null!;
    int[][] windows = null!;
    int[] input = null!;
    int rows;
    ForwardResult lastResult = null!;
    long nextId;

    /// <summary>Only BOS matters to the pass; the windows are random token ids.</summary>
    sealed class IdTokenizer(int vocab, int? bos) : ITokenizer
    {
        public int VocabSize => vocab;
        public int? BosId => bos;
        public int? EosId => null;
        public int[] Encode(string text) => throw new NotSupportedException();
        public string Decode(ReadOnlySpan<int> ids) => throw new NotSupportedException();
        public string TokenString(int id) => id.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    [GlobalSetup]
    public void Setup()
    {
        var (config, batch) = Shape == "gpt2-small"
            ? (new TransformerConfig("gpt2", 12, 768, 3072, 12, 12, 64, 50257, 1024, NormKind.LayerNorm, 1e-5f, MlpActivation.GeluNew, false, true, 10000, false), 4)
            : (new TransformerConfig("llama", 5, 64, 172, 8, 4, 8, 512, 512, NormKind.RmsNorm, 1e-5f, MlpActivation.Silu, true, false, 10000, true), 32);
        model = new Transformer(Shape, TransformerWeights.Random(config, seed: 1), new IdTokenizer(config.VocabSize, config.PrependsBos ? 1 : null));
        var layers = Enumerable.Range(0, config.LayerCount).ToArray();
        // A census as of a 640k-token corpus whose 8,000 most common tokens are in the token lookup table.
        var counts = Enumerable.Range(0, config.VocabSize).Select(t => t < 8000 ? 5L : 0L).ToArray();
        var census = new CorpusCensus(1, 10_000, 640_000, 0, 64, counts);
        var settings = new CollectionSettings();
        var blocks = layers.Select(l => new UnitBlock(UnitSource.MlpNeurons(model.Info), l)).ToArray();
        pass = new CollectionPass(model, blocks, settings, census, MemoryPlanner.Plan(model.Info, blocks, settings, census, 1L << 40));
        request = new ForwardRequest(layers.Select(ForwardRequest.MlpPost).ToArray());
        var random = new Random(2);
        windows = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, 64).Select(_ => random.Next(2, config.VocabSize)).ToArray()).ToArray();
        int offset = config.PrependsBos ? 1 : 0;
        rows = 64 + offset;
        input = windows.SelectMany(w => offset == 1 ? w.Prepend(1) : w).ToArray();
        // Fill the top-K heaps, then move the window counter on as if 10,000 windows (640k tokens) had
        // been read: the reservoirs then accept a window with probability C / 10,000 as they would in
        // a real corpus, instead of storing every window as they do while filling.
        for (int i = 0; i * batch <= pass.Samplers[0].TopK; i++) ForwardAndCollect();
        pass.WindowsSeen = 10_000;
        lastResult = Forward();
    }

    [Benchmark(Baseline = true)]
    public ForwardResult Forward() => model.Forward(input, windows.Length, rows, request);

    [Benchmark]
    public void ForwardAndCollect() => pass.Process(Batch());

    /// <summary>The samplers alone on the last forward result (the model's buffers), to time the bookkeeping without the forward pass's noise.</summary>
    [Benchmark]
    public void CollectOnly() => pass.Accumulate(Batch(), lastResult);

    List<TokenWindow> Batch() => windows.Select(w => new TokenWindow(nextId++, w)).ToList();
}
