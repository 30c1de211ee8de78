namespace NeuronExplainer.Llm;

/// <summary>
/// Sends chat and completion requests to a language model. <see cref="OpenAiCompatibleBackend"/> talks to
/// one server; <see cref="LlmPipeline"/> wraps a backend with the cache, cost budget, concurrency limit,
/// retries, ledger and dry run, and is what explainers and simulators use.
/// </summary>
/// <remarks>
/// Failures are exceptions, never made-up answers: <see cref="LlmCallFailedException"/> (retries used up or a
/// permanent error; per call, so the caller marks the neuron failed with its message),
/// <see cref="LlmBudgetExceededException"/> (the next call could exceed <see cref="LlmPipelineOptions.MaxCost"/>; stop the run cleanly) and
/// <see cref="LlmDryRunException"/> (dry run: the call was counted, not sent).
/// A caller that can reject a reply (a wrong line count, no logprobs where they are needed) passes its
/// <see cref="ReplyCheck{TResponse}"/>: the pipeline caches only replies the check accepts and never answers
/// from a cached reply it rejects, so the caller's next attempt reaches the server. The backend caches
/// nothing and ignores it.
/// </remarks>
public interface ILlmClient
{
    Task<ChatResponse> ChatAsync(ChatRequest request, LlmCallContext context, ReplyCheck<ChatResponse>? check = null,
        CancellationToken cancellationToken = default);

    Task<CompletionResponse> CompleteAsync(CompletionRequest request, LlmCallContext context, ReplyCheck<CompletionResponse>? check = null,
        CancellationToken cancellationToken = default);
}

/// <summary>Why a reply cannot be used by the caller, or null when it can.</summary>
public delegate string? ReplyCheck<in TResponse>(TResponse response);
