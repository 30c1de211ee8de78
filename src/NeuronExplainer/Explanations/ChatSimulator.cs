using NeuronExplainer.Activations;
using NeuronExplainer.Llm;
using NeuronExplainer.Scoring;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Simulates with a chat model: one request per excerpt asks for one value per token line. The expected value of
/// each line comes from the top logprobs of its digit token (aligned by position in the reply); a reply with the
/// wrong number of lines or a line that is not a value 0..10 is asked again (the pipeline neither caches nor
/// replays such a reply, so each attempt reaches the server), and after the last attempt the simulation fails
/// with the reason. A server that gives no logprobs yields the sampled values, flagged
/// <see cref="SimulationMethods.Sampled"/>.
/// </summary>
public sealed class ChatSimulator(ILlmClient client, string model, int maxAttempts = 3, int topLogprobs = 10) : ISimulator
{
    public string Name => $"chat:{model}";

    public async Task<SimulationOutcome> SimulateAsync(NeuronId neuron, string explanation, IReadOnlyList<IReadOnlyList<string>> excerpts,
        CancellationToken cancellationToken)
    {
        var simulations = new List<SequenceSimulation>(excerpts.Count);
        for (int e = 0; e < excerpts.Count; e++)
        {
            var tokens = excerpts[e];
            var messages = SimulatorPrompts.Chat(explanation, tokens);
            var request = new ChatRequest(model, messages, MaxTokens: 3 * tokens.Count + 16, Temperature: 0, TopLogprobs: topLogprobs);
            ReplyCheck<ChatResponse> check = reply => Read(tokens, reply.Choices.FirstOrDefault()).Problem;
            string? problem = null;
            SequenceSimulation? simulation = null;
            for (int attempt = 0; attempt < maxAttempts && simulation is null; attempt++)
            {
                ChatResponse response;
                try
                {
                    response = await client.ChatAsync(request, LlmCallContext.Simulate(neuron), check, cancellationToken);
                }
                catch (LlmCallFailedException ex)
                {
                    return SimulationOutcome.Failed($"excerpt {e + 1}: {ex.Message}");
                }
                (simulation, problem) = Read(tokens, response.Choices.FirstOrDefault());
            }
            if (simulation is null)
                return SimulationOutcome.Failed($"excerpt {e + 1}: after {maxAttempts} attempts, {problem}");
            simulations.Add(simulation);
        }
        return SimulationOutcome.Of(simulations);
    }

    /// <summary>Reads one reply: a simulation, or why the reply is unusable.</summary>
    internal static (SequenceSimulation? Simulation, string? Problem) Read(IReadOnlyList<string> tokens, ChatChoice? choice)
    {
        if (choice is null) return (null, "the server returned no choice");
        var lines = ValueLines(choice.Content);
        if (lines.Count != tokens.Count)
            return (null, $"the reply has {lines.Count} value lines for {tokens.Count} tokens");
        var values = new int[lines.Count];
        for (int i = 0; i < lines.Count; i++)
        {
            if (PromptFormat.ParseValue(lines[i].Text) is not int value)
                return (null, $"line {i + 1} of the reply is '{Shorten(lines[i].Text)}', not a whole number from 0 to 10");
            values[i] = value;
        }
        if (choice.Logprobs is not { Count: > 0 } logprobs || logprobs.Any(t => t.TopLogprobs.Count == 0))
            return (SimulatorPrompts.FromDistributions(tokens, [.. values.Select(PointMass)], SimulationMethods.Sampled), null);
        if (string.Concat(logprobs.Select(t => t.Token)) != choice.Content)
            return (null, "the reply's logprob tokens do not spell its text, so values cannot be aligned with their logprobs");

        var starts = SimulatorPrompts.TokenStarts(logprobs);
        var distributions = new double[lines.Count][];
        for (int i = 0; i < lines.Count; i++)
        {
            int valueStart = lines[i].Start + (lines[i].Text.Length - lines[i].Text.TrimStart().Length);
            int at = SimulatorPrompts.TokenAt(starts, logprobs, valueStart);
            var distribution = at < 0 ? null : Distribution(logprobs, at, values[i]);
            if (distribution is null)
                return (null, $"no value 0..10 among the top logprobs of line {i + 1}");
            distributions[i] = distribution;
        }
        return (SimulatorPrompts.FromDistributions(tokens, distributions, SimulationMethods.ChatLogprobs), null);
    }

    /// <summary>
    /// Distribution of one line's value from the top logprobs at its first token. When the written value is 10
    /// split over the tokens "1" and "0" (tokenizers that split digits), the mass of "1" is divided between 1 and 10
    /// by the probability of "0" at the next position; elsewhere an alternative "1" counts as 1.
    /// </summary>
    static double[]? Distribution(IReadOnlyList<TokenLogprob> logprobs, int at, int written)
    {
        var p = SimulatorPrompts.ValueMass(logprobs[at].TopLogprobs);
        bool splitTen = written == 10 && logprobs[at].Token.Trim() == "1" && at + 1 < logprobs.Count;
        if (splitTen)
        {
            double zero = logprobs[at + 1].TopLogprobs.Where(t => t.Token.Trim() == "0").Sum(t => Math.Exp(t.Logprob));
            p[10] += p[1] * zero;
            p[1] *= 1 - zero;
        }
        return SimulatorPrompts.Renormalize(p);
    }

    static double[] PointMass(int value)
    {
        var p = new double[PromptFormat.MaxNormalizedActivation + 1];
        p[value] = 1;
        return p;
    }

    /// <summary>
    /// The value text of each non-blank line of a reply with its start offset; blank lines carry no value. A line that
    /// repeats the excerpt's <c>token&lt;tab&gt;value</c> form counts by the text after its last tab.
    /// </summary>
    static List<(string Text, int Start)> ValueLines(string content)
    {
        var lines = new List<(string, int)>();
        int start = 0;
        foreach (var line in content.Split('\n'))
        {
            if (line.Trim().Length > 0)
            {
                int tab = line.LastIndexOf('\t') + 1;
                lines.Add((line[tab..], start + tab));
            }
            start += line.Length + 1;
        }
        return lines;
    }

    static string Shorten(string text) => text.Length <= 40 ? text.Trim() : text[..40].Trim() + "...";
}
