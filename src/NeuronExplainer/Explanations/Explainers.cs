using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>What an explainer may look at for one neuron.</summary>
/// <param name="Record">The neuron's record; explainers read only its train split.</param>
/// <param name="TokenTable">Its activation-based top tokens, when collected (the token-lookup-table explainer needs them).</param>
public sealed record ExplainerInput(NeuronRecord Record, TokenLookupTableSummaryOfNeuron? TokenTable)
{
    public NeuronId Neuron => Record.NeuronId;
}

/// <summary>
/// One explanation an explainer produced, or why it produced none usable (empty, over-long, failed call).
/// An unusable explanation is recorded with its reason and never simulated or scored.
/// </summary>
public sealed record ExplanationAttempt(string? Text, string? Rejection)
{
    /// <summary>Longer explanations are rejected: they are essays or runaway generations, not explanations.</summary>
    public const int MaxLength = 600;

    /// <summary>Checks an explanation's text: trimmed, non-empty, at most <see cref="MaxLength"/> characters.</summary>
    public static ExplanationAttempt FromText(string? text)
    {
        string trimmed = (text ?? "").Trim();
        if (trimmed.Length == 0) return new(null, "the explanation is empty");
        if (trimmed.Length > MaxLength)
            return new(null, $"the explanation is {trimmed.Length} characters long; at most {MaxLength} are accepted");
        return new(trimmed, null);
    }

    public static ExplanationAttempt Failed(string reason) => new(null, reason);
}

/// <summary>An excerpt the current explanation simulates badly, shown to the explainer when revising.</summary>
public sealed record Counterexample(ActivationRecord Record, SequenceSimulation Simulation);

/// <summary>
/// Writes explanations of a neuron. The token/activation-pair and token-lookup-table explainers ask an LLM;
/// the baseline derives one offline.
/// </summary>
public interface IExplainer
{
    /// <summary>Name recorded with results, e.g. <c>baseline</c> or <c>token-activation-pair:gpt-4o</c>.</summary>
    string Name { get; }

    /// <summary>Writes up to <paramref name="samples"/> explanations (one attempt per sample).</summary>
    Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken);

    /// <summary>Revises <paramref name="current"/> given the excerpts it simulates worst.</summary>
    Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples,
        CancellationToken cancellationToken);
}
