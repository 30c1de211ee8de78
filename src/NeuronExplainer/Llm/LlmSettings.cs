namespace NeuronExplainer.Llm;

/// <summary>
/// Where an OpenAI-compatible server is and how to authenticate. The key itself is read from the
/// environment variable named <see cref="ApiKeyEnv"/> at connect time and kept nowhere else.
/// </summary>
/// <param name="BaseUrl">
/// The API root including its version path, e.g. <c>https://api.openai.com/v1</c>,
/// <c>http://localhost:8000/v1</c> (vLLM), <c>http://localhost:11434/v1</c> (Ollama).
/// </param>
/// <param name="ApiKeyEnv">Name of the environment variable holding the API key; a loopback server may need none.</param>
public sealed record LlmEndpoint(Uri BaseUrl, string ApiKeyEnv = LlmEndpoint.DefaultApiKeyEnv)
{
    public const string DefaultApiKeyEnv = "OPENAI_API_KEY";
    public static readonly Uri OpenAiBaseUrl = new("https://api.openai.com/v1");

    /// <summary>The endpoint of a base URL and a key variable's name, or one <see cref="SettingException"/> naming the one that is wrong.</summary>
    public static LlmEndpoint Parse(string baseUrl, string apiKeyEnv)
    {
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw SettingException.Of<LlmEndpoint>(nameof(BaseUrl), $"'{baseUrl}' is not an http(s) URL; expected one such as http://localhost:8000/v1");
        if (string.IsNullOrWhiteSpace(apiKeyEnv))
            throw SettingException.Of<LlmEndpoint>(nameof(ApiKeyEnv), $"is '{apiKeyEnv}'; expected the name of an environment variable, such as OPENAI_API_KEY");
        return new LlmEndpoint(uri, apiKeyEnv);
    }

    /// <summary>True for servers on this machine (localhost, 127.0.0.0/8, ::1), which are free and may need no key.</summary>
    public bool IsLocal => BaseUrl.IsLoopback;
}

/// <summary>How the pipeline spends: budget, parallelism, retries and dry run.</summary>
public sealed record LlmPipelineOptions
{
    /// <summary>
    /// Budget in US dollars for what the store's paid calls cost in all, this run's and those of every other process on the
    /// store (cache hits are free); null = no limit.
    /// </summary>
    public decimal? MaxCost { get; init; }

    /// <summary>Calls in flight at once.</summary>
    public int Concurrency { get; init; } = 4;

    /// <summary>Attempts per call including the first (429, 5xx, timeouts, broken bodies are retried).</summary>
    public int MaxAttempts { get; init; } = 6;

    /// <summary>
    /// Calls that fail in a row (each after its attempts, no call answered in between) before the pipeline stops
    /// sending: the run then ends with the cause instead of failing every remaining neuron the same way.
    /// </summary>
    public int MaxConsecutiveFailures { get; init; } = 5;

    /// <summary>Time limit of one attempt.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Time limit of one call over all its attempts and waits.</summary>
    public TimeSpan MaxCallTime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>First backoff delay; later ones grow exponentially with jitter.</summary>
    public TimeSpan BaseRetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest single wait, also for a server's Retry-After.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Count and estimate calls that are not cached instead of sending them.</summary>
    public bool DryRun { get; init; }
}

/// <summary>
/// What a pipeline's calls used so far in this process. In a dry run, <see cref="Calls"/> and the tokens
/// and cost are estimates of the calls that would be sent (completion tokens at their MaxTokens bound).
/// </summary>
/// <param name="Calls">Calls sent (or, in a dry run, that would be sent).</param>
/// <param name="CachedCalls">Calls answered from the cache, free.</param>
/// <param name="FailedCalls">Calls that ended in <see cref="LlmCallFailedException"/>.</param>
/// <param name="PromptTokens">Prompt tokens of sent calls.</param>
/// <param name="CompletionTokens">Completion tokens of sent calls.</param>
/// <param name="Cost">US dollars of sent calls.</param>
public sealed record LlmUsage(int Calls, int CachedCalls, int FailedCalls, long PromptTokens, long CompletionTokens, decimal Cost)
{
    /// <summary>Of <see cref="PromptTokens"/>, those the provider's prompt cache served.</summary>
    public long CachedPromptTokens { get; init; }

    /// <summary>Calls sent (or, in a dry run, counted) by purpose (<see cref="LlmCallContext.Purpose"/>).</summary>
    public IReadOnlyDictionary<string, PurposeUsage> ByPurpose { get; init; } = new Dictionary<string, PurposeUsage>();

    /// <summary>This usage with one more call of <paramref name="purpose"/> added to <see cref="ByPurpose"/>.</summary>
    public LlmUsage WithPurpose(string purpose, long prompt, long cachedPrompt, long completion, decimal cost)
    {
        var byPurpose = new Dictionary<string, PurposeUsage>(ByPurpose);
        var p = byPurpose.GetValueOrDefault(purpose) ?? new PurposeUsage(0, 0, 0, 0, 0m);
        byPurpose[purpose] = new PurposeUsage(p.Calls + 1, p.PromptTokens + prompt, p.CachedPromptTokens + cachedPrompt, p.CompletionTokens + completion, p.Cost + cost);
        return this with { ByPurpose = byPurpose };
    }
}

/// <summary>The calls of one purpose: how many, their tokens (cached prompt tokens among the prompt ones) and cost.</summary>
public sealed record PurposeUsage(int Calls, long PromptTokens, long CachedPromptTokens, long CompletionTokens, decimal Cost);
