using NeuronExplainer.Activations;
using NeuronExplainer.Llm;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>
/// The paper's all-at-once simulator for completions servers with <c>echo</c> (e.g. vLLM): one request per excerpt
/// scores the prompt with "unknown" in every value slot, and the top logprobs at each slot give the model's
/// distribution over the values 0..10 there (renormalised over those values). Nothing is generated.
/// </summary>
public sealed class AllAtOnceSimulator(ILlmClient client, string model, int topLogprobs = 15) : ISimulator
{
    public string Name => $"all-at-once:{model}";

    public async Task<SimulationOutcome> SimulateAsync(NeuronId neuron, string explanation, IReadOnlyList<IReadOnlyList<string>> excerpts,
        CancellationToken cancellationToken)
    {
        var simulations = new List<SequenceSimulation>(excerpts.Count);
        for (int e = 0; e < excerpts.Count; e++)
        {
            var tokens = excerpts[e];
            var (prompt, offsets) = SimulatorPrompts.AllAtOnce(explanation, tokens);
            CompletionResponse response;
            try
            {
                response = await client.CompleteAsync(new CompletionRequest(model, prompt, MaxTokens: 0, Echo: true, Logprobs: topLogprobs, Temperature: 0),
                    LlmCallContext.Simulate(neuron), reply => Read(tokens, offsets, reply).Problem, cancellationToken);
            }
            catch (LlmCallFailedException ex)
            {
                return SimulationOutcome.Failed($"excerpt {e + 1}: {ex.Message}");
            }
            var (simulation, problem) = Read(tokens, offsets, response);
            if (simulation is null) return SimulationOutcome.Failed($"excerpt {e + 1}: {problem}");
            simulations.Add(simulation);
        }
        return SimulationOutcome.Of(simulations);
    }

    /// <summary>Reads one echoed prompt: a simulation, or why the reply is unusable.</summary>
    static (SequenceSimulation? Simulation, string? Problem) Read(IReadOnlyList<string> excerpt, int[] offsets, CompletionResponse response)
    {
        var tokens = response.Choices.FirstOrDefault()?.Logprobs;
        if (tokens is null || tokens.Count == 0)
            return (null, "the server returned no prompt logprobs; all-at-once simulation needs a completions endpoint with echo and logprobs");
        var starts = SimulatorPrompts.TokenStarts(tokens);
        var distributions = new double[offsets.Length][];
        for (int i = 0; i < offsets.Length; i++)
        {
            int at = SimulatorPrompts.TokenAt(starts, tokens, offsets[i]);
            if (at < 0)
                return (null, $"the echoed prompt does not reach the value of token {i + 1} (character {offsets[i]})");
            var distribution = SimulatorPrompts.ValueDistribution(tokens[at].TopLogprobs);
            if (distribution is null)
                return (null, $"no value 0..10 among the top logprobs at token {i + 1}");
            distributions[i] = distribution;
        }
        return (SimulatorPrompts.FromDistributions(excerpt, distributions, SimulationMethods.PromptLogprobs), null);
    }
}
