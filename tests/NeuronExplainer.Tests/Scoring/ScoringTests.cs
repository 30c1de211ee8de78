using System.Text.Json;
using NeuronExplainer.Scoring;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Scoring;

public class ScoringTests
{
    // Reference values from numpy: corrcoef, and OpenAI's uncentred R^2 / absolute deviation formulas.
    static readonly double[] Truth = [0, 1, 2, 3, 0, 5];
    static readonly double[] Predicted = [1, 1, 2, 4, 0, 3];

    [Fact]
    public void Exact_values_match_numpy()
    {
        Assert.Equal(0.8284426489506731, ActivationScores.Correlation(Truth, Predicted).Value!.Value, 12);
        Assert.Equal(0.8461538461538461, ActivationScores.RSquared(Truth, Predicted).Value!.Value, 12);
        Assert.Equal(0.6363636363636364, ActivationScores.AbsoluteDevExplained(Truth, Predicted).Value!.Value, 12);
    }

    [Fact]
    public void Correlation_is_pooled_over_tokens_not_averaged_over_excerpts()
    {
        var scored = ScoringFixtures.Score([(Truth[..3], Predicted[..3]), (Truth[3..], Predicted[3..])]);
        Assert.Equal(0.8284426489506731, scored.EvCorrelationScore!.Value, 12);
        Assert.Equal(0.8461538461538461, scored.RsquaredScore!.Value, 12);
        Assert.Equal(0.6363636363636364, scored.AbsoluteDevExplainedScore!.Value, 12);
        // Per-excerpt scores are kept too: 0.866 and 0.795 (their mean, 0.831, is not the score).
        Assert.Equal(0.8660254037844387, scored.ScoredSequenceSimulations[0].EvCorrelationScore!.Value, 12);
        Assert.Equal(0.795355953719722, scored.ScoredSequenceSimulations[1].EvCorrelationScore!.Value, 12);
        Assert.Null(scored.UndefinedReason);
    }

    [Fact]
    public void R_squared_and_absolute_deviation_are_left_undefined_for_simulations_on_the_0_to_10_scale()
    {
        var scored = ScoringFixtures.Score([(Truth[..3], Predicted[..3]), (Truth[3..], Predicted[3..])], scale: ActivationScale.SimulatedNormalizedActivations);
        Assert.Equal(0.8284426489506731, scored.EvCorrelationScore!.Value, 12);
        Assert.Null(scored.RsquaredScore);
        Assert.Null(scored.AbsoluteDevExplainedScore);
        Assert.All(scored.ScoredSequenceSimulations, s => Assert.Null(s.RsquaredScore));
        Assert.All(scored.ScoredSequenceSimulations, s => Assert.Null(s.AbsoluteDevExplainedScore));
        Assert.All(scored.ScoredSequenceSimulations, s => Assert.NotNull(s.EvCorrelationScore));
    }

    [Fact]
    public void Perfect_and_inverse_predictions()
    {
        Assert.Equal(1.0, ActivationScores.Correlation(Truth, [.. Truth.Select(t => 3 * t + 1)]).Value!.Value, 12);
        Assert.Equal(-1.0, ActivationScores.Correlation(Truth, [.. Truth.Select(t => -t)]).Value!.Value, 12);
        Assert.Equal(1.0, ActivationScores.RSquared(Truth, Truth).Value);
        Assert.Equal(0.0, ActivationScores.RSquared(Truth, new double[Truth.Length]).Value);
    }

    [Theory]
    [InlineData(new[] { 2.0, 2, 2 }, new[] { 1.0, 2, 3 }, "true activations are constant")]
    [InlineData(new[] { 1.0, 2, 3 }, new[] { 0.5, 0.5, 0.5 }, "predicted activations are constant")]
    [InlineData(new double[0], new double[0], "no tokens")]
    [InlineData(new[] { 1.0 }, new[] { 2.0 }, "only one token")]
    [InlineData(new[] { 1.0, 2 }, new[] { 1.0, 2, 3 }, "2 true activations but 3 predicted")]
    [InlineData(new[] { 1.0, double.NaN }, new[] { 1.0, 2 }, "true activation 1 is NaN")]
    [InlineData(new[] { 1.0, 2 }, new[] { double.PositiveInfinity, 2 }, "predicted activation 0 is Infinity")]
    public void Undefined_correlations_carry_a_reason(double[] truth, double[] predicted, string reason)
    {
        var r = ActivationScores.Correlation(truth, predicted);
        Assert.Null(r.Value);
        Assert.Contains(reason, r.UndefinedReason);
    }

    [Theory]
    [InlineData(0, 1e-200)]
    [InlineData(-1e200, 1e200)]
    public void Extreme_values_are_undefined_rather_than_nan(double low, double high)
    {
        double[] truth = [low, high, low], predicted = [high, low, high];
        foreach (var score in new[] { ActivationScores.Correlation(truth, predicted), ActivationScores.RSquared(truth, predicted) })
        {
            Assert.Null(score.Value);
            Assert.Contains("double precision", score.UndefinedReason);
        }
    }

    [Fact]
    public void All_zero_truth_has_no_r_squared_or_deviation_score()
    {
        double[] zeros = [0, 0, 0];
        Assert.Equal("true activations are all zero", ActivationScores.RSquared(zeros, [1, 2, 3]).UndefinedReason);
        Assert.Equal("true activations are all zero", ActivationScores.AbsoluteDevExplained(zeros, [1, 2, 3]).UndefinedReason);
    }

    [Fact]
    public void Undefined_simulation_score_is_null_with_reason_in_json_never_zero_or_nan()
    {
        var scored = ScoringFixtures.Score([([1, 1], [0, 3]), ([1, 1, 1], [2, 2, 5])]);
        Assert.Null(scored.EvCorrelationScore);
        Assert.Null(scored.EvCorrelationInterval);
        Assert.Equal("true activations are constant (1)", scored.UndefinedReason);

        string json = JsonSerializer.Serialize(scored, DatasetJson.Default.ScoredSimulation);
        Assert.Contains("\"ev_correlation_score\":null", json);
        Assert.Contains("\"undefined_reason\":\"true activations are constant (1)\"", json);
        var back = JsonSerializer.Deserialize(json, DatasetJson.Default.ScoredSimulation)!;
        Assert.Null(back.EvCorrelationScore);
        Assert.Equal(scored.UndefinedReason, back.UndefinedReason);
    }

    [Fact]
    public void Mismatched_excerpts_are_refused_with_the_excerpt_named()
    {
        var records = new[] { ScoringFixtures.Record([1, 2, 3]) };
        var e = Assert.Throws<ArgumentException>(() => SimulationScorer.Score(records, [ScoringFixtures.Simulation([1, 2])]));
        Assert.Contains("excerpt 0 has 3 tokens but its simulation has 2", e.Message);
        Assert.Throws<ArgumentException>(() => SimulationScorer.Score(records, []));
    }

    [Fact]
    public void Aggregate_of_stored_sequences_reproduces_the_score()
    {
        var scored = ScoringFixtures.Score([(Truth[..3], Predicted[..3]), (Truth[3..], Predicted[3..])]);
        var again = SimulationScorer.Aggregate(scored.ScoredSequenceSimulations);
        Assert.Equal(scored.EvCorrelationScore, again.EvCorrelationScore);
        Assert.Equal(scored.EvCorrelationInterval, again.EvCorrelationInterval);
    }
}
