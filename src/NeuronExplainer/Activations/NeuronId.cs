using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace NeuronExplainer.Activations;

/// <summary>What kind of unit an identity names: an MLP neuron, an attention head or an SAE latent.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<UnitKind>))]
public enum UnitKind
{
    /// <summary>An MLP neuron after the nonlinearity (<c>blocks.L.mlp.hook_post</c>), spelled <c>L/N</c>.</summary>
    [JsonStringEnumMemberName("neuron")] Neuron,
    /// <summary>An attention head, spelled <c>head:L/H</c>.</summary>
    [JsonStringEnumMemberName("head")] AttentionHead,
    /// <summary>A latent of a sparse autoencoder, spelled <c>sae:ID/I</c> by the SAE's id and the latent's index.</summary>
    [JsonStringEnumMemberName("sae")] SaeLatent,
}

/// <summary>
/// A unit that is explained: its layer (0 = first block), its index within that layer, and its <see cref="Kind"/>.
/// The name stays OpenAI's (their records call it <c>neuron_id</c>); an MLP neuron, the default kind, is written
/// exactly as OpenAI writes it, and keeps the <c>L/N</c> spelling. An SAE latent is named by its SAE's id
/// (<see cref="Sae"/>) and index; its layer is the layer of the hook the SAE reads, which the id determines, so two
/// latents are the same unit when SAE id and index agree (a latent parsed from <c>sae:ID/I</c> has
/// <see cref="UnknownLayer"/> until a store resolves it).
/// </summary>
public sealed partial record NeuronId(
    [property: JsonPropertyName("layer_index")] int LayerIndex,
    [property: JsonPropertyName("neuron_index")] int NeuronIndex) : DatasetRecord
{
    /// <summary>The layer of an SAE latent read from its spelling, which does not say it.</summary>
    public const int UnknownLayer = -1;

    /// <summary>The unit's kind; written only when it is not an MLP neuron.</summary>
    [JsonPropertyName("unit_kind"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public UnitKind Kind { get; init; }

    /// <summary>The id of the SAE an SAE latent belongs to (letters, digits, <c>.</c>, <c>_</c>, <c>-</c>); null for other kinds.</summary>
    [JsonPropertyName("sae_id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Sae
    {
        get;
        init => field = value is null || SaeIdPattern().IsMatch(value) ? value
            : throw new FormatException($"'{value}' is not an SAE id; expected letters, digits, '.', '_' and '-' only");
    }

    /// <summary>An attention head of a layer.</summary>
    public static NeuronId Head(int layer, int head) => new(layer, head) { Kind = UnitKind.AttentionHead };

    /// <summary>A latent of SAE <paramref name="sae"/>, which reads a hook of <paramref name="layer"/>.</summary>
    public static NeuronId Latent(string sae, int layer, int index) => new(layer, index) { Kind = UnitKind.SaeLatent, Sae = sae };

    public bool Equals(NeuronId? other) => other is not null && Kind == other.Kind && NeuronIndex == other.NeuronIndex
        && (Kind == UnitKind.SaeLatent ? Sae == other.Sae : LayerIndex == other.LayerIndex);

    public override int GetHashCode() =>
        Kind == UnitKind.SaeLatent ? HashCode.Combine(Kind, Sae, NeuronIndex) : HashCode.Combine(Kind, LayerIndex, NeuronIndex);

    public override string ToString() => Kind switch
    {
        UnitKind.Neuron => $"{LayerIndex}/{NeuronIndex}",
        UnitKind.SaeLatent => $"sae:{Sae}/{NeuronIndex}",
        _ => $"{Prefix(Kind)}:{LayerIndex}/{NeuronIndex}",
    };

    /// <summary>
    /// The kind as stores key it, so units of different kinds at the same layer and index never collide:
    /// <c>neuron</c>, <c>head</c>, or <c>sae:ID</c> (the SAE id is part of a latent's key).
    /// </summary>
    [JsonIgnore]
    public string KindKey => Kind == UnitKind.SaeLatent ? $"sae:{Sae}" : Prefix(Kind);

    /// <summary>Whether <paramref name="filter"/> names a set of units: <c>neuron</c>, <c>head</c>, <c>sae</c> (every SAE's latents) or <c>sae:ID</c> (one SAE's).</summary>
    public static bool IsKindFilter(string filter) =>
        filter is "neuron" or "head" or "sae" || (filter.StartsWith("sae:", StringComparison.Ordinal) && SaeIdPattern().IsMatch(filter[4..]));

    /// <summary>Whether this unit is in the set <paramref name="filter"/> names (see <see cref="IsKindFilter"/>).</summary>
    public bool IsOfKind(string filter) => filter == "sae" ? Kind == UnitKind.SaeLatent : KindKey == filter;

    /// <summary>The unit a store row keys by <see cref="KindKey"/>, layer and index.</summary>
    public static NeuronId FromKey(string kindKey, int layer, int index) => kindKey switch
    {
        "neuron" => new NeuronId(layer, index),
        "head" => Head(layer, index),
        _ when kindKey.StartsWith("sae:", StringComparison.Ordinal) => Latent(kindKey[4..], layer, index),
        _ => throw new FormatException($"'{kindKey}' is not a unit kind; expected neuron, head or sae:ID"),
    };

    /// <summary>
    /// Parses the CLI and URL form: <c>L/N</c> (also <c>L:N</c> and <c>L_N</c>) of an MLP neuron, <c>head:L/H</c> of an
    /// attention head, <c>sae:ID/I</c> of an SAE latent (its layer is then <see cref="UnknownLayer"/>).
    /// </summary>
    public static NeuronId Parse(string text) => TryParse(text) ?? throw new FormatException(
        $"'{text}' is not a unit id; expected LAYER/NEURON such as 3/127, head:LAYER/HEAD such as head:2/5, or sae:SAE_ID/LATENT such as sae:res-jb-8/1234");

    /// <summary>The unit <paramref name="text"/> spells, or null when it spells none.</summary>
    public static NeuronId? TryParse(string text)
    {
        if (text.StartsWith("sae:", StringComparison.Ordinal))
        {
            int slash = text.LastIndexOf('/');
            string sae = slash > 4 ? text[4..slash] : "";
            return SaeIdPattern().IsMatch(sae) && Index(text[(slash + 1)..]) is int latent ? Latent(sae, UnknownLayer, latent) : null;
        }
        bool head = text.StartsWith("head:", StringComparison.Ordinal);
        var parts = (head ? text[5..] : text).Split('/', ':', '_');
        if (parts.Length != 2 || Index(parts[0]) is not int layer || Index(parts[1]) is not int index) return null;
        return head ? Head(layer, index) : new NeuronId(layer, index);
    }

    static int? Index(string text) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int i) ? i : null;

    /// <summary>The spelling of a kind in ids and stores: <c>neuron</c>, <c>head</c>, <c>sae</c>.</summary>
    public static string Prefix(UnitKind kind) => kind switch
    {
        UnitKind.Neuron => "neuron",
        UnitKind.AttentionHead => "head",
        UnitKind.SaeLatent => "sae",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no spelling for this unit kind"),
    };

    protected override void Validate()
    {
        if ((Kind == UnitKind.SaeLatent) != (Sae is not null))
            throw new JsonException(Kind == UnitKind.SaeLatent ? "an SAE latent's neuron_id needs its sae_id" : $"sae_id is set on a unit of kind {Prefix(Kind)}; only SAE latents have one");
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex SaeIdPattern();
}
