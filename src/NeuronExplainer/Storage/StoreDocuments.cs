using System.Text.Json;
using System.Text.Json.Serialization;
using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Storage;

/// <summary>
/// The store's binary documents (migration 7), each deflated. A record keeps per excerpt the id of its shared token
/// window and its activations; a result keeps per scored excerpt a reference to the neuron's record excerpt it was
/// scored on (tokens and true activations equal), and a point-mass distribution as a flag, so nothing is stored twice.
/// Everything reads back equal to what was put, to the bit; OpenAI's JSON is made only on export. Encoders return the
/// written bytes uncompressed, so a caller can deflate many on all cores.
/// </summary>
static class StoreDocuments
{
    const byte Version = 1;

    /// <summary>Records of attention heads, whose excerpts carry each token's attended tokens (after the quantile bins).</summary>
    const byte AttendedRecordVersion = 2;

    /// <summary>Results gained the top-only and random-only scores in version 2; version 1 results read back without them.</summary>
    const byte ResultsVersion = 2;

    /// <summary>Runs the data model's checks (those reading JSON runs), so nothing invalid is stored.</summary>
    public static void Check(IJsonOnDeserialized value) => value.OnDeserialized();

    /// <summary>The checks of a record and every excerpt in it.</summary>
    public static void CheckRecord(NeuronRecord record)
    {
        Check(record);
        var excerpts = Excerpts(record);
        foreach (var excerpt in excerpts) Check(excerpt);
        int attended = excerpts.Count(e => e.Attended is not null);
        if (attended != 0 && attended != excerpts.Count)
            throw new System.Text.Json.JsonException($"{attended} of the {excerpts.Count} excerpts of {record.NeuronId} carry attended tokens; expected all or none");
    }

    /// <summary>The checks of results and every part of them.</summary>
    public static void CheckResults(NeuronSimulationResults results)
    {
        Check(results);
        foreach (var explanation in results.ScoredExplanations)
        {
            Check(explanation);
            Check(explanation.ScoredSimulation);
            foreach (var sequence in explanation.ScoredSimulation.ScoredSequenceSimulations)
            {
                Check(sequence);
                for (var simulation = sequence.Simulation; simulation is not null; simulation = simulation.UncalibratedSimulation) Check(simulation);
            }
        }
    }

    /// <summary>Every excerpt of a record in one order (top, random, then each quantile's), which results refer to.</summary>
    public static List<ActivationRecord> Excerpts(NeuronRecord record) =>
        [.. record.MostPositiveActivationRecords, .. record.RandomSample, .. (record.RandomSampleByQuantile ?? []).SelectMany(q => q)];

    /// <summary>Lays out a record checked by <see cref="CheckRecord"/>.</summary>
    public static CompactWriter EncodeRecord(NeuronRecord record, IStoreVocabulary vocabulary)
    {
        var w = new CompactWriter();
        var all = Excerpts(record);
        bool attended = all.Count > 0 && all[0].Attended is not null;
        // Records without attended tokens keep version 1's layout byte for byte.
        w.Byte(attended ? AttendedRecordVersion : Version);
        w.NullableDouble(record.Mean);
        w.NullableDouble(record.Variance);
        w.NullableDouble(record.Skewness);
        w.NullableDouble(record.Kurtosis);
        w.NullableValues(record.QuantileBoundaries);
        Excerpts(w, record.MostPositiveActivationRecords, vocabulary);
        Excerpts(w, record.RandomSample, vocabulary);
        w.Byte(record.RandomSampleByQuantile is null ? (byte)0 : (byte)1);
        if (record.RandomSampleByQuantile is { } bins)
        {
            w.Count(bins.Count);
            foreach (var bin in bins) Excerpts(w, bin, vocabulary);
        }
        if (attended)
            foreach (var excerpt in all) Attended(w, excerpt.Attended!);
        // Last and only when there is one, so records without it (neurons, older stores) keep their layout.
        if (record.Density is { } density) w.Double(density);
        return w;
    }

    static void Excerpts(CompactWriter w, IReadOnlyList<ActivationRecord> excerpts, IStoreVocabulary vocabulary)
    {
        w.Count(excerpts.Count);
        foreach (var excerpt in excerpts)
        {
            w.Varint((ulong)vocabulary.WindowId(excerpt.Tokens));
            w.Values(excerpt.Activations);
        }
    }

