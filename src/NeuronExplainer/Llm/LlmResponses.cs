namespace NeuronExplainer.Llm;

/// <summary>One of the most likely tokens at a position, with its natural-log probability.</summary>
public sealed record TopLogprob(string Token, double Logprob);

/// <summary>
/// A token the server produced (or echoed) and its logprob, with the most likely alternatives at that
/// position, most likely first.
/// </summary>
/// <param name="Token">The token's text.</param>
/// <param name="Logprob">
/// Natural-log probability of this token. Null only for the first echoed prompt token of a completion,
/// which has nothing before it to be predicted from.
/// </param>
/// <param name="TopLogprobs">Alternatives, most likely first; empty where the server gave none.</param>
/// <param name="TextOffset">Completions only: the token's character offset in the echoed prompt + generated text.</param>
public sealed record TokenLogprob(string Token, double? Logprob, IReadOnlyList<TopLogprob> TopLogprobs, int? TextOffset = null);

/// <summary>Tokens counted by the server for one call (all choices together).</summary>
public sealed record TokenUsage(int PromptTokens, int CompletionTokens);

/// <summary>One generated chat answer.</summary>
/// <param name="Index">The choice's index, 0..N-1.</param>
/// <param name="Content">The answer text ("" if the server sent none).</param>
/// <param name="Logprobs">
/// One entry per generated token when logprobs were asked for and the server gave them; null when it did
/// not (a caller that needs them must treat null as "logprobs missing", never as zeros).
/// </param>
/// <param name="FinishReason">"stop", "length" (hit MaxTokens), ... or null if not reported.</param>
public sealed record ChatChoice(int Index, string Content, IReadOnlyList<TokenLogprob>? Logprobs, string? FinishReason)
{
    /// <summary>The model's refusal message (the chat API's <c>message.refusal</c>), when it refused instead of answering.</summary>
    public string? Refusal { get; init; }
}

/// <summary>A chat completion: its choices and token usage (null if the server did not report it).</summary>
public sealed record ChatResponse(IReadOnlyList<ChatChoice> Choices, TokenUsage? Usage);

/// <summary>One completion choice.</summary>
/// <param name="Index">The choice's index, 0..N-1.</param>
/// <param name="Text">The text (echoed prompt + generated text when Echo was set).</param>
/// <param name="Logprobs">
/// One entry per token of <see cref="Text"/> (prompt tokens first when echoed) when logprobs were asked
/// for and given; null otherwise.
/// </param>
/// <param name="FinishReason">"stop", "length", ... or null if not reported.</param>
public sealed record CompletionChoice(int Index, string Text, IReadOnlyList<TokenLogprob>? Logprobs, string? FinishReason);

/// <summary>A completion response: its choices and token usage (null if the server did not report it).</summary>
public sealed record CompletionResponse(IReadOnlyList<CompletionChoice> Choices, TokenUsage? Usage);
