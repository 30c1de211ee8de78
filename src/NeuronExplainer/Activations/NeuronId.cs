using System.Text.Json.Serialization;

namespace NeuronExplainer.Activations;

/// <summary>A neuron: the layer (0 = first block) and its index within that layer's MLP hidden units.</summary>
public sealed record NeuronId(
    [property: JsonPropertyName("layer_index")] int LayerIndex,
    [property: JsonPropertyName("neuron_index")] int NeuronIndex) : DatasetRecord
{
    public override string ToString() => $"{LayerIndex}/{NeuronIndex}";

    /// <summary>Parses the CLI and URL form <c>L/N</c> (also <c>L:N</c> and <c>L_N</c>).</summary>
    public static NeuronId Parse(string text)
    {
        var parts = text.Split('/', ':', '_');
        if (parts.Length == 2 && int.TryParse(parts[0], out int layer) && int.TryParse(parts[1], out int neuron)
            && layer >= 0 && neuron >= 0)
            return new NeuronId(layer, neuron);
        throw new FormatException($"'{text}' is not a neuron id; expected LAYER/NEURON such as 3/127");
    }
}