    /// <summary>Per token the count of its sources and each one's distance back from it, then every weight of the excerpt.</summary>
    static void Attended(CompactWriter w, IReadOnlyList<IReadOnlyList<AttendedToken>> attended)
    {
        var weights = new List<double>();
        w.Count(attended.Count);
        for (int t = 0; t < attended.Count; t++)
        {
            w.Count(attended[t].Count);
            foreach (var source in attended[t])
            {
                w.Varint((ulong)(t - source.Position));
                weights.Add(source.Weight);
            }
        }
        w.Values(weights);
    }

    static IReadOnlyList<AttendedToken>[] ReadAttended(CompactReader r)
    {
        var lists = new IReadOnlyList<AttendedToken>[r.Count()];
        var positions = new List<int>[lists.Length];
        for (int t = 0; t < lists.Length; t++)
        {
            positions[t] = [.. Enumerable.Range(0, r.Count()).Select(_ => t - (int)r.Varint())];
        }
        var weights = r.Values();
        int next = 0;
        for (int t = 0; t < lists.Length; t++)
        {
            if (next + positions[t].Count > weights.Length) throw CompactReader.Damaged($"its attended tokens hold {weights.Length} weights for more sources");
            lists[t] = [.. positions[t].Select(p => new AttendedToken(p, weights[next++]))];
        }
        return next == weights.Length ? lists : throw CompactReader.Damaged($"its attended tokens hold {weights.Length} weights for {next} sources");
    }

    public static NeuronRecord DecodeRecord(NeuronId id, byte[] blob, IStoreVocabulary vocabulary) => ParseRecord(blob).Build(id, vocabulary);

    /// <summary>
    /// A record's blob read into its values and window ids, the costly part of decoding, which needs no store; the windows'
    /// tokens are looked up by <see cref="ParsedRecord.Build"/>.
    /// </summary>
    public static ParsedRecord ParseRecord(byte[] blob)
    {
        var r = CompactReader.Decompress(blob);
        bool attended = RequireVersion(r, AttendedRecordVersion) == AttendedRecordVersion;
        var (mean, variance, skewness, kurtosis) = (r.NullableDouble(), r.NullableDouble(), r.NullableDouble(), r.NullableDouble());
        var boundaries = r.NullableValues();
        var top = ExcerptSlots(r);
        var random = ExcerptSlots(r);
        var bins = r.Flag() ? Enumerable.Range(0, r.Count()).Select(_ => ExcerptSlots(r)).ToList() : null;
        int excerptCount = top.Count + random.Count + (bins?.Sum(b => b.Count) ?? 0);
        var sources = attended ? Enumerable.Range(0, excerptCount).Select(_ => ReadAttended(r)).ToArray() : null;
        double? density = r.AtEnd ? null : r.Double();
        return new ParsedRecord(mean, variance, skewness, kurtosis, boundaries, top, random, bins, sources, density);
    }

    public sealed record ParsedRecord(double? Mean, double? Variance, double? Skewness, double? Kurtosis, IReadOnlyList<double>? Boundaries,
        List<(long Window, double[] Values)> Top, List<(long Window, double[] Values)> Random, List<List<(long Window, double[] Values)>>? Bins,
        IReadOnlyList<AttendedToken>[][]? Sources, double? Density)
    {
        /// <summary>The record, its windows' tokens read from <paramref name="vocabulary"/> in one lookup.</summary>
        public NeuronRecord Build(NeuronId id, IStoreVocabulary vocabulary)
        {
            var windows = vocabulary.Windows(Top.Concat(Random).Concat(Bins?.SelectMany(b => b) ?? []).Select(s => s.Window));
            int built = 0;
            ActivationRecord[] Excerpts(List<(long Window, double[] Values)> slots) =>
                [.. slots.Select(s => windows[s.Window].Length == s.Values.Length
                    ? new ActivationRecord(windows[s.Window], s.Values) { Attended = Sources?[built++] }
                    : throw CompactReader.Damaged($"window {s.Window} has {windows[s.Window].Length} tokens but its excerpt {s.Values.Length} activations"))];
            // Built in the order the excerpts were written: top, random, then each bin.
            var top = Excerpts(Top);
            var random = Excerpts(Random);
            var bins = Bins?.Select(b => (IReadOnlyList<ActivationRecord>)Excerpts(b)).ToArray();
            return new NeuronRecord(id, random, bins, Boundaries, Mean, Variance, Skewness, Kurtosis, top) { Density = Density };
        }
    }

    static List<(long Window, double[] Values)> ExcerptSlots(CompactReader r)
    {
        int n = r.Count();
        var slots = new List<(long, double[])>(n);
        for (int i = 0; i < n; i++) slots.Add(((long)r.Varint(), r.Values()));
        return slots;
    }

