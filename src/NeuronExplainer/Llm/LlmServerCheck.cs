using System.Diagnostics;

namespace NeuronExplainer.Llm;

/// <summary>The outcome of one test call: which endpoint, whether it answered, and whether logprobs came back.</summary>
/// <param name="Method">"chat" or "completions (echo)".</param>
/// <param name="Model">The model asked.</param>
/// <param name="Answered">The call got a valid answer.</param>
/// <param name="Detail">The answer's text, or the error.</param>
/// <param name="Logprobs">Logprobs with top alternatives came back (null if the call failed).</param>
/// <param name="Latency">Time to the answer or the error.</param>
public sealed record LlmProbe(string Method, string Model, bool Answered, string Detail, bool? Logprobs, TimeSpan Latency);

/// <summary>
/// Tells what a server can do for the simulators and judges with one tiny call per method: a chat call with top
/// logprobs (the chat simulator needs them, otherwise only sampled values are possible), a one-token yes/no chat
/// answer (detection and fuzzing read its yes/no logprobs for AUC) and an echoed completion with logprobs (the paper's
/// all-at-once simulator). The calls bypass cache and ledger.
/// </summary>
public static class LlmServerCheck
{
    /// <summary>The probe of a one-token yes/no answer with both words among its top logprobs (detection and fuzzing AUC).</summary>
    public const string YesNoMethod = "chat (yes/no)";

    public static async Task<IReadOnlyList<LlmProbe>> RunAsync(LlmEndpoint endpoint, string? chatModel, string? completionModel,
        TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var models = new[] { chatModel, completionModel }.OfType<string>().ToList();
        using var backend = await OpenAiCompatibleBackend.ConnectAsync(endpoint, models, checkServer: true, cancellationToken).ConfigureAwait(false);
        var context = new LlmCallContext(null, "check");
        var probes = new List<LlmProbe>();
        if (chatModel is not null)
            probes.Add(await ProbeAsync("chat", chatModel, timeout, async ct =>
            {
                var request = new ChatRequest(chatModel, [ChatMessage.User("Reply with one digit: how many legs does a cat have?")],
                    MaxTokens: 5, Temperature: 0, TopLogprobs: 5);
                var choice = (await backend.ChatAsync(request, context, cancellationToken: ct).ConfigureAwait(false)).Choices[0];
                return (choice.Content, choice.Logprobs is { Count: > 0 } l && l.Any(t => t.TopLogprobs.Count > 0));
            }, cancellationToken).ConfigureAwait(false));
        if (chatModel is not null)
            probes.Add(await ProbeAsync(YesNoMethod, chatModel, timeout, async ct =>
            {
                var request = new ChatRequest(chatModel, [ChatMessage.User("Answer with one word, yes or no: is sea water salty?")],
                    MaxTokens: 1, Temperature: 0, TopLogprobs: 5);
                var choice = (await backend.ChatAsync(request, context, cancellationToken: ct).ConfigureAwait(false)).Choices[0];
                // Detection's AUC needs the answer as one token whose top alternatives hold both words.
                var words = choice.Logprobs is [var first, ..] ? first.TopLogprobs.Select(t => t.Token.Trim().ToLowerInvariant()).ToHashSet() : [];
                return (choice.Content, words.Contains("yes") && words.Contains("no"));
            }, cancellationToken).ConfigureAwait(false));
        if (completionModel is not null)
            probes.Add(await ProbeAsync("completions (echo)", completionModel, timeout, async ct =>
            {
                var request = new CompletionRequest(completionModel, "The cat sat on the mat.", MaxTokens: 0, Echo: true, Logprobs: 5, Temperature: 0);
                var choice = (await backend.CompleteAsync(request, context, cancellationToken: ct).ConfigureAwait(false)).Choices[0];
                return (choice.Text, choice.Logprobs is { Count: > 1 } l && l.Skip(1).All(t => t.Logprob is not null && t.TopLogprobs.Count > 0));
            }, cancellationToken).ConfigureAwait(false));
        return probes;
    }

    private static async Task<LlmProbe> ProbeAsync(string method, string model, TimeSpan timeout,
        Func<CancellationToken, Task<(string Text, bool Logprobs)>> call, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            var (text, logprobs) = await call(limit.Token).ConfigureAwait(false);
            return new LlmProbe(method, model, true, text, logprobs, clock.Elapsed);
        }
        catch (LlmServerException e)
        {
            return new LlmProbe(method, model, false, e.Message, null, clock.Elapsed);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new LlmProbe(method, model, false, $"no answer within {timeout.TotalSeconds:0.#} s", null, clock.Elapsed);
        }
    }
}
