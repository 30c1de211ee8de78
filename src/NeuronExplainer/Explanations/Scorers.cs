using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>What a scorer sees of a neuron's chosen explanation: the record, the text, and its simulation on the valid split.</summary>
public sealed record ScorerInput(NeuronRecord Record, string Explanation, ScoredSimulation Valid);

/// <summary>One method's score of an explanation: a finite value, or undefined with the reason (never 0 or NaN for "unknown").</summary>
public sealed record MethodScore(string Method, double? Value, string? UndefinedReason);

/// <summary>
/// A way of scoring an explanation (the paper's simulation correlation; detection, fuzzing, ablation later). Every
/// scorer of a run scores the chosen explanation on the valid split, and its score is stored under its method name.
/// </summary>
public interface IScorer
{
    /// <summary>The method name scores are stored under, e.g. <c>simulation-correlation</c>.</summary>
    string Method { get; }

    Task<MethodScore> ScoreAsync(ScorerInput input, CancellationToken cancellationToken);
}

/// <summary>
/// The paper's score: Pearson correlation of true and simulated activations pooled over every valid token, as the
/// flow's simulation of the valid split has it (<see cref="SimulationScorer"/>).
/// </summary>
public sealed class SimulationCorrelationScorer : IScorer
{
    public const string MethodName = "simulation-correlation";

    public string Method => MethodName;

    public Task<MethodScore> ScoreAsync(ScorerInput input, CancellationToken cancellationToken) =>
        Task.FromResult(new MethodScore(Method, input.Valid.EvCorrelationScore, input.Valid.UndefinedReason));
}

/// <summary>
/// The named rule that picks the kept explanation among a neuron's candidates: today the highest correlation on the
/// calibration split (a defined one beats an undefined one; ties keep the earlier), so choosing never sees valid.
/// </summary>
public static class ChoiceRule
{
    public const string CalibrationCorrelation = "calibration-correlation";

    /// <summary>Whether candidate <paramref name="a"/> is to be kept over <paramref name="b"/>, both scored on calibration.</summary>
    public static bool IsBetter(ScoredSimulation a, ScoredSimulation b) =>
        a.EvCorrelationScore is double x && (b.EvCorrelationScore is not double y || x > y);
}