    /// <summary>Lays out results checked by <see cref="CheckResults"/>.</summary>
    public static CompactWriter EncodeResults(NeuronSimulationResults results, IReadOnlyList<ActivationRecord>? excerpts, IStoreVocabulary vocabulary)
    {
        var w = new CompactWriter();
        w.Byte(ResultsVersion);
        w.Count(results.ScoredExplanations.Count);
        foreach (var explanation in results.ScoredExplanations)
        {
            w.String(explanation.Explanation);
            var s = explanation.ScoredSimulation;
            w.NullableDouble(s.EvCorrelationScore);
            w.NullableDouble(s.RsquaredScore);
            w.NullableDouble(s.AbsoluteDevExplainedScore);
            w.String(s.UndefinedReason);
            w.NullableValues(s.EvCorrelationInterval);
            w.NullableDouble(s.TopOnlyScore);
            w.NullableDouble(s.RandomOnlyScore);
            w.Count(s.ScoredSequenceSimulations.Count);
            foreach (var sequence in s.ScoredSequenceSimulations)
            {
                int match = excerpts is null ? -1 : FindExcerpt(excerpts, sequence);
                IReadOnlyList<string> tokens;
                if (match >= 0)
                {
                    w.Count(match + 1);
                    tokens = excerpts![match].Tokens;
                }
                else
                {
                    w.Count(0);
                    TokenList(w, sequence.Simulation.Tokens, vocabulary);
                    w.Values(sequence.TrueActivations);
                    tokens = sequence.Simulation.Tokens;
                }
                w.NullableDouble(sequence.EvCorrelationScore);
                w.NullableDouble(sequence.RsquaredScore);
                w.NullableDouble(sequence.AbsoluteDevExplainedScore);
                Simulation(w, sequence.Simulation, tokens, vocabulary);
            }
        }
        return w;
    }

    /// <summary>
    /// <see cref="EncodeResults"/>, compressed, for results that need no token or window ids (every simulation is of one of
    /// <paramref name="excerpts"/>, as the pipeline's are): so a store can encode them before taking its lock. Null when
    /// they do need ids, which only a store's write can give.
    /// </summary>
    public static byte[]? EncodeResultsWithoutVocabulary(NeuronSimulationResults results, IReadOnlyList<ActivationRecord>? excerpts)
    {
        var vocabulary = new NoVocabulary();
        var blob = EncodeResults(results, excerpts, vocabulary).ToCompressed();
        return vocabulary.Asked ? null : blob;
    }

    /// <summary>Gives no ids, only notes that one was asked for (the blob written meanwhile is thrown away).</summary>
    sealed class NoVocabulary : IStoreVocabulary
    {
        public bool Asked { get; private set; }

        public int TokenId(string text) { Asked = true; return 0; }

        public long WindowId(IReadOnlyList<string> tokens) { Asked = true; return 0; }

        public string TokenText(int id) => throw new InvalidOperationException("encoding reads no token strings");

        public Dictionary<long, string[]> Windows(IEnumerable<long> ids) => throw new InvalidOperationException("encoding reads no windows");
    }

    /// <summary>The record excerpt with the sequence's tokens and, to the bit, its true activations; -1 when none.</summary>
    static int FindExcerpt(IReadOnlyList<ActivationRecord> excerpts, ScoredSequenceSimulation sequence)
    {
        var truth = sequence.TrueActivations;
        for (int k = 0; k < excerpts.Count; k++)
        {
            var candidate = excerpts[k].Activations;
            if (candidate.Count != truth.Count) continue;
            int i = 0;
            while (i < truth.Count && BitConverter.DoubleToInt64Bits(candidate[i]) == BitConverter.DoubleToInt64Bits(truth[i])) i++;
            if (i == truth.Count && excerpts[k].Tokens.SequenceEqual(sequence.Simulation.Tokens, StringComparer.Ordinal)) return k;
        }
        return -1;
    }

    [Flags]
    enum SimulationFlags : byte
    {
        OwnTokens = 1,
        NormalizedScale = 2,
        Method = 4,
        Uncalibrated = 8,
        PointMass = 16,
    }

