using System.Text.Json;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Storage;
using Xunit.Abstractions;

namespace NeuronExplainer.Tests.Activations;

/// <summary>
/// A collection split into corpus shards (collect --corpus-shard I/N into one store) ends with the records one worker
/// collects over the whole corpus: stories260K over the head of TinyStories.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public sealed class CorpusShardTests(ITestOutputHelper log) : IDisposable
{
    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    static string[] Collect(string store, params string[] more)
    {
        string model = SharedData.Path("models/stories260K/stories260K.bin");
        return ["collect", "--model", model, "--tokenizer", Path.Combine(Path.GetDirectoryName(model)!, "tok512.bin"),
            "--corpus", SharedData.Path("corpora/tinystories-train-head.txt"), "--store", store, "--layers", "0,3", "--max-tokens", "72000",
            "--top-k", "12", "--random", "10", "--batch", "4", .. more];
    }

    /// <summary>A record without its moments, as JSON, and its moments.</summary>
    static (string Json, double?[] Moments) Parts(NeuronRecord record) =>
        (JsonSerializer.Serialize(record with { Mean = null, Variance = null, Skewness = null, Kurtosis = null }, DatasetJson.Default.NeuronRecord),
            [record.Mean, record.Variance, record.Skewness, record.Kurtosis]);

    /// <summary>72,000 tokens are over 1,024 windows, so the maxima sample's slots are drawn again too, not only the pool's and random sample's.</summary>
    [Fact]
    public void Two_shards_merged_by_the_last_to_finish_equal_one_worker_over_the_whole_corpus()
    {
        string one = temp.Sub("one"), sharded = temp.Sub("sharded");
        var single = CliRunner.Run(Collect(one));
        Assert.True(single.Code == 0, single.Err);

        var first = CliRunner.Run(Collect(sharded, "--corpus-shard", "1/2"));
        Assert.True(first.Code == 0, first.Err);
        Assert.Contains("1/2: its state is saved", first.Out);
        using (var store = SqliteNeuronStore.OpenExisting(sharded, StoreAccess.ReadOnly))
        {
            Assert.Equal(CollectionState.Incomplete, store.GetCollectionState());
            Assert.Empty(store.ListNeurons());
        }
        var last = CliRunner.Run(Collect(sharded, "--corpus-shard", "0/2"));
        Assert.True(last.Code == 0, last.Err);
        Assert.Contains("0/2: the last to finish; merged the states of all 2 shards", last.Out);

        using var expected = SqliteNeuronStore.OpenExisting(one, StoreAccess.ReadOnly);
        using var actual = SqliteNeuronStore.OpenExisting(sharded, StoreAccess.ReadOnly);
        Assert.Empty(Directory.EnumerateFiles(sharded, "*checkpoint*"));
        AssertMergedEqualsOneWorker(expected, actual);
    }

    /// <summary>
    /// The shards on a PostgreSQL store, their states in one --checkpoint-dir as machines sharing a file system would
    /// keep them: the merge reads them there and ends with the records of one worker writing to SQLite.
    /// </summary>
    [Fact]
    public void Shards_on_a_postgresql_store_merge_through_a_shared_checkpoint_directory()
    {
        using var schema = new TempPostgresSchema();
        string one = temp.Sub("one"), states = temp.Sub("shared-states");
        var single = CliRunner.Run(Collect(one));
        Assert.True(single.Code == 0, single.Err);

        var first = CliRunner.Run(Collect(schema.Url, "--corpus-shard", "1/2", "--checkpoint-dir", states));
        Assert.True(first.Code == 0, first.Err);
        Assert.Contains("1/2: its state is saved", first.Out);
        Assert.NotEmpty(Directory.EnumerateFiles(states, "*checkpoint*"));
        var last = CliRunner.Run(Collect(schema.Url, "--corpus-shard", "0/2", "--checkpoint-dir", states));
        Assert.True(last.Code == 0, last.Err);
        Assert.Contains("0/2: the last to finish; merged the states of all 2 shards", last.Out);
        Assert.Empty(Directory.EnumerateFiles(states, "*checkpoint*"));

        using var expected = SqliteNeuronStore.OpenExisting(one, StoreAccess.ReadOnly);
        using var actual = PostgresNeuronStore.OpenExisting(schema.Url, StoreAccess.ReadOnly);
        AssertMergedEqualsOneWorker(expected, actual);
    }

    void AssertMergedEqualsOneWorker(INeuronStore expected, INeuronStore actual)
    {
        Assert.Equal(CollectionState.Complete, actual.GetCollectionState());
        Assert.Null(actual.GetCheckpoint("collect-shard-0-of-2"));
        Assert.Null(actual.GetCheckpoint("collect-shard-1-of-2"));
        var units = expected.ListNeurons();
        Assert.Equal(2 * 172, units.Count);
        Assert.Equal(units, actual.ListNeurons());
        var worstMoment = new double[4];
        double worstTable = 0;
        foreach (var unit in units)
        {
            // Top-K, random and quantile samples and their activations are exact: every window ran in the same batch at the
            // same position, and the samples merge exactly.
            var (want, wantMoments) = Parts(expected.GetNeuronRecord(unit)!);
            var (got, gotMoments) = Parts(actual.GetNeuronRecord(unit)!);
            Assert.True(want == got, $"record of {unit} differs");
            // Moments merge by Pébay's formulas from other partial sums: equal up to rounding.
            for (int m = 0; m < 4; m++)
            {
                Assert.Equal(wantMoments[m] is null, gotMoments[m] is null);
                if (wantMoments[m] is double w && gotMoments[m] is double g) worstMoment[m] = Math.Max(worstMoment[m], Math.Abs(w - g) / Math.Max(Math.Abs(w), 1e-3));
            }
            var (wantTable, gotTable) = (expected.GetActivationBasedTokens(unit)!, actual.GetActivationBasedTokens(unit)!);
            Assert.Equal(wantTable.Counts, gotTable.Counts);
            foreach (var (w, g) in wantTable.AverageActivations.Zip(gotTable.AverageActivations)) worstTable = Math.Max(worstTable, Math.Abs(w - g) / Math.Max(Math.Abs(w), 1e-3));
            Assert.Equal(JsonSerializer.Serialize(expected.GetWeightBasedTokens(unit)!, DatasetJson.Default.WeightBasedSummaryOfNeuron),
                JsonSerializer.Serialize(actual.GetWeightBasedTokens(unit)!, DatasetJson.Default.WeightBasedSummaryOfNeuron));
        }
        // Relative to the value (at least 1e-3): float32 batch sums taken around other running means, and token sums added
        // in another order, round differently; 1e-4 is far above what that gives and far below any real difference.
        string measured = $"mean {worstMoment[0]:E2}, variance {worstMoment[1]:E2}, skewness {worstMoment[2]:E2}, kurtosis {worstMoment[3]:E2}, token table means {worstTable:E2}";
        log.WriteLine($"largest relative differences: {measured}");
        Assert.True(worstMoment.Max() < 1e-4 && worstTable < 1e-4, measured);
    }
}

