using NeuronExplainer.Activations;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Llm;

/// <summary>The pipeline over the real SQLite store: what one process paid for, the next one reuses.</summary>
public sealed class LlmPipelineStoreTests : IAsyncLifetime
{
    private FakeOpenAiServer _server = null!;
    private readonly string _runDirectory = Path.Combine(Path.GetTempPath(), $"llm-store-{Guid.NewGuid():N}");

    public async Task InitializeAsync() => _server = await FakeOpenAiServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_runDirectory, recursive: true);
    }

    private static ChatRequest Ask(int i) => new("fake-chat", [ChatMessage.User($"question {i}")], MaxTokens: 20, Temperature: 0, TopLogprobs: 3);

    private async Task<LlmUsage> RunAsync(IEnumerable<int> questions, PriceTable prices)
    {
        using var store = SqliteNeuronStore.Open(_runDirectory);
        var endpoint = new LlmEndpoint(_server.BaseUrl);
        using var llm = await LlmPipeline.ConnectAsync(endpoint, ["fake-chat"], new LlmPipelineOptions { Concurrency = 2 }, prices, store);
        await Task.WhenAll(questions.Select(i => llm.ChatAsync(Ask(i), LlmCallContext.Explain(new NeuronId(1, i)))));
        return llm.Usage;
    }

    [Fact]
    public async Task ARestartedRunPaysOnlyForWhatItHadNotAskedYetAndTheLedgerAddsUp()
    {
        string pricePath = Path.Combine(Path.GetTempPath(), $"prices-{Guid.NewGuid():N}.json");
        File.WriteAllText(pricePath, """{"fake-chat": {"prompt_per_million": 0.7, "completion_per_million": 2.1}}""");
        var prices = PriceTable.Load(pricePath);
        File.Delete(pricePath);

        var first = await RunAsync([0, 1, 2], prices);
        // The "stopped" run is reopened by a new process: a new store connection and a new pipeline.
        var second = await RunAsync([0, 1, 2, 3, 4], prices);

        Assert.Equal(5, _server.Count(FakeOpenAiServer.Chat));
        Assert.Equal((3, 0), (first.Calls, first.CachedCalls));
        Assert.Equal((2, 3), (second.Calls, second.CachedCalls));
        using var store = SqliteNeuronStore.OpenExisting(_runDirectory);
        var ledger = store.ListLedger();
        Assert.Equal(8, ledger.Count);
        Assert.Equal(5, ledger.Count(l => !l.FromCache));
        Assert.Equal(first.Cost + second.Cost, ledger.Sum(l => l.Cost));
        Assert.Equal(first.PromptTokens + second.PromptTokens, ledger.Where(l => !l.FromCache).Sum(l => (long)l.PromptTokens));
        Assert.All(ledger.Where(l => l.FromCache), l => Assert.Equal(0m, l.Cost));
        // The cached answer keeps its logprobs across the restart.
        using var llm = new LlmPipeline(new OpenAiCompatibleBackend(new LlmEndpoint(_server.BaseUrl), null), new LlmEndpoint(_server.BaseUrl),
            new LlmPipelineOptions(), prices, store, ownsBackend: true);
        var again = await llm.ChatAsync(Ask(4), LlmCallContext.Explain(new NeuronId(1, 4)));
        Assert.Equal([new TopLogprob("the", -0.05), new TopLogprob("zzz", -3.0)], again.Choices.Single().Logprobs![0].TopLogprobs);
        Assert.Equal(5, _server.Count(FakeOpenAiServer.Chat));
    }
}