    static void Simulation(CompactWriter w, SequenceSimulation simulation, IReadOnlyList<string> parentTokens, IStoreVocabulary vocabulary)
    {
        bool ownTokens = !simulation.Tokens.SequenceEqual(parentTokens, StringComparer.Ordinal);
        bool pointMass = simulation.IsPointMass;
        var flags = (ownTokens ? SimulationFlags.OwnTokens : 0)
            | (simulation.ActivationScale == ActivationScale.SimulatedNormalizedActivations ? SimulationFlags.NormalizedScale : 0)
            | (simulation.Method is null ? 0 : SimulationFlags.Method)
            | (simulation.UncalibratedSimulation is null ? 0 : SimulationFlags.Uncalibrated)
            | (pointMass ? SimulationFlags.PointMass : 0);
        w.Byte((byte)flags);
        if (ownTokens) TokenList(w, simulation.Tokens, vocabulary);
        if (simulation.Method is { } method) w.String(method);
        w.Values(simulation.ExpectedActivations);
        if (!pointMass)
        {
            w.Count(simulation.DistributionValues.Count);
            foreach (var values in simulation.DistributionValues) w.Values(values);
            w.Count(simulation.DistributionProbabilities.Count);
            foreach (var probabilities in simulation.DistributionProbabilities) w.Values(probabilities);
        }
        if (simulation.UncalibratedSimulation is { } uncalibrated) Simulation(w, uncalibrated, simulation.Tokens, vocabulary);
    }

    public static NeuronSimulationResults DecodeResults(NeuronId id, byte[] blob, Func<IReadOnlyList<ActivationRecord>> excerpts, IStoreVocabulary vocabulary)
    {
        var r = CompactReader.Decompress(blob);
        byte version = r.Byte();
        if (version is not (1 or ResultsVersion)) throw CompactReader.Damaged($"its format is version {version}; this build reads results of versions 1 and {ResultsVersion}");
        var explanations = new ScoredExplanation[r.Count()];
        for (int e = 0; e < explanations.Length; e++)
        {
            string text = r.RequiredString();
            var (ev, rsquared, absdev) = (r.NullableDouble(), r.NullableDouble(), r.NullableDouble());
            string? undefined = r.String();
            var interval = r.NullableValues();
            var (top, random) = version >= 2 ? (r.NullableDouble(), r.NullableDouble()) : (null, null);
            var sequences = new ScoredSequenceSimulation[r.Count()];
            for (int q = 0; q < sequences.Length; q++)
            {
                int source = r.Count();
                IReadOnlyList<string> tokens;
                IReadOnlyList<double> truth;
                if (source == 0)
                {
                    tokens = ReadTokenList(r, vocabulary);
                    truth = r.Values();
                }
                else
                {
                    var all = excerpts();
                    if (source > all.Count) throw CompactReader.Damaged($"a scored excerpt refers to record excerpt {source - 1} of the {all.Count} of neuron {id}");
                    (tokens, truth) = (all[source - 1].Tokens, all[source - 1].Activations);
                }
                var (sev, srsquared, sabsdev) = (r.NullableDouble(), r.NullableDouble(), r.NullableDouble());
                sequences[q] = new ScoredSequenceSimulation(ReadSimulation(r, tokens, vocabulary), truth, sev, srsquared, sabsdev);
            }
            explanations[e] = new ScoredExplanation(text, new ScoredSimulation(sequences, ev, rsquared, absdev)
            {
                UndefinedReason = undefined,
                EvCorrelationInterval = interval,
                TopOnlyScore = top,
                RandomOnlyScore = random,
            });
        }
        return new NeuronSimulationResults(id, explanations);
    }

    static SequenceSimulation ReadSimulation(CompactReader r, IReadOnlyList<string> parentTokens, IStoreVocabulary vocabulary)
    {
        var flags = (SimulationFlags)r.Byte();
        var tokens = flags.HasFlag(SimulationFlags.OwnTokens) ? ReadTokenList(r, vocabulary) : parentTokens;
        string? method = flags.HasFlag(SimulationFlags.Method) ? r.RequiredString() : null;
        var expected = r.Values();
        IReadOnlyList<IReadOnlyList<double>> values, probabilities;
        if (flags.HasFlag(SimulationFlags.PointMass))
        {
            values = new PointMassValues(expected);
            probabilities = new CertainProbabilities(expected.Length);
        }
        else
        {
            values = [.. Enumerable.Range(0, r.Count()).Select(_ => (IReadOnlyList<double>)r.Values())];
            probabilities = [.. Enumerable.Range(0, r.Count()).Select(_ => (IReadOnlyList<double>)r.Values())];
        }
        var scale = flags.HasFlag(SimulationFlags.NormalizedScale) ? ActivationScale.SimulatedNormalizedActivations : ActivationScale.NeuronActivations;
        return new SequenceSimulation(tokens, expected, scale, values, probabilities)
        {
            Method = method,
            UncalibratedSimulation = flags.HasFlag(SimulationFlags.Uncalibrated) ? ReadSimulation(r, tokens, vocabulary) : null,
        };
    }

