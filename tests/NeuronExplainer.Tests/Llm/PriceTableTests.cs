using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Llm;

public sealed class PriceTableTests
{
    private static readonly LlmEndpoint OpenAi = new(LlmEndpoint.OpenAiBaseUrl);
    private static readonly LlmEndpoint Local = new(new Uri("http://localhost:8000/v1"));

    private static PriceTable LoadText(string json)
    {
        string path = Path.Combine(Path.GetTempPath(), $"prices-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try { return PriceTable.Load(path); }
        finally { File.Delete(path); }
    }

    [Fact]
    public void KnownModelsSnapshotsAndRoutedNamesHaveTheirPrice()
    {
        Assert.Equal(new ModelPrice(0.15m, 0.60m, 0.075m), PriceTable.Default.PriceOf("gpt-4o-mini", OpenAi));
        Assert.Equal(new ModelPrice(0.15m, 0.60m, 0.075m), PriceTable.Default.PriceOf("gpt-4o-mini-2024-07-18", OpenAi));
        Assert.Equal(new ModelPrice(2.50m, 10.00m, 1.25m), PriceTable.Default.PriceOf("openai/gpt-4o", OpenAi));
        Assert.Equal(0.15m + 0.60m * 2, new ModelPrice(0.15m, 0.60m).Cost(1_000_000, 2_000_000));
    }

    [Fact]
    public void Cached_prompt_tokens_cost_the_cached_rate_or_the_full_one_when_the_model_has_none()
    {
        // 1M prompt tokens of which 600k cached, 100k completion tokens.
        Assert.Equal((0.4m * 0.15m) + (0.6m * 0.075m) + (0.1m * 0.60m), PriceTable.Default.PriceOf("gpt-4o-mini", OpenAi).Cost(1_000_000, 100_000, 600_000));
        Assert.Equal(0.15m + 0.1m * 0.60m, new ModelPrice(0.15m, 0.60m).Cost(1_000_000, 100_000, 600_000));
        Assert.Equal(new ModelPrice(1m, 2m, 0.25m),
            LoadText("""{"m": {"prompt_per_million": 1, "completion_per_million": 2, "cached_prompt_per_million": 0.25}}""").PriceOf("m", Local));
    }

    [Fact]
    public void LocalServersAreFreeUnlessTheFilePricesTheirModel()
    {
        Assert.Equal(new ModelPrice(0, 0), PriceTable.Default.PriceOf("llama-3-8b", Local));
        // A local server (a fake, a proxy, a fine-tune) serving a model under an OpenAI name is not charged OpenAI's price.
        Assert.Equal(new ModelPrice(0, 0), PriceTable.Default.PriceOf("gpt-4o-mini", Local));
        Assert.Equal(new ModelPrice(0, 0), PriceTable.Default.PriceOf("gpt-4o-mini", new LlmEndpoint(new Uri("http://127.0.0.1:9000/v1"))));
        Assert.Equal(new ModelPrice(1m, 2m), LoadText("""{"gpt-4o-mini": {"prompt_per_million": 1, "completion_per_million": 2}}""").PriceOf("gpt-4o-mini", Local));
        Assert.Equal(new ModelPrice(0.5m, 1m), LoadText("""{"llama-3-8b": {"prompt_per_million": 0.5, "completion_per_million": 1}}""").PriceOf("llama-3-8b", Local));
    }

    [Fact]
    public void AFileAddsAndOverridesPrices()
    {
        var table = LoadText("""{"my-model": {"prompt_per_million": 3, "completion_per_million": 4}, "gpt-4o": {"prompt_per_million": 1, "completion_per_million": 1}}""");
        Assert.Equal(new ModelPrice(3m, 4m), table.PriceOf("my-model", OpenAi));
        Assert.Equal(new ModelPrice(1m, 1m), table.PriceOf("gpt-4o", OpenAi));
        Assert.Equal(new ModelPrice(0.15m, 0.60m, 0.075m), table.PriceOf("gpt-4o-mini", OpenAi));
    }

    [Theory]
    [InlineData("""{"m": {"prompt_per_million": -1, "completion_per_million": 1}}""", "model 'm' needs non-negative")]
    [InlineData("""{"m": {"prompt_per_million": "cheap"}}""", "expected {\"model\"")]
    [InlineData("""[1, 2]""", "expected {\"model\"")]
    [InlineData("""{"m": null}""", "model 'm' needs non-negative")]
    public void ABadFileIsOneClearError(string json, string expected)
    {
        var e = Assert.Throws<NeuronExplainerException>(() => LoadText(json));
        Assert.Contains("price table", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void AMissingFileOrUnknownRemoteModelIsOneClearError()
    {
        Assert.Contains("does not exist", Assert.Throws<NeuronExplainerException>(() => PriceTable.Load("/nonexistent/prices.json")).Message);
        Assert.Contains("no price known for model 'claude-x'", Assert.Throws<NeuronExplainerException>(() => PriceTable.Default.PriceOf("claude-x", OpenAi)).Message);
    }
}
