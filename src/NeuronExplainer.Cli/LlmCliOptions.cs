using System.CommandLine;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli;

/// <summary>
/// The LLM server and spending options shared by every command that calls an LLM (explain, score, run,
/// check-llm): add them with <see cref="AddTo"/>, read them back with <see cref="ConnectAsync"/> or the
/// individual getters. Create one instance per command.
/// </summary>
public sealed class LlmCliOptions
{
    public Option<string> BaseUrl { get; } = new("--base-url")
    {
        Description = "Base URL of the OpenAI-compatible API, with its version path (vLLM: http://localhost:8000/v1, Ollama: http://localhost:11434/v1)",
        DefaultValueFactory = _ => LlmEndpoint.OpenAiBaseUrl.ToString(),
    };

    public Option<string> ApiKeyEnv { get; } = new("--api-key-env")
    {
        Description = "Name of the environment variable that holds the API key (servers on localhost may need none)",
        DefaultValueFactory = _ => LlmEndpoint.DefaultApiKeyEnv,
    };

    public Option<decimal?> MaxCost { get; } = new("--max-cost")
    {
        Description = "Stop before LLM calls of this run could cost more than this many US dollars (cached answers are free)",
    };

    public Option<int> Concurrency { get; } = new("--concurrency")
    {
        Description = "LLM calls in flight at once",
        DefaultValueFactory = _ => 4,
    };

    public Option<bool> DryRun { get; } = new("--dry-run")
    {
        Description = "Count the LLM calls that are not cached and estimate their tokens and cost, without sending any",
    };

    public Option<FileInfo?> Prices { get; } = new("--prices")
    {
        Description = "JSON price table {\"model\": {\"prompt_per_million\": USD, \"completion_per_million\": USD}} adding to or replacing the built-in prices",
    };

    public LlmCliOptions()
    {
        BaseUrl.Validators.Add(result =>
        {
            string text = result.GetValueOrDefault<string>();
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                result.AddError($"--base-url '{text}' is not an http(s) URL such as http://localhost:8000/v1");
        });
        ApiKeyEnv.Validators.Add(result =>
        {
            if (string.IsNullOrWhiteSpace(result.GetValueOrDefault<string>())) result.AddError("--api-key-env needs an environment variable name");
        });
        MaxCost.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<decimal?>() is < 0) result.AddError("--max-cost must not be negative");
        });
        Concurrency.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1) result.AddError("--concurrency must be at least 1");
        });
    }

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { BaseUrl, ApiKeyEnv, MaxCost, Concurrency, DryRun, Prices }) command.Options.Add(option);
    }

    public LlmEndpoint Endpoint(ParseResult parse) => new(new Uri(parse.GetValue(BaseUrl)!), parse.GetValue(ApiKeyEnv)!);

    public LlmPipelineOptions PipelineOptions(ParseResult parse) => new()
    {
        MaxCost = parse.GetValue(MaxCost),
        Concurrency = parse.GetValue(Concurrency),
        DryRun = parse.GetValue(DryRun),
    };

    public PriceTable PriceTable(ParseResult parse) =>
        parse.GetValue(Prices) is { } file ? Llm.PriceTable.Load(file.FullName) : Llm.PriceTable.Default;

    /// <summary>Checks key, server, models and prices (all before any work) and returns the run's pipeline.</summary>
    public Task<LlmPipeline> ConnectAsync(ParseResult parse, IReadOnlyCollection<string> models, INeuronStore store, CancellationToken cancellationToken) =>
        LlmPipeline.ConnectAsync(Endpoint(parse), models, PipelineOptions(parse), PriceTable(parse), store, cancellationToken);

    /// <summary>One line for a command's summary: calls, tokens and cost (marked as an estimate in a dry run).</summary>
    public static string Summary(LlmUsage usage, bool dryRun) => dryRun
        ? $"dry run: {usage.Calls} LLM call(s) would be sent ({usage.CachedCalls} answered from cache); about {usage.PromptTokens:N0} prompt "
          + $"+ up to {usage.CompletionTokens:N0} completion tokens; estimated cost ${usage.Cost:0.####}"
        : $"LLM: {usage.Calls} call(s) sent, {usage.CachedCalls} from cache, {usage.FailedCalls} failed; "
          + $"{usage.PromptTokens:N0} prompt + {usage.CompletionTokens:N0} completion tokens; cost ${usage.Cost:0.####}";
}
