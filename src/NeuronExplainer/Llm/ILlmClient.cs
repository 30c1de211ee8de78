namespace NeuronExplainer.Llm;

/// <summary>
/// Sends chat and completion requests to a language model. <see cref="OpenAiCompatibleBackend"/> talks to
/// one server; <see cref="LlmPipeline"/> wraps a backend with the cache, cost budget, concurrency limit,
/// retries, ledger and dry run, and is what explainers and simulators use.
/// </summary>
/// <remarks>
/// Failures are exceptions, never made-up answers: <see cref="LlmCallFailedException"/> (retries used up or a
/// permanent error; per call, so the caller marks the neuron failed with its message),
/// <see cref="LlmBudgetExceededException"/> (the next call could exceed --max-cost; stop the run cleanly) and
/// <see cref="LlmDryRunException"/> (dry run: the call was counted, not sent).
/// </remarks>
public interface ILlmClient
{
    Task<ChatResponse> ChatAsync(ChatRequest request, LlmCallContext context, CancellationToken cancellationToken = default);

    Task<CompletionResponse> CompleteAsync(CompletionRequest request, LlmCallContext context, CancellationToken cancellationToken = default);
}
