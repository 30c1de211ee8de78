using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer.Activations;

/// <summary>Tokens ranked by a weight-based connection strength.</summary>
public sealed record TokensAndWeights(
    [property: JsonPropertyName("tokens")] IReadOnlyList<string> Tokens,
    [property: JsonPropertyName("strengths")] IReadOnlyList<double> Strengths) : DatasetRecord
{
    protected override void Validate()
    {
        if (Tokens.Count != Strengths.Count)
            throw new JsonException($"TokensAndWeights has {Tokens.Count} tokens but {Strengths.Count} strengths");
        RequireFinite(Strengths, "strengths");
    }
}

/// <summary>
/// Weight-based related tokens: input tokens whose embeddings excite (or inhibit) the neuron, and
/// output tokens whose logits the neuron raises (or lowers).
/// </summary>
public sealed record WeightBasedSummaryOfNeuron(
    [property: JsonPropertyName("input_positive")] TokensAndWeights InputPositive,
    [property: JsonPropertyName("input_negative")] TokensAndWeights InputNegative,
    [property: JsonPropertyName("output_positive")] TokensAndWeights OutputPositive,
    [property: JsonPropertyName("output_negative")] TokensAndWeights OutputNegative) : DatasetRecord;
