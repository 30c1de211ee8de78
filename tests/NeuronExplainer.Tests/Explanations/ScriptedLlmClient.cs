using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Explanations;

/// <summary>An in-process <see cref="ILlmClient"/> answering from delegates, recording every request.</summary>
internal sealed class ScriptedLlmClient(Func<ChatRequest, ChatResponse>? chat = null, Func<CompletionRequest, CompletionResponse>? complete = null)
    : ILlmClient
{
    public List<ChatRequest> ChatRequests { get; } = [];
    public List<CompletionRequest> CompletionRequests { get; } = [];

    public Task<ChatResponse> ChatAsync(ChatRequest request, LlmCallContext context, ReplyCheck<ChatResponse>? check = null,
        CancellationToken cancellationToken = default)
    {
        lock (ChatRequests) ChatRequests.Add(request);
        return Task.FromResult((chat ?? throw new InvalidOperationException("no chat script"))(request));
    }

    public Task<CompletionResponse> CompleteAsync(CompletionRequest request, LlmCallContext context, ReplyCheck<CompletionResponse>? check = null,
        CancellationToken cancellationToken = default)
    {
        lock (CompletionRequests) CompletionRequests.Add(request);
        return Task.FromResult((complete ?? throw new InvalidOperationException("no completion script"))(request));
    }

    public static ChatResponse Reply(params string[] contents) =>
        new([.. contents.Select((c, i) => new ChatChoice(i, c, null, "stop"))], new TokenUsage(100, 10));

    /// <summary>A reply of one value per line, each value its own token with the given alternatives (value, probability).</summary>
    public static ChatResponse ValuesWithLogprobs(IReadOnlyList<(int Value, IReadOnlyList<(string Token, double P)> Alternatives)> lines)
    {
        var tokens = new List<TokenLogprob>();
        for (int i = 0; i < lines.Count; i++)
        {
            var alternatives = lines[i].Alternatives.Select(a => new TopLogprob(a.Token, Math.Log(a.P))).ToList();
            tokens.Add(new TokenLogprob(lines[i].Value.ToString(), alternatives[0].Logprob, alternatives));
            if (i < lines.Count - 1) tokens.Add(new TokenLogprob("\n", 0, [new TopLogprob("\n", 0)]));
        }
        string content = string.Concat(tokens.Select(t => t.Token));
        return new ChatResponse([new ChatChoice(0, content, tokens, "stop")], new TokenUsage(100, tokens.Count));
    }
}
