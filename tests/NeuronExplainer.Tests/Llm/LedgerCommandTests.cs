using NeuronExplainer.Activations;
using NeuronExplainer.Cli;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Llm;

public sealed class LedgerCommandTests : IDisposable
{
    private static readonly DateTimeOffset At = new(2026, 11, 21, 9, 0, 0, TimeSpan.Zero);
    private readonly string _runDirectory = Path.Combine(Path.GetTempPath(), $"ledger-{Guid.NewGuid():N}");

    private static readonly LedgerEntry[] Entries =
    [
        new(new NeuronId(0, 1), "gpt-4o-mini", "explain", 1000, 50, 0.00018m, false, At),
        new(new NeuronId(0, 1), "gpt-4o-mini", "simulate", 800, 60, 0.000156m, false, At),
        new(new NeuronId(0, 1), "gpt-4o-mini", "simulate", 800, 60, 0m, true, At) { CachedPromptTokens = 512 },
        new(new NeuronId(3, 9), "gpt-4o", "explain", 2000, 100, 0.006m, false, At) { CachedPromptTokens = 1536 },
    ];

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_runDirectory)) Directory.Delete(_runDirectory, recursive: true);
    }

    [Fact]
    public void TotalsCountSentTokensOnceAndCachedCallsApart()
    {
        var byModel = LedgerTotals.Summarize(Entries, "model");
        Assert.Equal(
            [new LedgerTotals("gpt-4o", 1, 0, 2000, 100, 0.006m) { CachedPromptTokens = 1536 }, new LedgerTotals("gpt-4o-mini", 2, 1, 1800, 110, 0.000336m)],
            byModel);
        Assert.Equal(["layer 3", "layer 0"], LedgerTotals.Summarize(Entries, "layer").Select(t => t.Group));
        Assert.Contains("expected one of model, purpose, layer, neuron",
            Assert.Throws<NeuronExplainerException>(() => LedgerTotals.Summarize(Entries, "colour")).Message);
    }

    [Fact]
    public void PrintsTheRunTotalAndTheMostExpensiveGroups()
    {
        using (var store = SqliteNeuronStore.Open(_runDirectory))
            foreach (var entry in Entries) store.AddLedgerEntry(entry);
        var stdout = new StringWriter();

        int code = CliApp.Run(["ledger", "--store", _runDirectory, "--by", "neuron", "--top", "1"], stdout, new StringWriter());

        Assert.Equal(0, code);
        var lines = stdout.ToString().TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.EndsWith("3 call(s) sent, 1 answered from cache; 3,800 prompt (1,536 of them from the provider's prompt cache) + 210 completion tokens; $0.0063", lines[0]);
        Assert.Matches(@"^neuron\s+sent\s+cached\s+prompt tokens\s+prompt-cached\s+completion tokens\s+cost \$$", lines[1]);
        Assert.Matches(@"^3/9\s+1\s+0\s+2,000\s+1,536\s+100\s+0\.006$", lines[2]);
        Assert.Equal("... and 1 more (--top)", lines[3]);
    }

    [Fact]
    public void AnEmptyLedgerSaysSoAndAMissingStoreIsOneError()
    {
        using (SqliteNeuronStore.Open(_runDirectory)) { }
        var stdout = new StringWriter();
        Assert.Equal(0, CliApp.Run(["ledger", "--store", _runDirectory], stdout, new StringWriter()));
        Assert.Contains("0 call(s) sent, 0 answered from cache", stdout.ToString());

        var stderr = new StringWriter();
        Assert.Equal(CliApp.Failure, CliApp.Run(["ledger", "--store", _runDirectory + "-missing"], new StringWriter(), stderr));
        Assert.StartsWith("error: no store in", stderr.ToString());
    }
}
