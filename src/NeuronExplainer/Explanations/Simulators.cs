using NeuronExplainer.Activations;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Simulations of every excerpt asked for, in order, or the reason there are none. A failed simulation is
/// never partly filled: a neuron whose simulation failed is recorded as failed, not scored.
/// </summary>
public sealed record SimulationOutcome(IReadOnlyList<SequenceSimulation>? Simulations, string? Failure)
{
    public bool Succeeded => Simulations is not null;

    public static SimulationOutcome Of(IReadOnlyList<SequenceSimulation> simulations) => new(simulations, null);
    public static SimulationOutcome Failed(string reason) => new(null, reason);
}

/// <summary>How a simulation got its per-token distributions, recorded in <see cref="SequenceSimulation.Method"/>.</summary>
public static class SimulationMethods
{
    /// <summary>The paper's all-at-once method: top logprobs at each value slot of an echoed prompt.</summary>
    public const string PromptLogprobs = "prompt_logprobs";
    /// <summary>A chat model wrote one value per token; top logprobs of its digit tokens give the distribution.</summary>
    public const string ChatLogprobs = "chat_top_logprobs";
    /// <summary>The server gave no logprobs: the sampled values themselves, one point per token. Noisier.</summary>
    public const string Sampled = "sampled";
    /// <summary>The offline baseline simulator reading back a baseline explanation.</summary>
    public const string Baseline = "baseline";
}

/// <summary>
/// Predicts a neuron's activations on excerpts from an explanation alone, on the 0..10 scale of the prompts.
/// Implementations: all-at-once from prompt logprobs, chat with digit logprobs (or sampled), and the offline baseline.
/// </summary>
public interface ISimulator
{
    /// <summary>Name recorded with results, e.g. <c>baseline</c> or <c>chat:gpt-4o-mini</c>.</summary>
    string Name { get; }

    Task<SimulationOutcome> SimulateAsync(NeuronId neuron, string explanation, IReadOnlyList<IReadOnlyList<string>> excerpts,
        CancellationToken cancellationToken);
}
