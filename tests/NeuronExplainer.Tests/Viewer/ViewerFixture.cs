using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Viewer;

/// <summary>
/// A small run written through the store's public interface: two layers of three neurons, with tokens
/// chosen to break a careless page (markup, entities, quotes, control characters).
/// </summary>
static class ViewerFixture
{
    /// <summary>A SQLite store in a temporary directory holding the fixture.</summary>
    public static TempStore Store()
    {
        var temp = new TempStore();
        Fill(temp.Store);
        return temp;
    }

    public const string ScriptToken = "<script>alert(1)</script>";
    public static readonly string[] HostileTokens = [ScriptToken, " &amp;", "\"quoted'", "\n", "\u0007", "<b>bold</b>", ""];

    public static readonly NeuronId Explained = new(1, 2);

    public static void Fill(INeuronStore store)
    {
        store.PutManifest(new RunManifest("stories260K", "tinystories-train-head.txt",
            new Dictionary<string, string> { ["seq_len"] = "64", ["explainer"] = "baseline" }, "0.1.0-test", new DateTimeOffset(2026, 11, 21, 8, 0, 0, TimeSpan.Zero)));
        var records = new List<NeuronRecord>();
        for (int layer = 0; layer < 2; layer++)
            for (int neuron = 0; neuron < 3; neuron++)
                records.Add(Record(new NeuronId(layer, neuron)));
        store.PutNeuronRecords(records);

        store.PutExplanationResult(Result(Explained, ["numbers and counting words", "the word <script> & friends"], [0.62, 0.41], chosen: 0));
        store.PutExplanationResult(Result(new NeuronId(0, 1), ["animals in stories"], [-0.15], chosen: 0));
        store.PutExplanationResult(Result(new NeuronId(1, 0), ["colours of clothing"], [0.93], chosen: 0));
        // A shuffled control on 0/0 borrowing 1/0's explanation (and, by chance, scoring well): never 0/0's explanation.
        store.PutExplanationResult(Result(new NeuronId(0, 0), ["colours of clothing"], [0.99], chosen: 0, explainer: ShuffledControl.ExplainerName("baseline")) with { Control = ControlKind.Shuffled });
        store.PutExplanationResult(new NeuronExplanationResult(new NeuronId(0, 2), "baseline", "baseline", NeuronStatus.Failed,
            "the neuron never fired on the corpus", null, null, DateTimeOffset.UnixEpoch));

        store.PutActivationBasedTokens(Explained, new TokenLookupTableSummaryOfNeuron([" one", " two", ScriptToken], [2.5, 2.0, 1.5]));
        store.PutWeightBasedTokens(Explained, new WeightBasedSummaryOfNeuron(
            new TokensAndWeights([" three", " four"], [0.9, 0.8]), new TokensAndWeights([" cat"], [-0.7]),
            new TokensAndWeights([" five"], [1.1]), new TokensAndWeights([" dog"], [-1.2])));
        store.PutConnections(Explained, new NeuronConnections(
            new ConnectionList(["0_1"], [0.5], ["0_0"], [-0.25]),
            null));
    }

    /// <summary>Puts a head and an SAE latent at the explained neuron's layer and index, each with its own explanation.</summary>
    public static void AddOtherKinds(INeuronStore store)
    {
        foreach (var (unit, text, score) in new[] { (NeuronId.Head(1, 2), "attends to the previous comma", 0.4), (NeuronId.Latent("res-jb-1", 1, 2), "colours of animals", 0.7) })
        {
            // A latent's record carries its density (share of tokens it fires on), as collection writes it.
            store.PutNeuronRecords([unit.Kind == UnitKind.SaeLatent ? Record(unit) with { Density = 0.0125 } : Record(unit)]);
            store.PutExplanationResult(Result(unit, [text], [score], chosen: 0));
        }
    }

    /// <summary>Puts attention heads head:1/0..3 whose excerpts carry attended tokens (hostile tokens included); head:1/1 is explained.</summary>
    public static void AddHeads(INeuronStore store)
    {
        static ActivationRecord Attending(ActivationRecord r) => r with
        {
            // Each token reads the first token most and itself second (the first token only itself).
            Attended = [.. r.Tokens.Select((_, t) => (IReadOnlyList<AttendedToken>)(t == 0 ? [new AttendedToken(0, 1.0)] : [new AttendedToken(0, 0.625), new AttendedToken(t, 0.25)]))],
        };
        for (int head = 0; head < 4; head++)
        {
            var record = Record(NeuronId.Head(1, head));
            store.PutNeuronRecords([record with
            {
                MostPositiveActivationRecords = [.. record.MostPositiveActivationRecords.Select(Attending)],
                RandomSample = [.. record.RandomSample.Select(Attending)],
            }]);
        }
        store.PutExplanationResult(Result(HeadUnit, ["attends from \"time\" to \"Once\" (8.0)"], [0.55], chosen: 0));
    }

    public static readonly NeuronId HeadUnit = NeuronId.Head(1, 1);

    /// <summary>Excerpts: the first top excerpt holds every hostile token, so the page must show them all as text.</summary>
    public static NeuronRecord Record(NeuronId id)
    {
        var top = new List<ActivationRecord>
        {
            new([.. HostileTokens, " one", " two"], [3.5, 0.25, -0.125, 0, 1, 2, 0.5, 4.25, 3]),
        };
        for (int i = 1; i < 8; i++)
            top.Add(new ActivationRecord(["Once", " upon", " a", " time", $" {i}"], [0, 0.1 * i, 0, 0.2, 2.0 + i / 10.0]));
        var random = Enumerable.Range(0, 6).Select(i => new ActivationRecord(["The", " cat", " sat", $" {i}"], [0, -0.05, 0.3, 0.01 * i])).ToList();
        random.Add(new ActivationRecord([.. Enumerable.Range(0, 64).Select(i => $" word{i}")], [.. Enumerable.Range(0, 64).Select(i => i / 16.0)])); // must wrap
        return new NeuronRecord(id, random, null, null, 0.4 + id.NeuronIndex, 1.5, 2.0, 9.0, top);
    }

    /// <summary>A done result whose explanations score as given (null: undefined).</summary>
    public static NeuronExplanationResult Result(NeuronId id, string[] explanations, double?[] scores, int chosen, string explainer = "baseline", string simulator = "baseline")
    {
        var excerpt = new ActivationRecord(["Once", " upon", ScriptToken], [0, 1.5, 3.0]);
        var scored = explanations.Select((text, i) => new ScoredExplanation(text, new ScoredSimulation(
            [new ScoredSequenceSimulation(
                new SequenceSimulation(excerpt.Tokens, [0.5, 4.0, 9.5], ActivationScale.SimulatedNormalizedActivations, [], []),
                excerpt.Activations, 0.97, 0.9, 0.8)],
            scores[i], scores[i] * scores[i], scores[i] / 2)
        { EvCorrelationInterval = scores[i] is double v ? [v - 0.1, v + 0.05] : null })).ToList();
        return new NeuronExplanationResult(id, explainer, simulator, NeuronStatus.Done, null,
            new NeuronSimulationResults(id, scored), chosen, DateTimeOffset.UnixEpoch);
    }
}
