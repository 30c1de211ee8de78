namespace NeuronExplainer.Models.Hub;

/// <summary>
/// Where the Hugging Face hub is and where its files are cached, from the hub's usual environment
/// variables: <c>HF_ENDPOINT</c> (default https://huggingface.co), <c>HF_TOKEN</c> (sent as a bearer token,
/// never printed), <c>HF_HUB_CACHE</c> or <c>HF_HOME</c>/hub (default ~/.cache/huggingface/hub) and
/// <c>HF_HUB_OFFLINE=1</c> (use the cache only).
/// </summary>
public sealed class HubOptions
{
    public const string DefaultEndpoint = "https://huggingface.co";

    public required string Endpoint { get; init; }

    /// <summary>Access token for private or gated repositories. Deliberately left out of <see cref="ToString"/>.</summary>
    public string? Token { get; init; }

    /// <summary>The hub cache folder; the layout inside is described on <see cref="HubCache"/>.</summary>
    public required string CacheDirectory { get; init; }

    public bool Offline { get; init; }

    /// <summary>Attempts per file when a response is cut off; each resumes where the last one stopped.</summary>
    public int MaxAttempts { get; init; } = 5;

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A download that receives nothing for this long is cut off and resumed.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public static HubOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    internal static HubOptions FromEnvironment(Func<string, string?> variable)
    {
        string? Env(string name) => variable(name) is { Length: > 0 } value ? value : null;
        string home = Env("HF_HOME") ?? Path.Combine(
            Env("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "huggingface");
        return new HubOptions
        {
            Endpoint = (Env("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            Token = Env("HF_TOKEN"),
            CacheDirectory = Env("HF_HUB_CACHE") ?? Path.Combine(home, "hub"),
            Offline = Env("HF_HUB_OFFLINE") is { } offline && offline.ToLowerInvariant() is "1" or "true" or "yes" or "on",
        };
    }

    public override string ToString() =>
        $"endpoint {Endpoint}, cache {CacheDirectory}{(Token is null ? "" : ", with HF_TOKEN")}{(Offline ? ", offline" : "")}";
}
