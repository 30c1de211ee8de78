using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer.Scoring;

/// <summary>A simulation of one excerpt next to the true activations, with scores for that excerpt alone.</summary>
public sealed record ScoredSequenceSimulation(
    [property: JsonPropertyName("simulation")] SequenceSimulation Simulation,
    [property: JsonPropertyName("true_activations")] IReadOnlyList<double> TrueActivations,
    [property: JsonPropertyName("ev_correlation_score")] double? EvCorrelationScore,
    [property: JsonPropertyName("rsquared_score")] double? RsquaredScore,
    [property: JsonPropertyName("absolute_dev_explained_score")] double? AbsoluteDevExplainedScore) : DatasetRecord
{
    protected override void Validate()
    {
        if (Simulation.Tokens.Count != TrueActivations.Count)
            throw new JsonException($"ScoredSequenceSimulation has {Simulation.Tokens.Count} simulated tokens but {TrueActivations.Count} true_activations");
        RequireFinite(TrueActivations, "true_activations");
    }
}