    public static CompactWriter EncodeActivationTokens(TokenLookupTableSummaryOfNeuron table, IStoreVocabulary vocabulary)
    {
        Check(table);
        var w = new CompactWriter();
        w.Byte(Version);
        TokenList(w, table.Tokens, vocabulary);
        w.Values(table.AverageActivations);
        w.Byte(table.Counts is null ? (byte)0 : (byte)1);
        if (table.Counts is { } counts)
        {
            w.Count(counts.Count);
            foreach (long c in counts) w.Signed(c);
        }
        return w;
    }

    public static TokenLookupTableSummaryOfNeuron DecodeActivationTokens(byte[] blob, IStoreVocabulary vocabulary)
    {
        var r = CompactReader.Decompress(blob);
        RequireVersion(r);
        var tokens = ReadTokenList(r, vocabulary);
        var values = r.Values();
        long[]? counts = r.Flag() ? [.. Enumerable.Range(0, r.Count()).Select(_ => r.Signed())] : null;
        return new TokenLookupTableSummaryOfNeuron(tokens, values) { Counts = counts };
    }

    public static CompactWriter EncodeWeightTokens(WeightBasedSummaryOfNeuron summary, IStoreVocabulary vocabulary)
    {
        Check(summary);
        var w = new CompactWriter();
        w.Byte(Version);
        foreach (var part in new[] { summary.InputPositive, summary.InputNegative, summary.OutputPositive, summary.OutputNegative })
        {
            Check(part);
            TokenList(w, part.Tokens, vocabulary);
            w.Values(part.Strengths);
        }
        return w;
    }

    public static WeightBasedSummaryOfNeuron DecodeWeightTokens(byte[] blob, IStoreVocabulary vocabulary)
    {
        var r = CompactReader.Decompress(blob);
        RequireVersion(r);
        TokensAndWeights Part() => new(ReadTokenList(r, vocabulary), r.Values());
        return new WeightBasedSummaryOfNeuron(Part(), Part(), Part(), Part());
    }

    public static CompactWriter EncodeConnections(NeuronConnections connections)
    {
        var w = new CompactWriter();
        w.Byte(Version);
        foreach (var list in new[] { connections.Upstream, connections.Downstream })
        {
            w.Byte(list is null ? (byte)0 : (byte)1);
            if (list is null) continue;
            Check(list);
            StringList(w, list.TopPositiveNeurons);
            w.Values(list.TopPositiveWeights);
            StringList(w, list.TopNegativeNeurons);
            w.Values(list.TopNegativeWeights);
        }
        return w;
    }

    public static NeuronConnections DecodeConnections(byte[] blob)
    {
        var r = CompactReader.Decompress(blob);
        RequireVersion(r);
        ConnectionList? List() => r.Flag() ? new ConnectionList(ReadStringList(r), r.Values(), ReadStringList(r), r.Values()) : null;
        var upstream = List();
        return new NeuronConnections(upstream, List());
    }

    static void TokenList(CompactWriter w, IReadOnlyList<string> tokens, IStoreVocabulary vocabulary)
    {
        w.Count(tokens.Count);
        foreach (var token in tokens) w.Count(vocabulary.TokenId(token));
    }

    static string[] ReadTokenList(CompactReader r, IStoreVocabulary vocabulary) =>
        [.. Enumerable.Range(0, r.Count()).Select(_ => vocabulary.TokenText(checked((int)r.Varint())))];

    static void StringList(CompactWriter w, IReadOnlyList<string> strings)
    {
        w.Count(strings.Count);
        foreach (var s in strings) w.String(s);
    }

    static string[] ReadStringList(CompactReader r) => [.. Enumerable.Range(0, r.Count()).Select(_ => r.RequiredString())];

    /// <summary>Reads the version byte: <see cref="Version"/>, or <paramref name="alsoRead"/> where a document has a second form.</summary>
    static byte RequireVersion(CompactReader r, byte alsoRead = Version)
    {
        byte version = r.Byte();
        if (version != Version && version != alsoRead)
            throw CompactReader.Damaged($"its format is version {version}; this build reads version {(alsoRead == Version ? $"{Version}" : $"{Version} or {alsoRead}")}");
        return version;
    }

    /// <summary>A JSON failure of the data model's checks as the error a Put reports.</summary>
    public static NeuronExplainerException Refused(string what, Exception e) => new($"cannot store {what}: {e.Message}", e);

    public static bool IsCheckFailure(Exception e) => e is JsonException or ArgumentException or InvalidOperationException;
}
