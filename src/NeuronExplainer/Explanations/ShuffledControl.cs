using NeuronExplainer.Activations;

namespace NeuronExplainer.Explanations;

/// <summary>
/// An "explainer" that hands out explanations decided beforehand, one per neuron: the shuffled control, or the
/// explanations of another source (e.g. imported from OpenAI's dataset) to be scored with our simulator.
/// </summary>
public sealed class AssignedExplanations(string name, IReadOnlyDictionary<NeuronId, string> assigned, string missingReason) : IExplainer
{
    public string Name => name;

    /// <summary>Neurons that have an explanation assigned.</summary>
    public IReadOnlyCollection<NeuronId> Neurons => [.. assigned.Keys.OrderBy(n => n.LayerIndex).ThenBy(n => n.NeuronIndex)];

    public Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<ExplanationAttempt>>([assigned.TryGetValue(input.Neuron, out var text)
            ? ExplanationAttempt.FromText(text)
            : ExplanationAttempt.Failed(missingReason)]);

    public Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples,
        CancellationToken cancellationToken) =>
        Task.FromResult(ExplanationAttempt.Failed("explanations decided beforehand are not revised"));
}

/// <summary>
/// The shuffled control: every neuron is scored with the chosen explanation of another neuron of the same
/// layer (a seeded derangement). Its scores must sit near 0; if they do not, scoring leaks information.
/// </summary>
public static class ShuffledControl
{
    /// <summary>The explainer name its results are stored under: the shuffled explainer's, marked.</summary>
    public static string ExplainerName(string explainer) => "shuffled:" + explainer;

    /// <param name="explainer">The explainer whose explanations are shuffled.</param>
    /// <param name="chosen">Each explained neuron's chosen explanation.</param>
    /// <param name="seed">Seed of the shuffle.</param>
    public static AssignedExplanations Create(string explainer, IReadOnlyDictionary<NeuronId, string> chosen, int seed)
    {
        var assigned = new Dictionary<NeuronId, string>();
        var random = new Random(seed);
        foreach (var layer in chosen.Keys.GroupBy(n => n.LayerIndex).OrderBy(g => g.Key))
        {
            var neurons = layer.OrderBy(n => n.NeuronIndex).ToArray();
            if (neurons.Length < 2) continue;
            random.Shuffle(neurons);
            // Each neuron takes the explanation of the next one in a random cycle: nobody keeps their own.
            for (int i = 0; i < neurons.Length; i++)
                assigned[neurons[i]] = chosen[neurons[(i + 1) % neurons.Length]];
        }
        return new AssignedExplanations(ExplainerName(explainer), assigned, "no other explained neuron in this layer to borrow an explanation from");
    }
}
