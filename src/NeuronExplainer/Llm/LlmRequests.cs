using NeuronExplainer.Activations;

namespace NeuronExplainer.Llm;

/// <summary>One message of a chat prompt. <see cref="Role"/> is "system", "user" or "assistant".</summary>
public sealed record ChatMessage(string Role, string Content)
{
    public static ChatMessage System(string content) => new("system", content);
    public static ChatMessage User(string content) => new("user", content);
    public static ChatMessage Assistant(string content) => new("assistant", content);
}

/// <summary>
/// A chat completion request (<c>POST {base}/chat/completions</c>).
/// </summary>
/// <param name="Model">The server's model name, e.g. <c>gpt-4o-mini</c> or a vLLM/Ollama model id.</param>
/// <param name="Messages">The prompt, in order.</param>
/// <param name="MaxTokens">Upper bound of generated tokens per choice; also what the cost budget reserves.</param>
/// <param name="Temperature">Sampling temperature (0 = greedy).</param>
/// <param name="N">Number of choices sampled from the one prompt (the prompt is paid once).</param>
/// <param name="TopLogprobs">
/// Null: no logprobs. 0..20: ask for the logprob of every generated token plus this many most likely
/// alternatives at each position (the chat simulator reads the digit alternatives).
/// </param>
public sealed record ChatRequest(
    string Model,
    IReadOnlyList<ChatMessage> Messages,
    int MaxTokens,
    double Temperature = 1.0,
    int N = 1,
    int? TopLogprobs = null);

/// <summary>
/// A legacy completion request (<c>POST {base}/completions</c>), as vLLM and llama.cpp still serve it.
/// With <see cref="Echo"/> and <see cref="MaxTokens"/> = 0 it scores the prompt itself: the response
/// holds the logprob of every prompt token and the top alternatives at each position, which is what the
/// paper's all-at-once simulator reads.
/// </summary>
/// <param name="Model">The server's model name.</param>
/// <param name="Prompt">The prompt text.</param>
/// <param name="MaxTokens">Tokens to generate after the prompt; 0 is allowed (prompt scoring only).</param>
/// <param name="Echo">Return the prompt tokens (and their logprobs) before the generated ones.</param>
/// <param name="Logprobs">Null: no logprobs. 0..20: number of top alternatives per token position.</param>
/// <param name="Temperature">Sampling temperature (0 = greedy).</param>
/// <param name="N">Number of choices.</param>
public sealed record CompletionRequest(
    string Model,
    string Prompt,
    int MaxTokens,
    bool Echo = false,
    int? Logprobs = null,
    double Temperature = 1.0,
    int N = 1);

/// <summary>
/// Who a call is for, recorded in the cost ledger; not part of the request or its cache key.
/// </summary>
/// <param name="Neuron">The neuron the call works on, or null for run-level calls.</param>
/// <param name="Purpose">What the call does: <see cref="ExplainPurpose"/>, <see cref="SimulatePurpose"/> or another short word.</param>
public sealed record LlmCallContext(NeuronId? Neuron, string Purpose)
{
    public const string ExplainPurpose = "explain";
    public const string SimulatePurpose = "simulate";

    public static LlmCallContext Explain(NeuronId neuron) => new(neuron, ExplainPurpose);
    public static LlmCallContext Simulate(NeuronId neuron) => new(neuron, SimulatePurpose);
}
