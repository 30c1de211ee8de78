using System.Text.Json;
using Microsoft.Data.Sqlite;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;
using NeuronExplainer.Explanations;
using NeuronExplainer.Llm;

namespace NeuronExplainer.Tests.Storage;

public class SqliteNeuronStoreTests : IDisposable
{
    readonly TempDirectory temp = new();
    string Run => temp.Sub("run");

    public void Dispose() => temp.Dispose();

    static string Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) => JsonSerializer.Serialize(value, info);

    static SqliteConnection Raw(string path)
    {
        SQLitePCL.Batteries_V2.Init();
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    static void Sql(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    [Fact]
    public void Everything_put_comes_back_after_reopening()
    {
        var id = new NeuronId(2, 7);
        var record = StoreFixtures.Record(2, 7);
        var manifest = new RunManifest("stories260K.bin", "tinystories.txt", new Dictionary<string, string> { ["seq_len"] = "64", ["top_k"] = "20" },
            "0.1.0", new DateTimeOffset(2026, 11, 21, 8, 30, 0, TimeSpan.FromHours(1)));
        var result = StoreFixtures.Done(id, "baseline", "words about cats", "the letter q");
        var cache = new LlmCacheEntry("sha256:abc", "gpt-4o-mini", "{\"prompt\":1}", "{\"text\":\"x\"}", manifest.CreatedAt);
        var ledger = new LedgerEntry(id, "gpt-4o-mini", "explain", 120, 30, 0.000123m, false, manifest.CreatedAt);

        using (var store = SqliteNeuronStore.Open(Run))
        {
            Assert.Null(store.GetManifest());
            store.PutManifest(manifest);
            store.PutNeuronRecords([record, StoreFixtures.Record(0, 1)]);
            store.PutActivationBasedTokens(id, StoreFixtures.ActivationTokens());
            store.PutWeightBasedTokens(id, StoreFixtures.WeightTokens());
            store.PutConnections(id, StoreFixtures.Connections(2));
            store.PutCheckpoint("collect", [1, 2, 3]);
            store.PutExplanationResult(result);
            store.PutCachedResponse(cache);
            store.AddLedgerEntry(ledger);
            store.AddLedgerEntry(ledger with { Neuron = null, FromCache = true, Cost = 0 });
        }

        using (var store = SqliteNeuronStore.OpenExisting(Run))
        {
            var m = store.GetManifest()!;
            Assert.Equal((manifest.Model, manifest.Corpus, manifest.ToolVersion, manifest.CreatedAt), (m.Model, m.Corpus, m.ToolVersion, m.CreatedAt));
            Assert.Equal(manifest.Settings, m.Settings);
            Assert.Equal(Json(record, DatasetJson.Default.NeuronRecord), Json(store.GetNeuronRecord(id)!, DatasetJson.Default.NeuronRecord));
            Assert.Null(store.GetNeuronRecord(new NeuronId(9, 9)));
            Assert.Equal([new NeuronId(0, 1), id], store.ListNeurons());
            Assert.Equal([id], store.ListNeurons(2));
            Assert.Equal([0, 2], store.ListLayers());
            Assert.Equal(Json(StoreFixtures.ActivationTokens(), DatasetJson.Default.TokenLookupTableSummaryOfNeuron),
                Json(store.GetActivationBasedTokens(id)!, DatasetJson.Default.TokenLookupTableSummaryOfNeuron));
            Assert.Equal(Json(StoreFixtures.WeightTokens(), DatasetJson.Default.WeightBasedSummaryOfNeuron),
                Json(store.GetWeightBasedTokens(id)!, DatasetJson.Default.WeightBasedSummaryOfNeuron));
            Assert.Equal(Json(StoreFixtures.Connections(2), DatasetJson.Default.NeuronConnections),
                Json(store.GetConnections(id)!, DatasetJson.Default.NeuronConnections));
            Assert.Equal([1, 2, 3], store.GetCheckpoint("collect"));

            var back = store.GetExplanationResult(id, "baseline", "baseline")!;
            Assert.Equal((result.Neuron, result.Status, result.ChosenIndex, result.UpdatedAt), (back.Neuron, back.Status, back.ChosenIndex, back.UpdatedAt));
            Assert.Equal(Json(result.Results!, DatasetJson.Default.NeuronSimulationResults), Json(back.Results!, DatasetJson.Default.NeuronSimulationResults));
            Assert.Single(store.GetExplanationResults(id));
            Assert.Single(store.ListExplanationResults(2));
            Assert.Empty(store.ListExplanationResults(0));

            var score = Assert.Single(store.ListScores());
            Assert.Equal(new NeuronScore(id, "baseline", "baseline", NeuronStatus.Done, "words about cats",
                result.Results!.ScoredExplanations[0].ScoredSimulation.EvCorrelationScore), score);

            Assert.Equal(cache, store.GetCachedResponse("sha256:abc"));
            Assert.Null(store.GetCachedResponse("other"));
            Assert.Equal([ledger, ledger with { Neuron = null, FromCache = true, Cost = 0 }], store.ListLedger());
        }
    }

    [Fact]
    public void Puts_replace_earlier_values()
    {
        using var store = SqliteNeuronStore.Open(Run);
        var id = new NeuronId(1, 1);
        store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "old words"));
        store.PutExplanationResult(StoreFixtures.Done(id, "baseline", "fresh words"));
        store.PutExplanationResult(new NeuronExplanationResult(id, "gpt", "gpt", NeuronStatus.Failed, "server said no", null, null, DateTimeOffset.UnixEpoch));
        store.PutCheckpoint("collect", [1]);
        store.PutCheckpoint("collect", [2]);

        Assert.Equal(["fresh words"], store.GetExplanationResults(id).Select(r => r.Results?.ScoredExplanations[0].Explanation).OfType<string>());
        Assert.Equal("server said no", store.GetExplanationResult(id, "gpt", "gpt")!.Reason);
        Assert.Empty(store.SearchExplanations("old", 10));
        Assert.Single(store.SearchExplanations("fresh", 10));
        Assert.Equal([2], store.GetCheckpoint("collect"));
        store.DeleteCheckpoint("collect");
        Assert.Null(store.GetCheckpoint("collect"));
        Assert.Equal([null, "fresh words"], store.ListScores().Select(s => s.Explanation).Order());
    }

    [Fact]
    public void Search_ranks_by_relevance_and_highlights_matches()
    {
        using var store = SqliteNeuronStore.Open(Run);
        store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 1), "baseline", "the word \"cat\" and other cats in stories about cats"));
        store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 2), "baseline", "animals such as a cat or a dog, pets, farms, and many other things"));
        store.PutExplanationResult(StoreFixtures.Done(new NeuronId(3, 4), "baseline", "closing parentheses"));

        var hits = store.SearchExplanations("cats", 10);
        Assert.Equal([new NeuronId(0, 1), new NeuronId(0, 2)], hits.Select(h => h.Neuron));
        Assert.Contains($"{SearchHighlight.Open}cats{SearchHighlight.Close}", hits[0].Highlighted);
        Assert.True(hits[0].Rank < hits[1].Rank, "bm25: lower is better");

        Assert.Equal(new NeuronId(3, 4), Assert.Single(store.SearchExplanations("parenth", 10)).Neuron);
        Assert.Single(store.SearchExplanations("cats", 1));
        // FTS5 syntax in user text is taken literally instead of failing.
        Assert.Empty(store.SearchExplanations("\"AND (NEAR* -", 10));
        Assert.Empty(store.SearchExplanations("   ", 10));
    }

    [Fact]
    public void A_failing_batch_leaves_nothing_behind()
    {
        using var store = SqliteNeuronStore.Open(Run);
        var bad = StoreFixtures.Record(1, 5) with { MostPositiveActivationRecords = [new ActivationRecord(["a", "b"], [1.0])] };
        var e = Assert.Throws<NeuronExplainerException>(() => store.PutNeuronRecords([StoreFixtures.Record(1, 4), bad]));
        Assert.Contains("neuron 1/5", e.Message);
        Assert.Contains("2 tokens but 1 activations", e.Message);

        var nan = StoreFixtures.Record(1, 6) with { RandomSample = [new ActivationRecord(["a"], [double.NaN])] };
        Assert.Throws<NeuronExplainerException>(() => store.PutNeuronRecords([StoreFixtures.Record(1, 4), nan]));

        var outOfRange = StoreFixtures.Done(new NeuronId(1, 4), "baseline", "one") with { ChosenIndex = 3 };
        Assert.Contains("chosen index 3", Assert.Throws<NeuronExplainerException>(() => store.PutExplanationResult(outOfRange)).Message);

        Assert.Empty(store.ListNeurons());
        Assert.Null(store.GetNeuronRecord(new NeuronId(1, 4)));
    }

    [Fact]
    public void A_store_of_a_newer_schema_is_refused_naming_both_versions()
    {
        SqliteNeuronStore.Open(Run).Dispose();
        string path = Path.Combine(Run, SqliteNeuronStore.FileName);
        using (var raw = Raw(path)) Sql(raw, "PRAGMA user_version = 99");

        var e = Assert.Throws<NeuronExplainerException>(() => SqliteNeuronStore.Open(Run));
        Assert.Contains(path, e.Message);
        Assert.Contains("version 99", e.Message);
        Assert.Contains($"up to version {StoreSchema.LatestVersion}", e.Message);
    }

    [Fact]
    public void A_new_store_is_at_the_latest_schema_in_wal_mode()
    {
        SqliteNeuronStore.Open(Run).Dispose();
        using var raw = Raw(Path.Combine(Run, SqliteNeuronStore.FileName));
        using var command = raw.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        Assert.Equal((long)StoreSchema.LatestVersion, command.ExecuteScalar());
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", command.ExecuteScalar());
    }

    [Fact]
    public void A_version_1_store_is_migrated_in_order_and_keeps_its_data()
    {
        Directory.CreateDirectory(Run);
        string path = Path.Combine(Run, SqliteNeuronStore.FileName);
        using (var raw = Raw(path))
        {
            Sql(raw, StoreSchema.Migrations[0]);
            Sql(raw, $"PRAGMA application_id = {StoreSchema.ApplicationId}; PRAGMA user_version = 1");
            Sql(raw, "INSERT INTO neurons (layer, neuron) VALUES (4, 2)");
            Sql(raw, "INSERT INTO checkpoints (stage, state, updated_at) VALUES ('collect', x'0102', '2026-11-21T09:00:00.0000000+00:00')");
        }
        using (var store = SqliteNeuronStore.Open(Run))
        {
            Assert.Equal([new NeuronId(4, 2)], store.ListNeurons());
            Assert.Equal([1, 2], store.GetCheckpoint("collect"));
        }
        using var check = Raw(path);
        using var command = check.CreateCommand();
        command.CommandText = "SELECT count(*) FROM sqlite_master WHERE name = 'explanation_results_listing'";
        Assert.Equal(1L, command.ExecuteScalar());
        command.CommandText = "PRAGMA user_version";
        Assert.Equal((long)StoreSchema.LatestVersion, command.ExecuteScalar());
    }

    [Fact]
    public void Layer_listing_reads_only_the_covering_index()
    {
        using (var store = SqliteNeuronStore.Open(Run)) store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 1), "baseline", "x"));
        using var raw = Raw(Path.Combine(Run, SqliteNeuronStore.FileName));
        using var command = raw.CreateCommand();
        command.CommandText = """
            EXPLAIN QUERY PLAN SELECT layer, neuron, explainer, simulator, status, chosen_explanation, score
            FROM explanation_results WHERE layer = 0 ORDER BY layer, neuron, id
            """;
        using var reader = command.ExecuteReader();
        var plan = new List<string>();
        while (reader.Read()) plan.Add(reader.GetString(3));
        Assert.Contains(plan, step => step.Contains("USING COVERING INDEX explanation_results_listing"));
        Assert.DoesNotContain(plan, step => step.Contains("TEMP B-TREE"));
    }

    [Fact]
    public void A_file_that_is_not_sqlite_is_refused()
    {
        Directory.CreateDirectory(Run);
        string path = Path.Combine(Run, SqliteNeuronStore.FileName);
        File.WriteAllText(path, string.Concat(Enumerable.Repeat("this is not a database, just some text. ", 50)));

        var e = Assert.Throws<NeuronExplainerException>(() => SqliteNeuronStore.Open(Run));
        Assert.Equal($"{path} is not a SQLite database; expected a neuron-explainer store", e.Message);
    }

    [Fact]
    public void Another_programs_sqlite_file_is_refused()
    {
        Directory.CreateDirectory(Run);
        string path = Path.Combine(Run, SqliteNeuronStore.FileName);
        using (var raw = Raw(path)) Sql(raw, "CREATE TABLE contacts (name TEXT)");
        Assert.Contains("not a neuron-explainer store", Assert.Throws<NeuronExplainerException>(() => SqliteNeuronStore.Open(Run)).Message);
    }

    [Fact]
    public void Missing_store_and_file_in_place_of_directory_give_clear_errors()
    {
        Assert.Contains("store.db not found", Assert.Throws<NeuronExplainerException>(() => SqliteNeuronStore.OpenExisting(Run)).Message);
        File.WriteAllText(temp.Sub("file"), "x");
        Assert.Contains("is a file; expected a run directory", Assert.Throws<NeuronExplainerException>(() => SqliteNeuronStore.Open(temp.Sub("file"))).Message);
    }

    [Fact]
    public void Two_stores_on_one_file_write_concurrently()
    {
        using var first = SqliteNeuronStore.Open(Run);
        using var second = SqliteNeuronStore.Open(Run);
        Parallel.For(0, 80, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var store = i % 2 == 0 ? first : second;
            store.PutNeuronRecords([StoreFixtures.Record(i % 4, i)]);
            store.AddLedgerEntry(new LedgerEntry(new NeuronId(i % 4, i), "m", "explain", i, 1, 0.01m, false, DateTimeOffset.UnixEpoch));
        });
        Assert.Equal(80, first.ListNeurons().Count);
        Assert.Equal(80, second.ListLedger().Count);
        Assert.Equal(Enumerable.Range(0, 80).Sum(), first.ListLedger().Sum(e => e.PromptTokens));
    }

    [Fact]
    public void A_store_locked_past_the_busy_timeout_gives_a_clear_error_and_loses_nothing()
    {
        using var store = SqliteNeuronStore.Open(Run, TimeSpan.FromMilliseconds(200));
        store.PutCheckpoint("collect", [1]);
        using (var raw = Raw(Path.Combine(Run, SqliteNeuronStore.FileName)))
        {
            Sql(raw, "BEGIN IMMEDIATE");
            var e = Assert.Throws<NeuronExplainerException>(() => store.PutCheckpoint("collect", [2]));
            Assert.Contains("is locked by another process", e.Message);
            Assert.Contains(SqliteNeuronStore.FileName, e.Message);
            // Readers are not blocked by a writer in WAL mode.
            Assert.Equal([1], store.GetCheckpoint("collect"));
            Sql(raw, "ROLLBACK");
        }
        store.PutCheckpoint("collect", [3]);
        Assert.Equal([3], store.GetCheckpoint("collect"));
    }
}
