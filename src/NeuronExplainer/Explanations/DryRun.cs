using NeuronExplainer.Activations;
using NeuronExplainer.Llm;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Dry run stand-ins: in a dry run the LLM answers nothing, so these let the flow go on with a placeholder
/// explanation and flat placeholder simulations, and every call the real run would make is counted. Their
/// output is never stored (the runner stores nothing in a dry run).
/// </summary>
public sealed class DryRunExplainer(IExplainer inner) : IExplainer
{
    const string Placeholder = "a placeholder for the explanation a real run would write";

    public string Name => inner.Name;

    public async Task<IReadOnlyList<ExplanationAttempt>> ExplainAsync(ExplainerInput input, int samples, CancellationToken cancellationToken)
    {
        try { return await inner.ExplainAsync(input, samples, cancellationToken); }
        catch (LlmDryRunException) { return [.. Enumerable.Repeat(ExplanationAttempt.FromText(Placeholder), samples)]; }
    }

    public async Task<ExplanationAttempt> ReviseAsync(ExplainerInput input, string current, IReadOnlyList<Counterexample> counterexamples,
        CancellationToken cancellationToken)
    {
        try { return await inner.ReviseAsync(input, current, counterexamples, cancellationToken); }
        catch (LlmDryRunException) { return ExplanationAttempt.FromText(Placeholder); }
    }
}

/// <inheritdoc cref="DryRunExplainer"/>
public sealed class DryRunJudge(IExcerptJudge inner) : IExcerptJudge
{
    public async Task<JudgeOutcome> JudgeAsync(NeuronId neuron, string explanation, JudgeTask task, IReadOnlyList<JudgedExcerpt> excerpts,
        CancellationToken cancellationToken)
    {
        var answers = new List<JudgeAnswer>(excerpts.Count);
        // One batch at a time, so every call of the real run is counted.
        foreach (var batch in excerpts.Chunk(LlmJudge.BatchSize))
        {
            try
            {
                var outcome = await inner.JudgeAsync(neuron, explanation, task, batch, cancellationToken);
                if (outcome.Answers is null) return outcome;
                answers.AddRange(outcome.Answers);
            }
            catch (LlmDryRunException)
            {
                answers.AddRange(batch.Select(_ => new JudgeAnswer(false, null)));
            }
        }
        return JudgeOutcome.Of(answers);
    }
}

/// <inheritdoc cref="DryRunExplainer"/>
public sealed class DryRunSimulator(ISimulator inner) : ISimulator
{
    public string Name => inner.Name;

    public async Task<SimulationOutcome> SimulateAsync(NeuronId neuron, string explanation, IReadOnlyList<IReadOnlyList<string>> excerpts,
        CancellationToken cancellationToken)
    {
        var simulations = new List<SequenceSimulation>(excerpts.Count);
        foreach (var excerpt in excerpts)
        {
            try
            {
                var outcome = await inner.SimulateAsync(neuron, explanation, [excerpt], cancellationToken);
                if (!outcome.Succeeded) return outcome;
                simulations.Add(outcome.Simulations![0]);
            }
            catch (LlmDryRunException)
            {
                simulations.Add(SequenceSimulation.PointMass(excerpt, new double[excerpt.Count], ActivationScale.SimulatedNormalizedActivations));
            }
        }
        return SimulationOutcome.Of(simulations);
    }
}
