using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer.Activations;

/// <summary>Activation-based related tokens: the tokens with the highest mean activation, highest first.</summary>
public sealed record TokenLookupTableSummaryOfNeuron(
    [property: JsonPropertyName("tokens")] IReadOnlyList<string> Tokens,
    [property: JsonPropertyName("average_activations")] IReadOnlyList<double> AverageActivations) : DatasetRecord
{
    /// <summary>How often each token occurred in the corpus (our addition; absent in OpenAI's files).</summary>
    [JsonPropertyName("counts"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<long>? Counts { get; init; }

    protected override void Validate()
    {
        if (Tokens.Count != AverageActivations.Count)
            throw new JsonException($"TokenLookupTableSummaryOfNeuron has {Tokens.Count} tokens but {AverageActivations.Count} average_activations");
        RequireFinite(AverageActivations, "average_activations");
    }
}
