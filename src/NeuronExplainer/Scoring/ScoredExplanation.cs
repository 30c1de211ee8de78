using System.Text.Json.Serialization;

namespace NeuronExplainer.Scoring;

/// <summary>An explanation and how well simulating from it predicts the neuron.</summary>
public sealed record ScoredExplanation(
    [property: JsonPropertyName("explanation")] string Explanation,
    [property: JsonPropertyName("scored_simulation")] ScoredSimulation ScoredSimulation) : DatasetRecord;
