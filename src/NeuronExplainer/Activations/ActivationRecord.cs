using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer.Activations;

/// <summary>One excerpt: its tokens (as the model's token strings) and one neuron's activation on each.</summary>
public sealed record ActivationRecord(
    [property: JsonPropertyName("tokens")] IReadOnlyList<string> Tokens,
    [property: JsonPropertyName("activations")] IReadOnlyList<double> Activations) : DatasetRecord
{
    [JsonIgnore]
    public double MaxActivation => Activations.Count == 0 ? double.NegativeInfinity : Activations.Max();

    protected override void Validate()
    {
        if (Tokens is null || Activations is null)
            throw new JsonException("ActivationRecord needs both 'tokens' and 'activations'");
        if (Tokens.Count != Activations.Count)
            throw new JsonException($"ActivationRecord has {Tokens.Count} tokens but {Activations.Count} activations; they must pair up");
        RequireFinite(Activations, "activations");
    }
}
