using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer.Activations;

/// <summary>
/// The strongest weight-based connections in one direction, in OpenAI's related-neurons layout:
/// neurons as "layer_neuron" strings with their weights.
/// </summary>
public sealed record ConnectionList(
    [property: JsonPropertyName("top_positive_neurons")] IReadOnlyList<string> TopPositiveNeurons,
    [property: JsonPropertyName("top_positive_weights")] IReadOnlyList<double> TopPositiveWeights,
    [property: JsonPropertyName("top_negative_neurons")] IReadOnlyList<string> TopNegativeNeurons,
    [property: JsonPropertyName("top_negative_weights")] IReadOnlyList<double> TopNegativeWeights) : IJsonOnDeserialized
{
    void IJsonOnDeserialized.OnDeserialized()
    {
        if (TopPositiveNeurons.Count != TopPositiveWeights.Count || TopNegativeNeurons.Count != TopNegativeWeights.Count)
            throw new JsonException("related neurons and their weights differ in length");
        foreach (var n in TopPositiveNeurons.Concat(TopNegativeNeurons))
            NeuronId.Parse(n);
    }

    public static string Key(NeuronId id) => $"{id.LayerIndex}_{id.NeuronIndex}";
}

/// <summary>
/// Related neurons of one neuron (OpenAI's <c>related-neurons/weight-based</c> files, which carry no
/// dataclass tag): <c>c_fc</c> holds upstream neurons (those writing into this neuron's input),
/// <c>c_proj</c> downstream ones (those reading this neuron's output). Null where there is no such layer.
/// </summary>
public sealed record NeuronConnections(
    [property: JsonPropertyName("c_fc")] ConnectionList? Upstream,
    [property: JsonPropertyName("c_proj")] ConnectionList? Downstream);
