using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>What a scorer sees of a neuron's chosen explanation: the record, the text, its simulation on the valid split, and the run's seed.</summary>
public sealed record ScorerInput(NeuronRecord Record, string Explanation, ScoredSimulation Valid, int Seed = 0);

/// <summary>
/// One method's score of an explanation: a finite value, or undefined with the reason (never 0 or NaN for "unknown").
/// A <see cref="Failed"/> one could not be scored at all (an LLM reply unreadable after its retries; the reason says
/// why) and is scored again by the next run.
/// </summary>
public sealed record MethodScore(string Method, double? Value, string? UndefinedReason)
{
    public bool Failed { get; init; }

    /// <summary>What the method measured beyond its number, as a JSON object (e.g. ablation's promoted tokens); null for none.</summary>
    public string? Details { get; init; }

    public static MethodScore Of(string method, ScoreValue value, string? details = null) =>
        new(method, value.Value, value.UndefinedReason) { Details = details };

    public static MethodScore Failure(string method, string reason) => new(method, null, reason) { Failed = true };
}

/// <summary>
/// A way of scoring an explanation: the paper's simulation correlation, detection, fuzzing, ablation. Every scorer of
/// a run scores the chosen explanation on the valid split, and each of its scores is stored under its method name.
/// </summary>
public interface IScorer
{
    /// <summary>The method names of the scores it gives, in order, e.g. <c>detection</c> and <c>detection-auc</c>.</summary>
    IReadOnlyList<string> Methods { get; }

    /// <summary>One score per method of <see cref="Methods"/>, in that order.</summary>
    Task<IReadOnlyList<MethodScore>> ScoreAsync(ScorerInput input, CancellationToken cancellationToken);
}

/// <summary>
/// The paper's score: Pearson correlation of true and simulated activations pooled over every valid token, as the
/// flow's simulation of the valid split has it (<see cref="SimulationScorer"/>).
/// </summary>
public sealed class SimulationCorrelationScorer : IScorer
{
    /// <summary>The name <c>--scorers</c> chooses it by.</summary>
    public const string Name = "simulation";
    public const string MethodName = "simulation-correlation";

    public IReadOnlyList<string> Methods => [MethodName];

    public Task<IReadOnlyList<MethodScore>> ScoreAsync(ScorerInput input, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<MethodScore>>([new MethodScore(MethodName, input.Valid.EvCorrelationScore, input.Valid.UndefinedReason)]);
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
