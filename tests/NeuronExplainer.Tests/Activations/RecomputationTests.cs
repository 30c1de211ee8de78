using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Models;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Activations;

/// <summary>
/// The second pass recomputes kept windows among other windows than the first pass ran them with (at the same
/// batch size and position); the records are exact only if a window's activations do not depend on its
/// companions there. Checked on the real engine. (OpenBLAS does round a row differently at another position.)
/// </summary>
public sealed class RecomputationTests : IDisposable
{
    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    static Transformer Gpt2Shaped(int vocab, NeuronExplainer.Models.Kernels.IGemm? gemm = null) => new("gpt2-shaped",
        TransformerWeights.Random(new TransformerConfig("GPT2LMHeadModel (random)", 2, 256, 1024, 4, 4, 64, vocab, 128,
            NormKind.LayerNorm, 1e-5f, MlpActivation.GeluNew, GatedMlp: false, LearnedPositions: true, RopeTheta: 0, PrependsBos: false), seed: 3),
        new ByteTokenizer(), gemm);

    [Theory]
    [InlineData("managed")]
    [InlineData("openblas")]
    public void AWindowsActivationsDependOnlyOnItsBatchSizeAndPosition(string backend)
    {
        using var model = Gpt2Shaped(258, NeuronExplainer.Models.Kernels.GemmBackends.Select(backend));
        const int seq = 64, windows = 24;
        var random = new Random(5);
        var tokens = Enumerable.Range(0, windows * seq).Select(_ => random.Next(258)).ToArray();
        var request = new ForwardRequest([ForwardRequest.MlpPost(0), ForwardRequest.MlpPost(1)]);
        var batched = model.Forward(tokens, windows, seq, request);
        var together = request.Hooks.Select(h => batched.Hook(h).ToArray()).ToArray();
        for (int w = 0; w < windows; w += 7)
        {
            // The same batch size, the window at another position among other windows.
            var other = Enumerable.Range(0, windows * seq).Select(_ => random.Next(258)).ToArray();
            int at = w;
            tokens.AsSpan(w * seq, seq).CopyTo(other.AsSpan(at * seq, seq));
            var shuffled = model.Forward(other, windows, seq, request);
            var moved = new ForwardResult(request.Hooks.ToDictionary(h => h, h => (ReadOnlyMemory<float>)shuffled.Hook(h).Slice(at * seq * 1024, seq * 1024).ToArray()), null);
            for (int h = 0; h < request.Hooks.Count; h++)
            {
                int width = 1024;
                var expected = together[h].AsSpan(w * seq * width, seq * width);
                var got = moved.Hook(request.Hooks[h]);
                double worst = 0;
                for (int i = 0; i < got.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - expected[i]) / (Math.Abs(expected[i]) + 1e-3));
                Assert.True(expected.SequenceEqual(got), $"window {w} differs at {request.Hooks[h]} among other windows (worst relative {worst:E2})");
            }
        }
    }

    [Fact]
    public void RecomputedRecordsEqualKeptOnesOnTheEngine()
    {
        var random = new Random(11);
        var corpus = Path.Combine(temp.Path, "corpus.txt");
        File.WriteAllText(corpus, string.Join("\n<|endoftext|>\n", Enumerable.Range(0, 40)
            .Select(_ => new string(Enumerable.Range(0, random.Next(40, 200)).Select(_ => (char)('a' + random.Next(26))).ToArray()))));
        var settings = new CollectionSettings { SequenceLength = 32, TopK = 6, RandomSamples = 5, Quantiles = 3, PerQuantile = 2, BatchWindows = 8, MinTokenCount = 2 };
        string[] Records(long? budget)
        {
            using var model = Gpt2Shaped(258);
            using var store = SqliteNeuronStore.Open(Path.Combine(temp.Path, $"store-{budget}"));
            var summary = new Collector(model, settings with { MemoryBudget = budget }, new CorpusOptions(corpus), "gpt2-shaped").Run(store, "test");
            Assert.Equal(budget is null, summary.Plan!.KeepTopActivations);
            if (budget is null) Assert.Single(summary.Plan.Groups);
            return store.ListNeurons().Select(id => JsonSerializer.Serialize(store.GetNeuronRecord(id)!, DatasetJson.Default.NeuronRecord)).ToArray();
        }
        // The least budget any plan fits (in 64 KiB steps): top-K activations are then not kept in the pass but
        // recomputed after it.
        long least;
        using (var model = Gpt2Shaped(258))
        {
            var census = CorpusCensus.Count(new CorpusOptions(corpus), model, settings, null, null, default);
            var layers = settings.Validate(model.Info);
            least = Enumerable.Range(1, 4096).Select(i => i * 65536L).First(b =>
            {
                try { return MemoryPlanner.Plan(model.Info, layers, settings, census, b) is not null; }
                catch (NeuronExplainerException) { return false; }
            });
        }
        var kept = Records(null);
        var recomputed = Records(least);
        Assert.Equal(2048, kept.Length);
        Assert.Equal(kept, recomputed);
    }

    [Fact]
    public void PairingEveryBatchWithTheBareForwardPassTimesItAndLeavesTheRecordsAlone()
    {
        var corpus = Path.Combine(temp.Path, "corpus.txt");
        var random = new Random(4);
        File.WriteAllText(corpus, string.Join("\n<|endoftext|>\n", Enumerable.Range(0, 12)
            .Select(_ => new string(Enumerable.Range(0, random.Next(40, 120)).Select(_ => (char)('a' + random.Next(26))).ToArray()))));
        var settings = new CollectionSettings { SequenceLength = 32, TopK = 4, RandomSamples = 3, Quantiles = 2, PerQuantile = 2, BatchWindows = 4, MinTokenCount = 2 };
        (string[] Records, CollectionSummary Summary) Collect(bool paired)
        {
            using var model = Gpt2Shaped(258);
            using var store = SqliteNeuronStore.Open(Path.Combine(temp.Path, $"store-{paired}"));
            var collector = new Collector(model, settings, new CorpusOptions(corpus), "gpt2-shaped") { PairBareForward = paired };
            var summary = collector.Run(store, "test");
            return (store.ListNeurons().Select(id => JsonSerializer.Serialize(store.GetNeuronRecord(id)!, DatasetJson.Default.NeuronRecord)).ToArray(), summary);
        }
        var alone = Collect(false);
        var paired = Collect(true);
        Assert.Equal(TimeSpan.Zero, alone.Summary.BareForwardTime);
        Assert.True(paired.Summary.BareForwardTime > TimeSpan.Zero);
        Assert.Equal(alone.Records, paired.Records);
    }
}
