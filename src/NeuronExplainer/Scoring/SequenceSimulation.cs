using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer.Scoring;

/// <summary>Which units a simulation's values are in.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ActivationScale>))]
public enum ActivationScale
{
    /// <summary>Real activations of the neuron (after calibration).</summary>
    [JsonStringEnumMemberName("neuron_activations")] NeuronActivations,
    /// <summary>The simulator's 0..10 scale, not comparable to activations.</summary>
    [JsonStringEnumMemberName("simulated_normalized_activations")] SimulatedNormalizedActivations,
}

/// <summary>
/// The simulator's prediction on one excerpt: per token, a discrete distribution over values and
/// its expected value.
/// </summary>
public sealed record SequenceSimulation(
    [property: JsonPropertyName("tokens")] IReadOnlyList<string> Tokens,
    [property: JsonPropertyName("expected_activations")] IReadOnlyList<double> ExpectedActivations,
    [property: JsonPropertyName("activation_scale")] ActivationScale ActivationScale,
    [property: JsonPropertyName("distribution_values")] IReadOnlyList<IReadOnlyList<double>> DistributionValues,
    [property: JsonPropertyName("distribution_probabilities")] IReadOnlyList<IReadOnlyList<double>> DistributionProbabilities)
    : DatasetRecord
{
    /// <summary>A simulation certain of each token's value: <paramref name="values"/> with probability 1.</summary>
    public static SequenceSimulation PointMass(IReadOnlyList<string> tokens, IReadOnlyList<double> values, ActivationScale scale) =>
        new(tokens, values, scale, new PointMassValues(values), new CertainProbabilities(values.Count));

    /// <summary>Whether each token's distribution is its expected value with probability 1 (compared to the bit).</summary>
    [JsonIgnore]
    public bool IsPointMass
    {
        get
        {
            int n = ExpectedActivations.Count;
            if (DistributionValues.Count != n || DistributionProbabilities.Count != n) return false;
            if (DistributionValues is PointMassValues mass && ReferenceEquals(mass.Values, ExpectedActivations) && DistributionProbabilities is CertainProbabilities)
                return true;
            for (int i = 0; i < n; i++)
            {
                if (DistributionValues[i] is not [var v] || BitConverter.DoubleToInt64Bits(v) != BitConverter.DoubleToInt64Bits(ExpectedActivations[i])) return false;
                if (DistributionProbabilities[i] is not [var p] || BitConverter.DoubleToInt64Bits(p) != BitConverter.DoubleToInt64Bits(1.0)) return false;
            }
            return true;
        }
    }

    /// <summary>
    /// The same simulation before calibration to activation units, when calibrated. Written even when
    /// null, as OpenAI's serialiser writes every field of the dataclass.
    /// </summary>
    [JsonPropertyName("uncalibrated_simulation")]
    public SequenceSimulation? UncalibratedSimulation { get; init; }

    /// <summary>
    /// How the distributions were obtained (our addition; see <c>SimulationMethods</c>), e.g. <c>sampled</c>
    /// when the server gave no logprobs, so a noisier simulation is never mistaken for an expected value.
    /// </summary>
    [JsonPropertyName("simulation_method"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Method { get; init; }

    /// <summary>
    /// Tokens whose value slot had no value 0..10 among the simulator's top logprobs: their distribution is empty and
    /// their expected value 0 (all-at-once simulation only; imported OpenAI results mark them the same way).
    /// </summary>
    [JsonIgnore]
    public int NoValueSlots => DistributionProbabilities.Count(d => d.Count == 0);

    protected override void Validate()
    {
        if (Tokens.Count != ExpectedActivations.Count)
            throw new JsonException($"SequenceSimulation has {Tokens.Count} tokens but {ExpectedActivations.Count} expected_activations");
        RequireFinite(ExpectedActivations, "expected_activations");
    }
}
