using System.Text.Json.Serialization;

namespace NeuronExplainer.Activations;

/// <summary>What kind of unit an identity names: an MLP neuron now; attention heads and SAE latents next.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<UnitKind>))]
public enum UnitKind
{
    /// <summary>An MLP neuron after the nonlinearity (<c>blocks.L.mlp.hook_post</c>), spelled <c>L/N</c>.</summary>
    [JsonStringEnumMemberName("neuron")] Neuron,
    /// <summary>An attention head, spelled <c>head:L/H</c>.</summary>
    [JsonStringEnumMemberName("head")] AttentionHead,
    /// <summary>A latent of a sparse autoencoder read at layer L, spelled <c>sae:L/I</c>.</summary>
    [JsonStringEnumMemberName("sae")] SaeLatent,
}

/// <summary>
/// A unit that is explained: its layer (0 = first block), its index within that layer, and its <see cref="Kind"/>.
/// The name stays OpenAI's (their records call it <c>neuron_id</c>); an MLP neuron, the default kind, is written
/// exactly as OpenAI writes it, and keeps the <c>L/N</c> spelling.
/// </summary>
public sealed record NeuronId(
    [property: JsonPropertyName("layer_index")] int LayerIndex,
    [property: JsonPropertyName("neuron_index")] int NeuronIndex) : DatasetRecord
{
    /// <summary>The unit's kind; written only when it is not an MLP neuron.</summary>
    [JsonPropertyName("unit_kind"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public UnitKind Kind { get; init; }

    public override string ToString() => Kind == UnitKind.Neuron ? $"{LayerIndex}/{NeuronIndex}" : $"{Prefix(Kind)}:{LayerIndex}/{NeuronIndex}";

    /// <summary>
    /// Parses the CLI and URL form <c>L/N</c> (also <c>L:N</c> and <c>L_N</c>) of an MLP neuron, or <c>head:L/H</c>
    /// and <c>sae:L/I</c> of the other kinds.
    /// </summary>
    public static NeuronId Parse(string text)
    {
        var kind = UnitKind.Neuron;
        string rest = text;
        foreach (var other in new[] { UnitKind.AttentionHead, UnitKind.SaeLatent })
            if (text.StartsWith(Prefix(other) + ":", StringComparison.Ordinal)) (kind, rest) = (other, text[(Prefix(other).Length + 1)..]);
        var parts = rest.Split('/', ':', '_');
        if (parts.Length == 2 && int.TryParse(parts[0], out int layer) && int.TryParse(parts[1], out int neuron)
            && layer >= 0 && neuron >= 0)
            return new NeuronId(layer, neuron) { Kind = kind };
        throw new FormatException($"'{text}' is not a neuron id; expected LAYER/NEURON such as 3/127 (or head:L/H, sae:L/I)");
    }

    /// <summary>The spelling of a kind in ids and stores: <c>neuron</c>, <c>head</c>, <c>sae</c>.</summary>
    public static string Prefix(UnitKind kind) => kind switch
    {
        UnitKind.Neuron => "neuron",
        UnitKind.AttentionHead => "head",
        UnitKind.SaeLatent => "sae",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no spelling for this unit kind"),
    };
}
