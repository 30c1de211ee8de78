using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Offline explainer: derives a <see cref="BaselineExplanation"/> from the train excerpts (for an attention head a
/// <see cref="BaselineHeadExplanation"/> from their attended tokens, when its record has them). Its samples differ in how many tokens (pairs) they
/// name, so choosing among them on calibration is a real choice.
/// </summary>
public sealed class BaselineExplainer : IExplainer
{
    public const string BaselineName = "baseline";

    /// <summary>Token budgets of successive samples; the first is the default explanation.</summary>
    static readonly int[] TokenBudgets = [12, 6, 20, 3, 30];

    public string Name => BaselineName;

    public Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken)
    {
        var train = input.Record.TrainRecords();
        bool head = input.Neuron.Kind == UnitKind.AttentionHead;
        var attempts = Enumerable.Range(0, samples)
            .Select(i => Attempt(train, TokenBudgets[i % TokenBudgets.Length], head))
            .ToList();
        return Task.FromResult<IReadOnlyList<ExplanationAttempt>>(attempts);
    }

    /// <summary>Re-derives from the train excerpts together with the counterexamples, with the current explanation's budget.</summary>
    public Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples,
        CancellationToken cancellationToken)
    {
        bool head = input.Neuron.Kind == UnitKind.AttentionHead;
        int budget = (head ? BaselineHeadExplanation.TryParse(current)?.Pairs.Count : BaselineExplanation.TryParse(current)?.Tokens.Count) is > 0 and var n
            ? n : TokenBudgets[0];
        var records = input.Record.TrainRecords().Concat(counterexamples.Select(c => c.Record)).ToList();
        return Task.FromResult(Attempt(records, budget, head));
    }

    static ExplanationAttempt Attempt(IReadOnlyList<ActivationRecord> records, int budget, bool head)
    {
        // A head's record without attended tokens (imported, say) is explained from its values alone, as a neuron's.
        if (head && BaselineHeadExplanation.Derive(records, budget) is { } pairs)
            return pairs.Pairs.Count == 0
                ? ExplanationAttempt.Failed("no attended token pair carries a mean activation of at least 1 on the 0..10 scale in the train excerpts")
                : ExplanationAttempt.FromText(pairs.ToString());
        var explanation = BaselineExplanation.Derive(records, budget);
        return explanation.Tokens.Count + explanation.After.Count == 0
            ? ExplanationAttempt.Failed("no token carries a mean activation of at least 1 on the 0..10 scale in the train excerpts")
            : ExplanationAttempt.FromText(explanation.ToString());
    }
}

/// <summary>Offline simulator: reads a <see cref="BaselineExplanation"/> back and predicts each token from it.</summary>
public sealed class BaselineSimulator : ISimulator
{
    public string Name => BaselineExplainer.BaselineName;

    public Task<SimulationOutcome> SimulateAsync(NeuronId neuron, string explanation, IReadOnlyList<IReadOnlyList<string>> excerpts,
        CancellationToken cancellationToken)
    {
        var parsed = BaselineExplanation.ParseAny(explanation);
        if (parsed is null)
            return Task.FromResult(SimulationOutcome.Failed("the baseline simulator reads only explanations written by the baseline explainer"));
        var predictions = parsed.PredictAll(excerpts);
        var simulations = excerpts.Select((tokens, i) =>
            SequenceSimulation.PointMass(tokens, predictions[i], ActivationScale.SimulatedNormalizedActivations) with { Method = SimulationMethods.Baseline })
            .ToList();
        return Task.FromResult(SimulationOutcome.Of(simulations));
    }
}
