namespace NeuronExplainer.Llm;

/// <summary>
/// A call that could not get a valid answer: a permanent error (400, 401, 404) or retries used up. The
/// message names the server, the last HTTP status (or network error) and the attempts made; never the key.
/// </summary>
public sealed class LlmCallFailedException(string message, Exception? inner = null) : NeuronExplainerException(message, inner);

/// <summary>
/// The call was not sent because its worst-case cost would take the run past <see cref="LlmPipelineOptions.MaxCost"/>. The run should
/// stop starting new work, keep what is done, and print its summary.
/// </summary>
public sealed class LlmBudgetExceededException(string message) : NeuronExplainerException(message);

/// <summary>
/// The server failed too many calls in a row (each after its retries), so the pipeline sends no more: a dead or
/// misconfigured server costs a few calls, not every neuron's. The run should stop like at the budget.
/// </summary>
public sealed class LlmServerUnavailableException(string message) : NeuronExplainerException(message);

/// <summary>
/// Dry run: the call (not in the cache) was counted in the estimate and not sent, so there is no answer to
/// continue with.
/// </summary>
public sealed class LlmDryRunException(string message) : NeuronExplainerException(message);
