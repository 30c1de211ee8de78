using NeuronExplainer.Activations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Explanations;

/// <summary>
/// Judges excerpts with a chat model (<see cref="JudgePrompts"/>), <see cref="BatchSize"/> excerpts per call. A reply
/// must hold exactly one yes/no line per excerpt (optionally numbered "3:" or "3." by its position); a wrong count or
/// any other line is asked again (the pipeline neither caches nor replays a rejected reply), and after
/// <paramref name="maxAttempts"/> the judgement fails with the reason. With logprobs, an answer's belief in yes is
/// the probability of "yes" against "no" among the top logprobs of its token; without them there is no belief.
/// </summary>
public sealed class LlmJudge(ILlmClient client, string model, int maxAttempts = 3, int topLogprobs = 5) : IExcerptJudge
{
    public const int BatchSize = 10;

    public async Task<JudgeOutcome> JudgeAsync(NeuronId neuron, string explanation, JudgeTask task, IReadOnlyList<JudgedExcerpt> excerpts,
        CancellationToken cancellationToken)
    {
        var answers = new List<JudgeAnswer>(excerpts.Count);
        var context = new LlmCallContext(neuron, task == JudgeTask.Detection ? JudgedScorer.DetectionName : JudgedScorer.FuzzingName);
        for (int start = 0; start < excerpts.Count; start += BatchSize)
        {
            var batch = excerpts.Skip(start).Take(BatchSize).ToList();
            var request = new ChatRequest(model, JudgePrompts.Messages(task, explanation, batch), MaxTokens: 4 * batch.Count + 8, Temperature: 0,
                TopLogprobs: topLogprobs);
            ReplyCheck<ChatResponse> check = reply => Read(batch.Count, reply.Choices.FirstOrDefault()).Problem;
            IReadOnlyList<JudgeAnswer>? read = null;
            string? problem = null;
            for (int attempt = 0; attempt < maxAttempts && read is null; attempt++)
            {
                ChatResponse response;
                try
                {
                    response = await client.ChatAsync(request, context, check, cancellationToken);
                }
                catch (LlmCallFailedException e)
                {
                    return JudgeOutcome.Failed($"excerpts {start + 1}-{start + batch.Count}: {e.Message}");
                }
                (read, problem) = Read(batch.Count, response.Choices.FirstOrDefault());
            }
            if (read is null)
                return JudgeOutcome.Failed($"excerpts {start + 1}-{start + batch.Count}: after {maxAttempts} attempts, {problem}");
            answers.AddRange(read);
        }
        return JudgeOutcome.Of(answers);
    }

    /// <summary>Reads one reply: an answer per excerpt, or why the reply is unusable.</summary>
    internal static (IReadOnlyList<JudgeAnswer>? Answers, string? Problem) Read(int count, ChatChoice? choice)
    {
        if (choice is null) return (null, "the server returned no choice");
        if (choice.Refusal is { } refusal) return (null, $"the model refused: '{Shorten(refusal)}'");
        var lines = new List<(bool Yes, int Start)>();
        int offset = 0;
        foreach (var line in choice.Content.Split('\n'))
        {
            if (line.Trim().Length > 0)
            {
                if (Answer(line, lines.Count + 1) is not { } answer)
                    return (null, $"line {lines.Count + 1} of the reply is '{Shorten(line)}', not {JudgePrompts.Yes} or {JudgePrompts.No}");
                lines.Add((answer.Yes, offset + answer.At));
            }
            offset += line.Length + 1;
        }
        if (lines.Count != count) return (null, $"the reply has {lines.Count} answer lines for {count} excerpts");
        if (choice.Logprobs is not { Count: > 0 } logprobs || logprobs.Any(t => t.TopLogprobs.Count == 0))
            return ([.. lines.Select(l => new JudgeAnswer(l.Yes, null))], null);
        if (string.Concat(logprobs.Select(t => t.Token)) != choice.Content)
            return (null, "the reply's logprob tokens do not spell its text, so answers cannot be aligned with their logprobs");
        var starts = SimulatorPrompts.TokenStarts(logprobs);
        var answers = new List<JudgeAnswer>(count);
        for (int i = 0; i < lines.Count; i++)
        {
            int at = SimulatorPrompts.TokenAt(starts, logprobs, lines[i].Start);
            double yes = 0, no = 0;
            if (at >= 0)
                foreach (var alternative in logprobs[at].TopLogprobs)
                    switch (alternative.Token.Trim().ToLowerInvariant())
                    {
                        case JudgePrompts.Yes: yes += Math.Exp(alternative.Logprob); break;
                        case JudgePrompts.No: no += Math.Exp(alternative.Logprob); break;
                    }
            if (!(yes + no > 0)) return (null, $"neither {JudgePrompts.Yes} nor {JudgePrompts.No} is among the top logprobs of line {i + 1}");
            answers.Add(new JudgeAnswer(lines[i].Yes, yes / (yes + no)));
        }
        return (answers, null);
    }

    /// <summary>The answer of one line and where its word starts: "yes" or "no" (any case), after an optional "N:" or "N." of its own number.</summary>
    static (bool Yes, int At)? Answer(string line, int number)
    {
        int at = line.Length - line.TrimStart().Length;
        string rest = line.Trim();
        foreach (string prefix in new[] { $"{number}:", $"{number}." })
            if (rest.StartsWith(prefix, StringComparison.Ordinal))
            {
                int skipped = prefix.Length + (rest.Length - prefix.Length - rest[prefix.Length..].TrimStart().Length);
                at += skipped;
                rest = rest[skipped..];
                break;
            }
        return rest.ToLowerInvariant() switch
        {
            JudgePrompts.Yes => (true, at),
            JudgePrompts.No => (false, at),
            _ => null,
        };
    }

    static string Shorten(string text) => text.Length <= 40 ? text.Trim() : text[..40].Trim() + "...";
}
