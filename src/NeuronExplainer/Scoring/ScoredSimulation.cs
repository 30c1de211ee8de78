using System.Text.Json.Serialization;

namespace NeuronExplainer.Scoring;

/// <summary>
/// Scores of one explanation over all scored excerpts. The correlation is pooled over every token of
/// every excerpt, not averaged per excerpt. A null score is undefined (see <see cref="UndefinedReason"/>).
/// </summary>
public sealed record ScoredSimulation(
    [property: JsonPropertyName("scored_sequence_simulations")] IReadOnlyList<ScoredSequenceSimulation> ScoredSequenceSimulations,
    [property: JsonPropertyName("ev_correlation_score")] double? EvCorrelationScore,
    [property: JsonPropertyName("rsquared_score")] double? RsquaredScore,
    [property: JsonPropertyName("absolute_dev_explained_score")] double? AbsoluteDevExplainedScore) : DatasetRecord
{
    /// <summary>Why the correlation is undefined, when it is (our addition).</summary>
    [JsonPropertyName("undefined_reason"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? UndefinedReason { get; init; }

    /// <summary>95% bootstrap interval of the correlation, resampling excerpts (our addition).</summary>
    [JsonPropertyName("ev_correlation_ci"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<double>? EvCorrelationInterval { get; init; }

    /// <summary>The correlation over the top-activating excerpts alone, when scored on a split of top and random ones (our addition; null when undefined).</summary>
    [JsonPropertyName("ev_correlation_score_top_only"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? TopOnlyScore { get; init; }

    /// <summary>The correlation over the random excerpts alone (our addition; null when undefined), the paper's random-only scoring.</summary>
    [JsonPropertyName("ev_correlation_score_random_only"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? RandomOnlyScore { get; init; }
}
