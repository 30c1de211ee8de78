using NeuronExplainer.Activations;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>Neuron records made up for tests: excerpts of random words and a rule for the activations.</summary>
internal static class SyntheticNeurons
{
    public static readonly string[] Words = [" the", " cat", " sat", " on", " mat", " dog", " ran", " named", " Lily", " a", ".", " big"];

    /// <summary>
    /// A neuron firing by <paramref name="rule"/> (tokens, position) over random excerpts: 40 top excerpts
    /// (highest max first) and 30 random ones, so every split has excerpts.
    /// </summary>
    public static NeuronRecord Make(NeuronId id, Func<IReadOnlyList<string>, int, double> rule, int seed = 1, int length = 16)
    {
        var random = new Random(seed);
        var excerpts = Enumerable.Range(0, 200).Select(_ =>
        {
            string[] tokens = [.. Enumerable.Range(0, length).Select(_ => Words[random.Next(Words.Length)])];
            return new ActivationRecord(tokens, [.. tokens.Select((_, i) => rule(tokens, i))]);
        }).ToList();
        var top = excerpts.OrderByDescending(e => e.MaxActivation).Take(40).ToList();
        var sample = excerpts.OrderBy(_ => random.Next()).Take(30).ToList();
        return new NeuronRecord(id, sample, null, null, null, null, null, null, top);
    }

    /// <summary>Fires 5 on " cat", 3 on the token after " named", and 0.1 elsewhere.</summary>
    public static double CatRule(IReadOnlyList<string> tokens, int i) =>
        tokens[i] == " cat" ? 5 : i > 0 && tokens[i - 1] == " named" ? 3 : 0.1;

    public static NeuronRecord Cat(int layer = 0, int neuron = 0, int seed = 1) => Make(new NeuronId(layer, neuron), CatRule, seed);

    /// <summary>
    /// An attention head over the same kind of excerpts: at " sat" after a " cat" it reads that (latest) " cat" with weight 0.8
    /// and writes 5; every other token attends to itself (0.9) and to the token before it (0.1), writing 0.1.
    /// </summary>
    public static NeuronRecord Head(int layer = 0, int head = 0, int seed = 1)
    {
        static int LastCat(IReadOnlyList<string> tokens, int i) => tokens.Take(i).ToList().LastIndexOf(" cat");
        static ActivationRecord WithAttention(ActivationRecord r) => r with
        {
            Attended = [.. r.Tokens.Select((token, t) => (IReadOnlyList<AttendedToken>)(token == " sat" && LastCat(r.Tokens, t) is >= 0 and var cat
                ? [new AttendedToken(cat, 0.8), new AttendedToken(t, 0.15)]
                : t == 0 ? [new AttendedToken(0, 1.0)] : [new AttendedToken(t, 0.9), new AttendedToken(t - 1, 0.1)]))],
        };
        var record = Make(NeuronId.Head(layer, head), (tokens, i) => tokens[i] == " sat" && LastCat(tokens, i) >= 0 ? 5 : 0.1, seed);
        return record with
        {
            MostPositiveActivationRecords = [.. record.MostPositiveActivationRecords.Select(WithAttention)],
            RandomSample = [.. record.RandomSample.Select(WithAttention)],
        };
    }

    public static NeuronRecord Silent(int layer = 0, int neuron = 1) => Make(new NeuronId(layer, neuron), (_, _) => 0);
}
