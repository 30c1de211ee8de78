using NeuronExplainer.Activations;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Explanations;
using NeuronExplainer.Tests.Storage;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Cli;

/// <summary>Commands given a store location of either backend: <c>status</c>, <c>ledger</c>, <c>show</c>, <c>explain</c>.</summary>
public sealed class StoreLocationCommandTests : IDisposable
{
    readonly TempDirectory temp = new();
    readonly TempPostgresSchema schema = new();

    public void Dispose()
    {
        schema.Dispose();
        temp.Dispose();
    }

    string Location(string backend) => backend == "sqlite" ? temp.Sub("run") : schema.Url;

    /// <summary>Three neurons: one done, one failed, one not started; two claims held by a live worker, one lapsed; two paid calls now.</summary>
    void Fill(string location)
    {
        using var store = NeuronStores.Open(location);
        store.PutNeuronRecords([StoreFixtures.Record(0, 0), StoreFixtures.Record(0, 1), StoreFixtures.Record(0, 2)]);
        store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 0), "baseline", "words about cats") with { UpdatedAt = DateTimeOffset.UtcNow });
        store.PutExplanationResult(new NeuronExplanationResult(new NeuronId(0, 1), "baseline", "baseline", NeuronStatus.Failed, "no", null, null, DateTimeOffset.UtcNow));
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(2, store.TryClaimBatch([new NeuronId(0, 1), new NeuronId(0, 2)], "baseline", "baseline", "node7:4242:run", now.AddMinutes(2), now).Count);
        Assert.True(store.TryClaim(new WorkClaim(new NeuronId(0, 0), "gpt", "gpt", "node8:99:run", now.AddMinutes(-1)), now.AddMinutes(-3)));
        store.AddLedgerEntry(new LedgerEntry(new NeuronId(0, 0), "gpt-4o-mini", "explain", 100, 10, 0.25m, false, now));
        store.AddLedgerEntry(new LedgerEntry(new NeuronId(0, 0), "gpt-4o-mini", "simulate", 100, 10, 0.5m, false, now));
        Assert.NotNull(store.TryReserveBudget(0.125m, 10m, now.AddMinutes(5), now));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public void Status_shows_the_workers_the_progress_per_pair_the_pace_and_the_spend_against_the_budget(string backend)
    {
        Fill(Location(backend));
        var (code, output, error) = Run("status", "--store", Location(backend), "--minutes", "10");
        Assert.True(code == 0, error);
        Assert.Contains("3 neurons", output);
        Assert.Contains("workers alive (holding claims): 1, claims held: 2, claims lapsed (killed workers', taken over by the next claim): 1", output);
        Assert.Contains("  node7:4242:run: 2 claim(s), lease until ", output);
        Assert.Contains("baseline / baseline: done 1, failed 1, explained not scored (or no activations) 0, not started 1; ETA ", output);
        Assert.Contains("last 10 min: 2 results written (0.2/min), 2 paid LLM calls (0.2/min) costing $0.75", output);
        Assert.Contains("LLM spend $0.75 of the $10 budget (7.5%), $0.125 reserved by calls in flight", output);
    }

    [Fact]
    public void Ledger_show_and_explain_take_a_postgresql_url()
    {
        using (var store = NeuronStores.Open(schema.Url))
        {
            store.PutNeuronRecords([.. Enumerable.Range(0, 3).Select(n => SyntheticNeurons.Make(new NeuronId(0, n), (t, i) => t[i] == SyntheticNeurons.Words[n] ? 4 : 0, seed: n))]);
            store.AddLedgerEntry(new LedgerEntry(new NeuronId(0, 0), "gpt-4o-mini", "explain", 100, 10, 0.25m, false, DateTimeOffset.UtcNow));
        }
        var ledger = Run("ledger", "--store", schema.Url, "--by", "purpose");
        Assert.True(ledger.Code == 0, ledger.Err);
        Assert.Contains($"LLM ledger of {schema.Url}: 1 call(s) sent", ledger.Out);
        var show = Run("show", "--store", schema.Url, "--neuron", "0/2", "--records", "1");
        Assert.True(show.Code == 0, show.Err);
        var explain = Run("explain", "--store", schema.Url);
        Assert.True(explain.Code == 0, explain.Err);
        Assert.Contains("Explained 3 neurons, 0 already done", explain.Out);
        var again = Run("explain", "--store", schema.Url);
        Assert.Contains("Explained 0 neurons, 3 already done", again.Out);
    }

    [Fact]
    public void A_refused_login_is_one_error_line_naming_the_url_without_a_password()
    {
        var (code, _, error) = Run("status", "--store", schema.Url.Replace("postgres@", "nobody_here@", StringComparison.Ordinal));
        Assert.Equal(1, code);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: postgresql://nobody_here@", line);
        Assert.Contains("PostgreSQL refused the login", line);
        Assert.DoesNotContain(Environment.GetEnvironmentVariable("PGPASSWORD")!, error);
    }
}
