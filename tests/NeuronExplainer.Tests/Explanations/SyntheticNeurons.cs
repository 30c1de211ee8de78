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

    public static NeuronRecord Silent(int layer = 0, int neuron = 1) => Make(new NeuronId(layer, neuron), (_, _) => 0);
}
