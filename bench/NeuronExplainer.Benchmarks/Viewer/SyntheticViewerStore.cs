using System.Diagnostics;
using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Benchmarks.Viewer;

/// <summary>
/// A store shaped like a finished GPT-2 small run (12 layers x 3072 neurons): per neuron 20 top and 20 random
/// 64-token excerpts, one scored explanation with 10 scored excerpts, related tokens and neurons. Built once
/// into a cache directory and reused, since writing it takes minutes.
/// </summary>
public static class SyntheticViewerStore
{
    public const int Layers = 12, NeuronsPerLayer = 3072, SeqLen = 64, TopExcerpts = 20, RandomExcerpts = 20, ScoredExcerpts = 10;

    // Explanations are drawn from these, so a search word matches hundreds of neurons, as on a real run.
    public static readonly string[] Topics =
    [
        "numbers", "dates", "animals", "colours", "clothing", "food", "weather", "family", "names", "places",
        "emotions", "sports", "music", "money", "time", "questions", "negation", "plurals", "verbs", "quotes",
        "punctuation", "parentheses", "code", "math", "science", "law", "medicine", "politics", "religion", "travel",
    ];
    static readonly string[] Shapes = ["words about", "the first token after", "tokens inside", "endings of words in", "mentions of"];
    static readonly string[] Contexts = ["in stories", "in news articles", "at the start of a sentence", "after a comma", "in lists", "in dialogue"];
    static readonly string[] Words =
    [
        " the", " a", " of", " and", " to", " in", " is", " was", " it", " that", ",", ".", " he", " she", " they",
        " cat", " dog", " red", " blue", " one", " two", " three", " day", " year", " said", " went", " home", "\n",
        " (", ")", " \"", " money", " rain", " happy", " sad", " game", " song", " law", " city", " river",
    ];

    public static string Directory => Path.Combine(Path.GetTempPath(), $"neuron-explainer-viewer-bench-{Layers}x{NeuronsPerLayer}-v1");

    /// <summary>Opens the cached store, building it first if no complete one exists.</summary>
    public static SqliteNeuronStore OpenOrBuild(TextWriter log)
    {
        string complete = Path.Combine(Directory, "complete");
        if (!File.Exists(complete))
        {
            if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
            var clock = Stopwatch.StartNew();
            using (var store = SqliteNeuronStore.Open(Directory)) Fill(store, log);
            File.WriteAllText(complete, $"built in {clock.Elapsed.TotalSeconds:0} s\n");
            log.WriteLine($"built the synthetic store in {clock.Elapsed.TotalSeconds:0} s: {Directory}");
        }
        return SqliteNeuronStore.OpenExisting(Directory);
    }

    static void Fill(INeuronStore store, TextWriter log)
    {
        store.PutManifest(new RunManifest("gpt2 (synthetic)", "synthetic", new Dictionary<string, string> { ["seq_len"] = $"{SeqLen}" }, "bench", DateTimeOffset.UtcNow));
        var clock = Stopwatch.StartNew();
        for (int layer = 0; layer < Layers; layer++)
        {
            const int batch = 256;
            for (int start = 0; start < NeuronsPerLayer; start += batch)
            {
                var ids = Enumerable.Range(start, batch).Select(n => new NeuronId(layer, n)).ToList();
                store.PutNeuronRecords(ids.Select(Record).ToList());
                foreach (var id in ids)
                {
                    var random = new Random(Seed(id) + 1);
                    store.PutExplanationResult(Result(id, random));
                    store.PutActivationBasedTokens(id, new TokenLookupTableSummaryOfNeuron(Pick(random, 20), Values(random, 20, 3)));
                    store.PutWeightBasedTokens(id, new WeightBasedSummaryOfNeuron(Weights(random, 1), Weights(random, -1), Weights(random, 1), Weights(random, -1)));
                    store.PutConnections(id, new NeuronConnections(
                        layer > 0 ? Connections(random, layer - 1) : null,
                        layer + 1 < Layers ? Connections(random, layer + 1) : null));
                }
            }
            int done = (layer + 1) * NeuronsPerLayer;
            log.WriteLine($"synthetic store: {done:N0}/{Layers * NeuronsPerLayer:N0} neurons, {done / clock.Elapsed.TotalSeconds:0} neurons/s");
        }
    }

    static int Seed(NeuronId id) => id.LayerIndex * 100_003 + id.NeuronIndex * 7;

    static NeuronRecord Record(NeuronId id)
    {
        var random = new Random(Seed(id));
        var top = Enumerable.Range(0, TopExcerpts).Select(_ => Excerpt(random, peak: 2 + 8 * random.NextDouble())).ToList();
        var sample = Enumerable.Range(0, RandomExcerpts).Select(_ => Excerpt(random, peak: 0)).ToList();
        return new NeuronRecord(id, sample, null, null, 0.01, 0.2, 3.5, 40, top);
    }

    static ActivationRecord Excerpt(Random random, double peak)
    {
        var activations = Values(random, SeqLen, 0.3);
        if (peak > 0) activations[random.Next(SeqLen)] = Math.Round(peak, 3);
        return new ActivationRecord(Pick(random, SeqLen), activations);
    }

    static NeuronExplanationResult Result(NeuronId id, Random random)
    {
        string text = $"{Shapes[random.Next(Shapes.Length)]} {Topics[random.Next(Topics.Length)]} and {Topics[random.Next(Topics.Length)]} {Contexts[random.Next(Contexts.Length)]}";
        var scored = Enumerable.Range(0, ScoredExcerpts).Select(_ =>
        {
            var excerpt = Excerpt(random, peak: random.Next(2) == 0 ? 4 : 0);
            var simulation = new SequenceSimulation(excerpt.Tokens, Values(random, SeqLen, 10), ActivationScale.SimulatedNormalizedActivations, [], []);
            return new ScoredSequenceSimulation(simulation, excerpt.Activations, Math.Round(random.NextDouble(), 3), null, null);
        }).ToList();
        double score = Math.Round(random.NextDouble() * 1.1 - 0.2, 3);
        var simulation = new ScoredSimulation(scored, score, score * score, score / 2) { EvCorrelationInterval = [score - 0.1, Math.Min(1, score + 0.1)] };
        return new NeuronExplanationResult(id, "synthetic", "synthetic", NeuronStatus.Done, null,
            new NeuronSimulationResults(id, [new ScoredExplanation(text, simulation)]), 0, DateTimeOffset.UtcNow);
    }

    static List<string> Pick(Random random, int count) => [.. Enumerable.Range(0, count).Select(_ => Words[random.Next(Words.Length)])];

    static List<double> Values(Random random, int count, double scale) => [.. Enumerable.Range(0, count).Select(_ => Math.Round(random.NextDouble() * scale, 3))];

    static TokensAndWeights Weights(Random random, int sign) => new(Pick(random, 20), [.. Values(random, 20, 1).Select(v => sign * v)]);

    static ConnectionList Connections(Random random, int layer) => new(
        [.. Enumerable.Range(0, 10).Select(_ => $"{layer}_{random.Next(NeuronsPerLayer)}")], Values(random, 10, 1),
        [.. Enumerable.Range(0, 10).Select(_ => $"{layer}_{random.Next(NeuronsPerLayer)}")], [.. Values(random, 10, 1).Select(v => -v)]);
}
