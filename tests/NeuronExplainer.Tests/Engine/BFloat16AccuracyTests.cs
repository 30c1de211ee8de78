using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Models;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;
using Xunit.Abstractions;

namespace NeuronExplainer.Tests.Engine;

/// <summary>
/// What bf16 weights change against float32: per hook, the relative error of the activations (‖bf16 − float32‖ /
/// ‖float32‖ over the whole hook tensor), and, for a collection, how many of each neuron's top-K windows stay the
/// same and how far the baseline's per-layer mean scores move. The bounds are the README's.
/// </summary>
public sealed class BFloat16AccuracyTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Largest relative error allowed at any hook (bf16's unit roundoff is 2^-8 = 0.39% per weight).</summary>
    public const double HookBound = 0.02;

    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void EveryHookOfGpt2TinyIsWithinTheBound() => AssertHooksWithinBound("gpt2-tiny", EngineFixtures.Path("gpt2-tiny"), "gpt2-tiny/");

    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void EveryHookOfStories260KIsWithinTheBound() => AssertHooksWithinBound("stories260K", EngineFixtures.Stories260K, "stories260K-");

    void AssertHooksWithinBound(string name, string path, string fixturePrefix)
    {
        using var reference = EngineFixtures.Reference.Load(EngineFixtures.Path(fixturePrefix + "tokens.json"), EngineFixtures.Path(fixturePrefix + "expected.safetensors"));
        var hooks = reference.Expected.Tensors.Keys.Where(h => h != "logits").Order(StringComparer.Ordinal).ToList();
        float[][] Run(WeightDType dtype)
        {
            var weights = ModelLoader.LoadWeights(path, dtype);
            using var model = new Transformer(name, weights, new IdTokenizer(weights.Config.VocabSize));
            var result = model.Forward(reference.Tokens, reference.Batch, reference.Seq, new ForwardRequest(hooks, Logits: true));
            return [.. hooks.Select(h => result.Hook(h).ToArray()), result.Logits!.Value.ToArray()];
        }
        var single = Run(WeightDType.Float32);
        var half = Run(WeightDType.BFloat16);
        var worst = 0.0;
        foreach (var (hook, i) in hooks.Append("logits").Select((h, i) => (h, i)))
        {
            var error = RelativeError(single[i], half[i]);
            output.WriteLine($"{name} {hook}: {error:P3}");
            Assert.True(error > 0, $"{hook}: bf16 gave float32's values exactly; the bf16 weights are not in use");
            Assert.True(error <= HookBound, $"{name} {hook}: bf16 relative error {error:P3} exceeds {HookBound:P0}");
            worst = Math.Max(worst, error);
        }
        output.WriteLine($"{name} worst: {worst:P3}");
    }

    static double RelativeError(float[] expected, float[] actual)
    {
        double difference = 0, norm = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            difference += Math.Pow(actual[i] - expected[i], 2);
            norm += Math.Pow(expected[i], 2);
        }
        return Math.Sqrt(difference / norm);
    }

    [Fact]
    public void TopWindowsOfATinyGpt2CollectionOverlapFloat32s()
    {
        var random = new Random(21);
        var corpus = Path.Combine(temp.Path, "corpus.txt");
        File.WriteAllText(corpus, string.Join("\n<|endoftext|>\n", Enumerable.Range(0, 150)
            .Select(_ => new string(Enumerable.Range(0, random.Next(20, 120)).Select(_ => (char)('a' + random.Next(LetterTokenizer.Letters))).ToArray()))));
        var settings = new CollectionSettings { SequenceLength = 16, TopK = 10, RandomSamples = 5, Quantiles = 3, PerQuantile = 2, BatchWindows = 16, MinTokenCount = 2 };
        SqliteNeuronStore Collect(WeightDType dtype)
        {
            var weights = ModelLoader.LoadWeights(EngineFixtures.Path("gpt2-tiny"), dtype);
            using var model = new Transformer("gpt2-tiny", weights, new LetterTokenizer());
            var store = SqliteNeuronStore.Open(Path.Combine(temp.Path, dtype.Name()));
            new Collector(model, settings, new CorpusOptions(corpus), "gpt2-tiny").Run(store, "test");
            Assert.Equal(dtype == WeightDType.BFloat16 ? "bf16" : null, store.GetManifest()!.Settings.GetValueOrDefault(Collector.DTypeSetting));
            return store;
        }
        using var single = Collect(WeightDType.Float32);
        using var half = Collect(WeightDType.BFloat16);
        var overlap = TopWindowOverlap(single, half);
        output.WriteLine($"gpt2-tiny top-10 overlap: {overlap:P2}");
        Assert.True(overlap >= 0.95, $"bf16 top-K windows overlap float32's in {overlap:P2}; expected at least 95%");
    }

    /// <summary>
    /// The README's main job (stories260K over the whole TinyStories head, default settings, baseline explainer and
    /// simulator) through the CLI's <c>run</c> in both dtypes. On a slice of 1,500 lines with top-K 20 one layer's mean
    /// moved by 0.011: fewer excerpts make the baseline's means noisier, so the bound holds for the full run only.
    /// </summary>
    [Trait(TestCategory.Name, TestCategory.Slow)]
    [Fact]
    public void Stories260KRunInBf16KeepsTopWindowsAndLayerMeanScores()
    {
        SqliteNeuronStore Run(string dtype)
        {
            var store = Path.Combine(temp.Path, dtype);
            var (code, _, err) = CliRunner.Run("run", "--model", EngineFixtures.Stories260K, "--tokenizer", SharedData.Path("models/stories260K/tok512.bin"),
                "--corpus", SharedData.Path("corpora/tinystories-train-head.txt"), "--store", store, "--dtype", dtype);
            Assert.True(code == 0, err);
            if (dtype == "bf16") Assert.Contains("note: bf16 weights", err);
            return SqliteNeuronStore.OpenExisting(store);
        }
        using var single = Run("float32");
        using var half = Run("bf16");
        var overlap = TopWindowOverlap(single, half);
        output.WriteLine($"stories260K top-40 overlap: {overlap:P2}");
        Assert.True(overlap >= 0.95, $"bf16 top-K windows overlap float32's in {overlap:P2}; expected at least 95%");

        var neurons = single.ListNeurons();
        var before = RunSummary.Build(single, neurons, "baseline", "baseline");
        var after = RunSummary.Build(half, neurons, "baseline", "baseline");
        Assert.Equal(before.Count, after.Count);
        foreach (var (f, b) in before.Zip(after))
        {
            output.WriteLine($"layer {f.Layer?.ToString() ?? "all"}: mean {f.Scores.Mean:0.0000} (float32) vs {b.Scores.Mean:0.0000} (bf16)");
            Assert.Equal(f.Done, b.Done);
            Assert.True(Math.Abs(f.Scores.Mean!.Value - b.Scores.Mean!.Value) < 0.01,
                $"layer {f.Layer}: baseline mean score {f.Scores.Mean:0.0000} (float32) vs {b.Scores.Mean:0.0000} (bf16) moved by 0.01 or more");
        }
    }

    /// <summary>Mean over neurons of the share of float32's top-K windows (by their tokens) that bf16's top-K also holds.</summary>
    static double TopWindowOverlap(INeuronStore single, INeuronStore half)
    {
        var neurons = single.ListNeurons();
        Assert.NotEmpty(neurons);
        Assert.Equal(neurons, half.ListNeurons());
        return neurons.Average(id =>
        {
            static List<string> Windows(INeuronStore store, NeuronId id) =>
                [.. store.GetNeuronRecord(id)!.MostPositiveActivationRecords.Select(r => string.Join('\u0001', r.Tokens))];
            var expected = Windows(single, id);
            var actual = Windows(half, id);
            var shared = expected.Count(w => actual.Remove(w));
            return (double)shared / expected.Count;
        });
    }

    /// <summary>gpt2-tiny's 50-token vocabulary: the first <see cref="Letters"/> letters are its first ids.</summary>
    sealed class LetterTokenizer : ITokenizer
    {
        public const int Letters = 20;
        public int VocabSize => Letters;
        public int? BosId => null;
        public int? EosId => null;
        public int[] Encode(string text) => [.. text.Where(c => c is >= 'a' and < (char)('a' + Letters)).Select(c => c - 'a')];
        public string Decode(ReadOnlySpan<int> ids) => new([.. ids.ToArray().Select(i => (char)('a' + i))]);
        public string TokenString(int id) => ((char)('a' + id)).ToString();
    }
}
