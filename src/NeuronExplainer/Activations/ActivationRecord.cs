using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer.Activations;

/// <summary>One excerpt: its tokens (as the model's token strings) and one neuron's activation on each.</summary>
public sealed record ActivationRecord(
    [property: JsonPropertyName("tokens")] IReadOnlyList<string> Tokens,
    [property: JsonPropertyName("activations")] IReadOnlyList<double> Activations) : DatasetRecord
{
    /// <summary>
    /// For an attention head's excerpt, per token the earlier tokens of the excerpt (itself included) it attends to most,
    /// strongest first (see <see cref="AttentionSources"/>); null for every other kind of unit.
    /// </summary>
    [JsonPropertyName("attended"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<IReadOnlyList<AttendedToken>>? Attended { get; init; }

    [JsonIgnore]
    public double MaxActivation => Activations.Count == 0 ? double.NegativeInfinity : Activations.Max();

    protected override void Validate()
    {
        if (Tokens is null || Activations is null)
            throw new JsonException("ActivationRecord needs both 'tokens' and 'activations'");
        if (Tokens.Count != Activations.Count)
            throw new JsonException($"ActivationRecord has {Tokens.Count} tokens but {Activations.Count} activations; they must pair up");
        RequireFinite(Activations, "activations");
        if (Attended is null) return;
        if (Attended.Count != Tokens.Count)
            throw new JsonException($"ActivationRecord has {Tokens.Count} tokens but {Attended.Count} lists of attended tokens; they must pair up");
        for (int t = 0; t < Attended.Count; t++)
            foreach (var source in Attended[t] ?? throw new JsonException($"attended[{t}] is null; expected a list"))
                if (source is null || source.Position < 0 || source.Position > t || !(source.Weight is >= 0 and <= 1))
                    throw new JsonException($"attended[{t}] holds {source?.ToString() ?? "null"}; expected a position 0..{t} (the token itself or an earlier one) with a weight in 0..1");
    }
}

/// <summary>An earlier token of the excerpt that a query token attends to: its position in the excerpt and the attention weight.</summary>
public sealed record AttendedToken(
    [property: JsonPropertyName("position")] int Position,
    [property: JsonPropertyName("weight")] double Weight);
