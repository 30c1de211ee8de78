using System.Text.Json.Serialization;
using NeuronExplainer.Activations;

namespace NeuronExplainer.Scoring;

/// <summary>All scored explanations of one neuron: one line of OpenAI's <c>explanations/{layer}/{neuron}.jsonl</c>.</summary>
public sealed record NeuronSimulationResults(
    [property: JsonPropertyName("neuron_id")] NeuronId NeuronId,
    [property: JsonPropertyName("scored_explanations")] IReadOnlyList<ScoredExplanation> ScoredExplanations) : DatasetRecord;