/// <summary>The spelling and checks of a corpus shard.</summary>
public sealed class CorpusShardSettingsTests
{
    [Fact]
    public void A_shard_is_I_of_N_and_runs_every_Nth_batch_from_I()
    {
        Assert.Equal(new CorpusShard(1, 4), CorpusShard.TryParse("1/4"));
        foreach (var bad in new[] { "1", "a/4", "1/4/2", "-1/4", " 1/4" }) Assert.Null(CorpusShard.TryParse(bad));
        Assert.Equal([1L, 5, 9], Enumerable.Range(0, 12).Select(b => (long)b).Where(new CorpusShard(1, 4).Runs));
        Assert.Equal("collect-shard-1-of-4", new CorpusShard(1, 4).Stage("collect"));
        foreach (var bad in new[] { new CorpusShard(4, 4), new CorpusShard(0, 0) })
        {
            var e = Assert.Throws<SettingException>(() => new CollectionSettings { CorpusShard = bad }.Validate(new FakeModel().Info));
            Assert.Equal("CollectionSettings.CorpusShard", e.Setting);
        }
    }

    [Fact]
    public void A_bad_shard_on_the_command_line_names_the_flag()
    {
        var run = CliRunner.Run("collect", "--model", "m", "--corpus", "c", "--store", "s", "--corpus-shard", "2of4");
        Assert.NotEqual(0, run.Code);
        Assert.Contains("--corpus-shard '2of4' is not I/N", run.Err);
    }
}
