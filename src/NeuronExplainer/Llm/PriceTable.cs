using System.Text.Json;
using System.Text.Json.Serialization;

namespace NeuronExplainer.Llm;

/// <summary>US dollars per million prompt and completion tokens of one model.</summary>
public sealed record ModelPrice(
    [property: JsonPropertyName("prompt_per_million")] decimal PromptPerMillion,
    [property: JsonPropertyName("completion_per_million")] decimal CompletionPerMillion)
{
    public decimal Cost(long promptTokens, long completionTokens) =>
        (promptTokens * PromptPerMillion + completionTokens * CompletionPerMillion) / 1_000_000m;
}

/// <summary>
/// Prices per model: a few known OpenAI models built in, overridden or extended by a JSON file of the form
/// <c>{"model-name": {"prompt_per_million": 0.15, "completion_per_million": 0.6}}</c>. Servers on this
/// machine are free unless the file prices their model: the built-in OpenAI prices never apply to them, even
/// when a local server serves a model under an OpenAI name. A remote model with no known price is an error,
/// so cost is never silently 0.
/// </summary>
public sealed class PriceTable
{
    /// <summary>List prices (USD per 1M tokens, standard tier) as published by OpenAI.</summary>
    private static readonly Dictionary<string, ModelPrice> Known = new(StringComparer.OrdinalIgnoreCase)
    {
        ["gpt-4o"] = new(2.50m, 10.00m),
        ["gpt-4o-mini"] = new(0.15m, 0.60m),
        ["gpt-4.1"] = new(2.00m, 8.00m),
        ["gpt-4.1-mini"] = new(0.40m, 1.60m),
        ["gpt-4.1-nano"] = new(0.10m, 0.40m),
        ["gpt-4-turbo"] = new(10.00m, 30.00m),
        ["gpt-4"] = new(30.00m, 60.00m),
        ["gpt-3.5-turbo"] = new(0.50m, 1.50m),
        ["gpt-3.5-turbo-instruct"] = new(1.50m, 2.00m),
        ["davinci-002"] = new(2.00m, 2.00m),
        ["babbage-002"] = new(0.40m, 0.40m),
    };

    private readonly Dictionary<string, ModelPrice> _prices;
    private readonly Dictionary<string, ModelPrice> _fromFile;

    private PriceTable(Dictionary<string, ModelPrice> prices, Dictionary<string, ModelPrice> fromFile) => (_prices, _fromFile) = (prices, fromFile);

    /// <summary>The built-in prices only.</summary>
    public static PriceTable Default { get; } = new(Known, []);

    /// <summary>The built-in prices with the file's entries added or replacing them.</summary>
    public static PriceTable Load(string path)
    {
        if (!File.Exists(path)) throw new NeuronExplainerException($"price table {path} does not exist");
        Dictionary<string, ModelPrice>? entries;
        try { entries = JsonSerializer.Deserialize(File.ReadAllBytes(path), LlmJson.Default.DictionaryStringModelPrice); }
        catch (JsonException e)
        {
            throw new NeuronExplainerException(
                $"price table {path}: {e.Message}; expected {{\"model\": {{\"prompt_per_million\": USD, \"completion_per_million\": USD}}}}", e);
        }
        var fromFile = new Dictionary<string, ModelPrice>(StringComparer.OrdinalIgnoreCase);
        foreach (var (model, price) in entries ?? [])
        {
            if (price is null || price.PromptPerMillion < 0 || price.CompletionPerMillion < 0)
                throw new NeuronExplainerException($"price table {path}: model '{model}' needs non-negative prompt_per_million and completion_per_million");
            fromFile[model] = price;
        }
        var prices = new Dictionary<string, ModelPrice>(Known, StringComparer.OrdinalIgnoreCase);
        foreach (var (model, price) in fromFile) prices[model] = price;
        return new PriceTable(prices, fromFile);
    }

    /// <summary>
    /// The model's price on this server. On a local server: the file's price of the model, else 0. Elsewhere: the
    /// table's price (also for dated snapshots such as <c>gpt-4o-mini-2024-07-18</c>), else an error naming the model.
    /// </summary>
    public ModelPrice PriceOf(string model, LlmEndpoint endpoint)
    {
        if (endpoint.IsLocal) return _fromFile.GetValueOrDefault(model) ?? new ModelPrice(0, 0);
        if (_prices.TryGetValue(model, out var price)) return price;
        // OpenRouter-style "openai/gpt-4o" and dated snapshots "gpt-4o-2024-08-06" cost what their base model costs.
        string name = model[(model.LastIndexOf('/') + 1)..];
        var snapshot = _prices.Keys.Where(k => name.Equals(k, StringComparison.OrdinalIgnoreCase) || name.StartsWith(k + "-2", StringComparison.OrdinalIgnoreCase))
            .MaxBy(k => k.Length);
        return snapshot is not null
            ? _prices[snapshot]
            : throw new NeuronExplainerException(
                $"no price known for model '{model}' on {endpoint.BaseUrl}; give a price table (PriceTable.Load) with {{\"{model}\": {{\"prompt_per_million\": USD, \"completion_per_million\": USD}}}} (0 for a free server)");
    }
}
