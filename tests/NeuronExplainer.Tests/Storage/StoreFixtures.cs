using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Scoring;
using NeuronExplainer.Explanations;

namespace NeuronExplainer.Tests.Storage;

/// <summary>A temporary directory removed after the test.</summary>
sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("neuron-explainer-test-").FullName;

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

static class StoreFixtures
{
    /// <summary>Hand-written files in OpenAI's layout and formatting (Python-style spacing, 1.0, null moments).</summary>
    public static readonly string OpenAiLayout = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Storage", "openai-layout");

    /// <summary>Every file under <paramref name="root"/>, relative path to parsed JSON (one element per jsonl line).</summary>
    public static Dictionary<string, List<JsonElement>> ReadTree(string root) =>
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).ToDictionary(
            f => Path.GetRelativePath(root, f).Replace('\\', '/'),
            f => File.ReadLines(f).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList());

    public static void AssertSameJson(string expectedRoot, string actualRoot)
    {
        var expected = ReadTree(expectedRoot);
        var actual = ReadTree(actualRoot);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (path, lines) in expected)
        {
            Assert.Equal(lines.Count, actual[path].Count);
            for (int i = 0; i < lines.Count; i++)
                Assert.True(JsonElement.DeepEquals(lines[i], actual[path][i]), $"{path} line {i + 1} differs:\n{lines[i]}\n{actual[path][i]}");
        }
    }

    public static void CopyTree(string from, string to)
    {
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    public static ActivationRecord Excerpt(int seed, int length = 8)
    {
        var random = new Random(seed);
        return new ActivationRecord(
            [.. Enumerable.Range(0, length).Select(i => i % 3 == 0 ? $" w{random.Next(100)}" : $"t{random.Next(100)}")],
            [.. Enumerable.Range(0, length).Select(_ => Math.Round(random.NextDouble() * 4 - 1, 3))]);
    }

    /// <summary>An excerpt with attended tokens per token (up to 3 earlier positions, float32 weights), as a head's.</summary>
    public static ActivationRecord HeadExcerpt(int seed, int length = 8)
    {
        var random = new Random(seed);
        return Excerpt(seed, length) with
        {
            Attended = [.. Enumerable.Range(0, length).Select(t => (IReadOnlyList<AttendedToken>)[.. Enumerable.Range(0, Math.Min(3, t + 1))
                .Select(j => new AttendedToken(t - j - random.Next(0, Math.Max(1, t - j)) / 2, (double)(float)(random.NextDouble() / (j + 1))))])],
        };
    }

    /// <summary>A head's record whose every excerpt carries attended tokens.</summary>
    public static NeuronRecord HeadRecord(int layer, int head) => Record(layer, head) with
    {
        NeuronId = NeuronId.Head(layer, head),
        RandomSample = [.. Enumerable.Range(0, 6).Select(i => HeadExcerpt(1000 * layer + 10 * head + i))],
        RandomSampleByQuantile = [[HeadExcerpt(1)], [HeadExcerpt(2, 5)]],
        MostPositiveActivationRecords = [.. Enumerable.Range(0, 8).Select(i => HeadExcerpt(7 + 1000 * layer + 10 * head + i))],
    };

    public static NeuronRecord Record(int layer, int neuron) => new(
        new NeuronId(layer, neuron),
        RandomSample: [.. Enumerable.Range(0, 6).Select(i => Excerpt(1000 * layer + 10 * neuron + i))],
        RandomSampleByQuantile: [[Excerpt(1)], [Excerpt(2)]],
        QuantileBoundaries: [-1, 0.5, 3],
        Mean: 0.25, Variance: 1.5, Skewness: null, Kurtosis: 3.25,
        MostPositiveActivationRecords: [.. Enumerable.Range(0, 8).Select(i => Excerpt(7 + 1000 * layer + 10 * neuron + i))]);

    public static NeuronSimulationResults Results(NeuronId id, params string[] explanations) => new(id,
        [.. explanations.Select((text, i) => new ScoredExplanation(text, ScoringFixtures.Score(
            [([0, 1, 2, 3], [0, 1 + i, 1, 3]), ([2, 0, 1, 0], [2, 0, 0, 1])]) with { TopOnlyScore = 0.25 + i, RandomOnlyScore = -0.125 }))]);

    /// <summary>
    /// Results scored, as a run scores them, on some of a record's excerpts (so their true activations are the record's),
    /// with the baseline's point-mass distributions and an uncalibrated simulation on the 0..10 scale.
    /// </summary>
    public static NeuronSimulationResults ResultsOnRecord(NeuronRecord record, params string[] explanations)
    {
        var excerpts = record.MostPositiveActivationRecords.Take(3).Concat(record.RandomSample.Take(3)).ToList();
        static SequenceSimulation PointMass(IReadOnlyList<string> tokens, double[] values, ActivationScale scale) =>
            SequenceSimulation.PointMass(tokens, values, scale) with { Method = "baseline" };
        return new(record.NeuronId, [.. explanations.Select(text => new ScoredExplanation(text, SimulationScorer.Score(excerpts,
            [.. excerpts.Select(e => PointMass(e.Tokens, [.. e.Activations.Select(a => 0.37 * Math.Round(a * 2) + 0.1)], ActivationScale.NeuronActivations) with
            {
                UncalibratedSimulation = PointMass(e.Tokens, [.. e.Activations.Select(a => Math.Round(a * 2))], ActivationScale.SimulatedNormalizedActivations),
            })], bootstrapSeed: 1)))]);
    }

    public static NeuronExplanationResult Done(NeuronId id, string explainer, params string[] explanations) =>
        new(id, explainer, "baseline", NeuronStatus.Done, null, Results(id, explanations), 0,
            new DateTimeOffset(2026, 11, 21, 9, 0, 0, TimeSpan.Zero));

    public static TokenLookupTableSummaryOfNeuron ActivationTokens() => new([" cat", " dog"], [2.5, 1.25]) { Counts = [10, 3] };

    public static WeightBasedSummaryOfNeuron WeightTokens() => new(
        new TokensAndWeights([" up"], [0.5]), new TokensAndWeights([" down"], [-0.5]),
        new TokensAndWeights([" yes", " sure"], [0.75, 0.5]), new TokensAndWeights([" no"], [-0.25]));

    public static NeuronConnections Connections(int layer) => new(
        layer == 0 ? null : new ConnectionList([$"{layer - 1}_3"], [0.5], [$"{layer - 1}_4"], [-0.5]),
        new ConnectionList([$"{layer + 1}_1", $"{layer + 1}_2"], [0.25, 0.125], [], []));
}
