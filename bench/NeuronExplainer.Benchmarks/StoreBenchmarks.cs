using BenchmarkDotNet.Attributes;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Benchmarks;

/// <summary>
/// What the viewer asks of a store the size of GPT-2 small (12 layers x 3,072 = 36,864 neurons), with
/// records of realistic size (20 top + 20 random + 10 quantile excerpts of 64 tokens) and one scored
/// explanation each. Targets: a neuron page under 50 ms, a search under 100 ms. The store is built once
/// (about a minute) in the temp directory and reused by later runs.
/// </summary>
[SimpleJob(warmupCount: 2, iterationCount: 8)]
[MemoryDiagnoser]
public class StoreBenchmarks
{
    const int Layers = 12, NeuronsPerLayer = 3072, Tokens = 64;
    static readonly string[] Vocabulary = [.. Enumerable.Range(0, 400).Select(i => $"word{i}")];

    SqliteNeuronStore store = null!;
    int next;

    [GlobalSetup]
    public void Setup()
    {
        string directory = Path.Combine(Path.GetTempPath(), "neuron-explainer-bench", $"store-{Layers}x{NeuronsPerLayer}");
        store = SqliteNeuronStore.Open(directory);
        if (store.GetManifest() is not null) return;
        var random = new Random(1);
        for (int layer = 0; layer < Layers; layer++)
        {
            for (int start = 0; start < NeuronsPerLayer; start += 256)
            {
                var ids = Enumerable.Range(start, 256).Select(n => new NeuronId(layer, n)).ToList();
                store.Batch(() =>
                {
                    store.PutNeuronRecords([.. ids.Select(id => Record(id, random))]);
                    foreach (var id in ids)
                    {
                        store.PutExplanationResult(Result(id, random));
                        store.PutActivationBasedTokens(id, new TokenLookupTableSummaryOfNeuron([.. Vocabulary.Take(20)], [.. Enumerable.Range(0, 20).Select(i => 20.0 - i)]));
                        store.PutConnections(id, new NeuronConnections(null, new ConnectionList([$"{layer + 1}_1"], [0.5], [$"{layer + 1}_2"], [-0.5])));
                    }
                });
            }
            Console.Error.WriteLine($"built layer {layer + 1}/{Layers}");
        }
        store.PutManifest(new RunManifest("synthetic", "synthetic", new Dictionary<string, string>(), "bench", DateTimeOffset.UtcNow));
    }

    [GlobalCleanup]
    public void Cleanup() => store.Dispose();

    static ActivationRecord Excerpt(Random random) => new(
        [.. Enumerable.Range(0, Tokens).Select(_ => " " + Vocabulary[random.Next(Vocabulary.Length)])],
        [.. Enumerable.Range(0, Tokens).Select(_ => Math.Round(random.NextDouble() * 5 - 0.2, 4))]);

    static NeuronRecord Record(NeuronId id, Random random) => new(id,
        [.. Enumerable.Range(0, 20).Select(_ => Excerpt(random))],
        [.. Enumerable.Range(0, 5).Select(_ => (IReadOnlyList<ActivationRecord>)[Excerpt(random), Excerpt(random)])],
        [-0.2, 0.1, 0.5, 1, 2, 5], 0.1, 0.4, 2.5, 9.1,
        [.. Enumerable.Range(0, 20).Select(_ => Excerpt(random))]);

    static NeuronExplanationResult Result(NeuronId id, Random random)
    {
        var excerpts = Enumerable.Range(0, 10).Select(_ => Excerpt(random)).ToList();
        var simulations = excerpts.Select(e => new SequenceSimulation(e.Tokens,
            [.. e.Activations.Select(a => Math.Clamp(Math.Round(2 * a), 0, 10))], ActivationScale.SimulatedNormalizedActivations,
            [.. e.Tokens.Select(_ => (IReadOnlyList<double>)[0.0, 5, 10])], [.. e.Tokens.Select(_ => (IReadOnlyList<double>)[0.5, 0.3, 0.2])])).ToList();
        string explanation = "words such as " + string.Join(", ", Enumerable.Range(0, 5).Select(_ => Vocabulary[random.Next(Vocabulary.Length)]));
        var results = new NeuronSimulationResults(id, [new ScoredExplanation(explanation, SimulationScorer.Score(excerpts, simulations, resamples: 100))]);
        return new NeuronExplanationResult(id, "baseline", "baseline", NeuronStatus.Done, null, results, 0, DateTimeOffset.UtcNow);
    }

    /// <summary>Everything a neuron page shows.</summary>
    [Benchmark]
    public int NeuronPage()
    {
        next = (next + 7919) % (Layers * NeuronsPerLayer);
        var id = new NeuronId(next / NeuronsPerLayer, next % NeuronsPerLayer);
        return store.GetNeuronRecord(id)!.MostPositiveActivationRecords.Count + store.GetExplanationResults(id).Count
            + (store.GetActivationBasedTokens(id)?.Tokens.Count ?? 0) + (store.GetWeightBasedTokens(id)?.InputPositive.Tokens.Count ?? 0)
            + (store.GetConnections(id) is null ? 0 : 1);
    }

    /// <summary>One layer's 3,072 chosen explanations and scores.</summary>
    [Benchmark]
    public int LayerListing() => store.ListScores(5).Count;

    /// <summary>A word in about 1% of explanations.</summary>
    [Benchmark]
    public int SearchOneWord() => store.SearchExplanations("word42", 20).Count;

    /// <summary>Worst case: a word in every explanation, so all 36,864 are ranked.</summary>
    [Benchmark]
    public int SearchEveryExplanation() => store.SearchExplanations("such", 20).Count;
}
