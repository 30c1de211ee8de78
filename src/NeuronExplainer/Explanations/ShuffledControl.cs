using NeuronExplainer.Activations;

namespace NeuronExplainer.Explanations;

/// <summary>
/// The shuffled control: every neuron is scored with the chosen explanation of another neuron of the same
/// layer (a seeded derangement). Its scores must sit near 0; if they do not, scoring leaks information.
/// </summary>
public sealed class ShuffledControl : IExplainer
{
    public const string Prefix = "shuffled:";

    readonly Dictionary<NeuronId, string> assigned = [];

    /// <param name="explainer">The explainer whose explanations are shuffled.</param>
    /// <param name="chosen">Each explained neuron's chosen explanation.</param>
    /// <param name="seed">Seed of the shuffle.</param>
    public ShuffledControl(string explainer, IReadOnlyDictionary<NeuronId, string> chosen, int seed)
    {
        Name = Prefix + explainer;
        var random = new Random(seed);
        foreach (var layer in chosen.Keys.GroupBy(n => n.LayerIndex))
        {
            var neurons = layer.OrderBy(n => n.NeuronIndex).ToArray();
            if (neurons.Length < 2) continue;
            random.Shuffle(neurons);
            // Each neuron takes the explanation of the next one in a random cycle: nobody keeps their own.
            for (int i = 0; i < neurons.Length; i++)
                assigned[neurons[i]] = chosen[neurons[(i + 1) % neurons.Length]];
        }
    }

    public string Name { get; }

    /// <summary>Neurons that received another neuron's explanation (layers with one explained neuron get none).</summary>
    public IReadOnlyCollection<NeuronId> Neurons => assigned.Keys;

    public Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<ExplanationAttempt>>([assigned.TryGetValue(input.Neuron, out var text)
            ? ExplanationAttempt.FromText(text)
            : ExplanationAttempt.Failed("no other explained neuron in this layer to borrow an explanation from")]);

    public Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples,
        CancellationToken cancellationToken) =>
        Task.FromResult(ExplanationAttempt.Failed("control explanations are not revised"));
}
