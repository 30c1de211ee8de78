using System.IO.Compression;
using System.Reflection;
using System.Text.Json.Serialization.Metadata;
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
    public void A_version_2_store_marks_its_shuffled_controls_by_the_new_column()
    {
        Directory.CreateDirectory(Run);
        using (var raw = Raw(Path.Combine(Run, SqliteNeuronStore.FileName)))
        {
            Sql(raw, StoreSchema.Migrations[0]);
            Sql(raw, StoreSchema.Migrations[1]);
            Sql(raw, $"PRAGMA application_id = {StoreSchema.ApplicationId}; PRAGMA user_version = 2");
            // Version 2 knew a control only by its explainer name.
            Sql(raw, """
                INSERT INTO explanation_results (layer, neuron, explainer, simulator, status, updated_at) VALUES
                    (0, 1, 'baseline', 'baseline', 'Done', '2026-11-21T09:00:00.0000000+00:00'),
                    (0, 1, 'shuffled:baseline', 'baseline', 'Done', '2026-11-21T09:00:00.0000000+00:00')
                """);
        }
        using var store = SqliteNeuronStore.Open(Run);
        Assert.Equal([("baseline", ControlKind.None), ("shuffled:baseline", ControlKind.Shuffled)],
            store.GetExplanationResults(new NeuronId(0, 1)).Select(r => (r.Explainer, r.Control)));
        Assert.Equal([ControlKind.None, ControlKind.Shuffled], store.ListScores().Select(s => s.Control));
    }

    [Fact]
    public void A_version_11_store_keys_its_rows_by_unit_kind_as_neurons_and_then_holds_other_kinds_beside_them()
    {
        Directory.CreateDirectory(Run);
        const string at = "2026-11-21T09:00:00.0000000+00:00";
        using (var raw = Raw(Path.Combine(Run, SqliteNeuronStore.FileName)))
        {
            foreach (var migration in StoreSchema.Migrations.Take(11)) Sql(raw, migration);
            Sql(raw, $"PRAGMA application_id = {StoreSchema.ApplicationId}; PRAGMA user_version = 11");
            Sql(raw, $"""
                INSERT INTO neurons (layer, neuron) VALUES (2, 7);
                INSERT INTO explanation_results (id, layer, neuron, explainer, simulator, status, chosen_explanation, score, updated_at)
                    VALUES (5, 2, 7, 'baseline', 'baseline', 'Done', 'words about cats', 0.5, '{at}');
                INSERT INTO explanation_scores (result_id, method, score) VALUES (5, 'simulation-correlation', 0.5);
                INSERT INTO explanation_search (explanation, result_id, layer, neuron) VALUES ('words about cats', 5, 2, 7);
                INSERT INTO score_aggregates VALUES ('baseline', 'baseline', 2, 1, 1, 0, 1, 0, 0.5);
                INSERT INTO score_histogram VALUES ('baseline', 'baseline', 2, 15, 1);
                INSERT INTO ledger (layer, neuron, model, purpose, prompt_tokens, completion_tokens, cost, from_cache, at) VALUES (2, 7, 'm', 'explain', 9, 1, '0', 0, '{at}');
                INSERT INTO work_claims VALUES (2, 7, 'baseline', 'baseline', 'run-a', 9000000000000);
                """);
        }
        var neuron = new NeuronId(2, 7);
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        using var store = SqliteNeuronStore.Open(Run);
        Assert.Equal([neuron], store.ListNeurons());
        var result = Assert.Single(store.GetExplanationResults(neuron));
        Assert.Equal([new MethodScore("simulation-correlation", 0.5, null)], result.Scores);
        Assert.Equal(neuron, Assert.Single(store.SearchExplanations("cats", 10)).Neuron);
        Assert.Equal(("neuron", 1, 0.5), store.ListPairLayerScores().Select(a => (a.Kind, a.Done, a.ScoreSum)).Single());
        Assert.Equal(new MethodLayerScores("baseline", "baseline", 2, "neuron", "simulation-correlation", false, 1, 0, 1, 0, 0.5), Assert.Single(store.ListMethodLayerScores()));
        Assert.Equal(neuron, Assert.Single(store.ListLedger()).Neuron);
        Assert.False(store.TryClaim(new WorkClaim(neuron, "baseline", "baseline", "run-b", now.AddMinutes(1)), now), "the old claim is kept");

        var head = NeuronId.Head(2, 7);
        store.PutExplanationResult(StoreFixtures.Done(head, "baseline", "words about heads"));
        Assert.True(store.TryClaim(new WorkClaim(head, "baseline", "baseline", "run-b", now.AddMinutes(1)), now));
        Assert.Equal([head, neuron], store.ListNeurons());
        Assert.Equal([(head, "words about heads"), (neuron, "words about cats")], store.ListScores().Select(s => (s.Neuron, s.Explanation)));
        Assert.Equal([("head", 1), ("neuron", 1)], store.ListPairLayerScores().Select(a => (a.Kind, a.Done)));
        Assert.Equal(head, Assert.Single(store.SearchExplanations("heads", 10)).Neuron);
    }

    [Fact]
    public void A_version_14_store_renumbers_its_search_rows_by_result_so_rewriting_a_result_replaces_only_its_own()
    {
        Directory.CreateDirectory(Run);
        string file = Path.Combine(Run, SqliteNeuronStore.FileName);
        const string at = "2026-11-21T09:00:00.0000000+00:00";
        using (var raw = Raw(file))
        {
            foreach (var migration in StoreSchema.Migrations.Take(14)) Sql(raw, migration);
            Sql(raw, $"PRAGMA application_id = {StoreSchema.ApplicationId}; PRAGMA user_version = 14");
            Sql(raw, $"""
                INSERT INTO neurons (layer, kind, neuron) VALUES (0, 'neuron', 1), (0, 'neuron', 2);
                INSERT INTO explanation_results (id, layer, kind, neuron, explainer, simulator, status, chosen_explanation, score, updated_at) VALUES
                    (3, 0, 'neuron', 1, 'baseline', 'baseline', 'Done', 'cats', 0.5, '{at}'),
                    (4, 0, 'neuron', 2, 'baseline', 'baseline', 'Done', 'dogs', 0.5, '{at}');
                INSERT INTO explanation_search (explanation, result_id, layer, kind, neuron) VALUES
                    ('cats', 3, 0, 'neuron', 1), ('dogs', 4, 0, 'neuron', 2), ('cats again', 3, 0, 'neuron', 1);
                """);
        }
        using (var store = SqliteNeuronStore.Open(Run))
        {
            Assert.Equal([new NeuronId(0, 1), new NeuronId(0, 1)], store.SearchExplanations("cats", 10).Select(h => h.Neuron));
            store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 1), "baseline", "birds"));
            Assert.Empty(store.SearchExplanations("cats", 10));
            Assert.Equal(new NeuronId(0, 1), Assert.Single(store.SearchExplanations("birds", 10)).Neuron);
            Assert.Equal(new NeuronId(0, 2), Assert.Single(store.SearchExplanations("dogs", 10)).Neuron);
        }
        using var check = Raw(file);
        using var command = check.CreateCommand();
        command.CommandText = "SELECT group_concat(rowid, ' ') FROM (SELECT rowid FROM explanation_search ORDER BY rowid)";
        Assert.Equal($"{3 * 4096} {4 * 4096}", command.ExecuteScalar());
    }

    [Theory]
    [InlineData(true, true, true, CollectionState.Incomplete)]
    [InlineData(true, false, true, CollectionState.Complete)]
    [InlineData(true, false, false, CollectionState.Incomplete)]
    [InlineData(false, false, true, CollectionState.None)]
    public void A_version_3_store_is_complete_when_it_has_records_and_no_pending_collect_checkpoint(bool manifest, bool checkpoint, bool records, CollectionState expected)
    {
        Directory.CreateDirectory(Run);
        using (var raw = Raw(Path.Combine(Run, SqliteNeuronStore.FileName)))
        {
            foreach (var migration in StoreSchema.Migrations.Take(3)) Sql(raw, migration);
            Sql(raw, $"PRAGMA application_id = {StoreSchema.ApplicationId}; PRAGMA user_version = 3");
            if (manifest) Sql(raw, "INSERT INTO manifest (id, model, corpus, tool_version, created_at) VALUES (1, 'm', 'c', '0.1', '2026-11-21T09:00:00.0000000+00:00')");
            if (checkpoint) Sql(raw, "INSERT INTO checkpoints (stage, state, updated_at) VALUES ('collect', x'01', '2026-11-21T09:00:00.0000000+00:00')");
            if (records) Insert(raw, "INSERT INTO neuron_records (layer, neuron, max_activation, record) VALUES (0, 1, 1.0, $blob)",
                LegacyBlob(StoreFixtures.Record(0, 1), DatasetJson.Default.NeuronRecord));
        }
        using var store = SqliteNeuronStore.Open(Run);
        Assert.Equal(expected, store.GetCollectionState());
    }

    [Fact]
    public void A_version_3_store_gains_scores_by_method_and_keeps_its_results_without_them()
    {
        Directory.CreateDirectory(Run);
        using (var raw = Raw(Path.Combine(Run, SqliteNeuronStore.FileName)))
        {
            foreach (var migration in StoreSchema.Migrations.Take(3)) Sql(raw, migration);
            Sql(raw, $"PRAGMA application_id = {StoreSchema.ApplicationId}; PRAGMA user_version = 3");
            Sql(raw, "INSERT INTO explanation_results (layer, neuron, explainer, simulator, status, updated_at) VALUES (0, 1, 'baseline', 'baseline', 'Done', '2026-11-21T09:00:00.0000000+00:00')");
        }
        using var store = SqliteNeuronStore.Open(Run);
        var result = Assert.Single(store.GetExplanationResults(new NeuronId(0, 1)));
        Assert.Empty(result.Scores);
        Assert.Null(result.ChosenBy);
    }

    /// <summary>A document as stores before schema 7 kept it: gzip-compressed JSON.</summary>
    static byte[] LegacyBlob<T>(T value, JsonTypeInfo<T> info)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest)) JsonSerializer.Serialize(gzip, value, info);
        return buffer.ToArray();
    }

    static void Insert(SqliteConnection connection, string sql, byte[] blob)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$blob", blob);
        command.ExecuteNonQuery();
    }

    static object? ScalarOf(string path, string sql)
    {
        using var raw = Raw(path);
        using var command = raw.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    /// <summary>A schema-6 store holding one neuron's every document as gzip JSON, and its result scored on the record's excerpts.</summary>
    string Version6Store(byte[]? damagedConnections = null)
    {
        Directory.CreateDirectory(Run);
        string path = Path.Combine(Run, SqliteNeuronStore.FileName);
        var id = new NeuronId(2, 7);
        using var raw = Raw(path);
        foreach (var migration in StoreSchema.Migrations.Take(6)) Sql(raw, migration);
        Sql(raw, $"PRAGMA application_id = {StoreSchema.ApplicationId}; PRAGMA user_version = 6");
        Sql(raw, "INSERT INTO neurons (layer, neuron) VALUES (2, 7)");
        Insert(raw, "INSERT INTO neuron_records (layer, neuron, max_activation, record) VALUES (2, 7, 1.0, $blob)", LegacyBlob(StoreFixtures.Record(2, 7), DatasetJson.Default.NeuronRecord));
        Insert(raw, "INSERT INTO activation_based_tokens (layer, neuron, summary) VALUES (2, 7, $blob)", LegacyBlob(StoreFixtures.ActivationTokens(), DatasetJson.Default.TokenLookupTableSummaryOfNeuron));
        Insert(raw, "INSERT INTO weight_based_tokens (layer, neuron, summary) VALUES (2, 7, $blob)", LegacyBlob(StoreFixtures.WeightTokens(), DatasetJson.Default.WeightBasedSummaryOfNeuron));
        Insert(raw, "INSERT INTO connections (layer, neuron, connections) VALUES (2, 7, $blob)", damagedConnections ?? LegacyBlob(StoreFixtures.Connections(2), DatasetJson.Default.NeuronConnections));
        Insert(raw, """
            INSERT INTO explanation_results (layer, neuron, explainer, simulator, status, results, chosen_index, chosen_explanation, score, updated_at)
            VALUES (2, 7, 'baseline', 'baseline', 'Done', $blob, 0, 'cats', 0.5, '2026-11-21T09:00:00.0000000+00:00')
            """, LegacyBlob(StoreFixtures.ResultsOnRecord(StoreFixtures.Record(2, 7), "cats"), DatasetJson.Default.NeuronSimulationResults));
        return path;
    }

    [Fact]
    public void A_version_6_store_is_converted_to_compact_documents_that_read_back_the_same()
    {
        string path = Version6Store();
        var id = new NeuronId(2, 7);
        using (var store = SqliteNeuronStore.Open(Run))
        {
            Assert.Equal(Json(StoreFixtures.Record(2, 7), DatasetJson.Default.NeuronRecord), Json(store.GetNeuronRecord(id)!, DatasetJson.Default.NeuronRecord));
            Assert.Equal(Json(StoreFixtures.ActivationTokens(), DatasetJson.Default.TokenLookupTableSummaryOfNeuron), Json(store.GetActivationBasedTokens(id)!, DatasetJson.Default.TokenLookupTableSummaryOfNeuron));
            Assert.Equal(Json(StoreFixtures.WeightTokens(), DatasetJson.Default.WeightBasedSummaryOfNeuron), Json(store.GetWeightBasedTokens(id)!, DatasetJson.Default.WeightBasedSummaryOfNeuron));
            Assert.Equal(Json(StoreFixtures.Connections(2), DatasetJson.Default.NeuronConnections), Json(store.GetConnections(id)!, DatasetJson.Default.NeuronConnections));
            Assert.Equal(Json(StoreFixtures.ResultsOnRecord(StoreFixtures.Record(2, 7), "cats"), DatasetJson.Default.NeuronSimulationResults),
                Json(store.GetExplanationResult(id, "baseline", "baseline")!.Results!, DatasetJson.Default.NeuronSimulationResults));
        }
        Assert.Equal((long)StoreSchema.LatestVersion, ScalarOf(path, "PRAGMA user_version"));
        Assert.Equal(0L, ScalarOf(path, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'legacy_%'"));
        // Not gzip any more (0x1f 0x8b), and the record's 16 excerpts are 16 windows.
        Assert.NotEqual(0x1f, ((byte[])ScalarOf(path, "SELECT record FROM neuron_records")!)[0]);
        Assert.Equal(16L, ScalarOf(path, "SELECT count(*) FROM windows"));
    }

    [Fact]
    public void A_version_6_store_with_a_damaged_document_is_refused_and_left_as_it_was()
    {
        string path = Version6Store(damagedConnections: [0x1f, 0x8b, 1, 2, 3]);
        byte[] before = File.ReadAllBytes(path);
        var e = Assert.Throws<NeuronExplainerException>(() => SqliteNeuronStore.Open(Run).Dispose());
        Assert.Contains("table connections is damaged", e.Message);
        Assert.Contains("left as it was", e.Message);
        Assert.Equal(6L, ScalarOf(path, "PRAGMA user_version"));
        Assert.Equal(1L, ScalarOf(path, "SELECT count(*) FROM neuron_records"));
        Assert.Equal(0L, ScalarOf(path, "SELECT count(*) FROM sqlite_master WHERE name IN ('windows', 'legacy_neuron_records')"));
    }

    [Fact]
    public void Results_scored_on_the_record_refer_to_its_excerpts_and_survive_a_new_record()
    {
        var id = new NeuronId(2, 7);
        var record = StoreFixtures.Record(2, 7);
        var results = StoreFixtures.ResultsOnRecord(record, "cats");
        string path = Path.Combine(Run, SqliteNeuronStore.FileName);
        using (var store = SqliteNeuronStore.Open(Run))
            store.PutExplanationResult(new NeuronExplanationResult(id, "baseline", "baseline", NeuronStatus.Done, null, results, 0, DateTimeOffset.UnixEpoch));
        long inline = (long)ScalarOf(path, "SELECT length(results) FROM explanation_results")!;
        using (var store = SqliteNeuronStore.Open(Run))
        {
            store.PutNeuronRecords([record]);
            store.PutExplanationResult(new NeuronExplanationResult(id, "baseline", "baseline", NeuronStatus.Done, null, results, 0, DateTimeOffset.UnixEpoch));
        }
        long referring = (long)ScalarOf(path, "SELECT length(results) FROM explanation_results")!;
        Assert.True(referring < inline, $"results on the record's excerpts take {referring} bytes, inline {inline}");

        // Another record (an import --force) must not change what the results say.
        using (var store = SqliteNeuronStore.Open(Run))
        {
            store.PutNeuronRecords([StoreFixtures.Record(5, 5) with { NeuronId = id }]);
            Assert.Equal(Json(results, DatasetJson.Default.NeuronSimulationResults),
                Json(store.GetExplanationResult(id, "baseline", "baseline")!.Results!, DatasetJson.Default.NeuronSimulationResults));
        }
    }

    [Fact]
    public void Windows_shared_by_records_are_stored_once()
    {
        var shared = StoreFixtures.Excerpt(42);
        using var store = SqliteNeuronStore.Open(Run);
        store.PutNeuronRecords([.. Enumerable.Range(0, 3).Select(n => StoreFixtures.Record(0, n) with
        {
            RandomSample = [shared with { Activations = [.. shared.Activations.Select(a => a * (n + 1))] }],
            RandomSampleByQuantile = null, QuantileBoundaries = null, MostPositiveActivationRecords = [shared],
        })]);
        Assert.Equal(1L, ScalarOf(Path.Combine(Run, SqliteNeuronStore.FileName), "SELECT count(*) FROM windows"));
        Assert.Equal(shared.Activations.Select(a => a * 3), store.GetNeuronRecord(new NeuronId(0, 2))!.RandomSample[0].Activations);
    }

    static string Json<T>(T value, JsonTypeInfo<T> info) => JsonSerializer.Serialize(value, info);

    [Fact]
    public void Layer_listing_reads_only_the_covering_index()
    {
        using (var store = SqliteNeuronStore.Open(Run)) store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 1), "baseline", "x"));
        using var raw = Raw(Path.Combine(Run, SqliteNeuronStore.FileName));
        using var command = raw.CreateCommand();
        command.CommandText = """
            EXPLAIN QUERY PLAN SELECT layer, kind, neuron, explainer, simulator, status, chosen_explanation, score, control
            FROM explanation_results WHERE layer = 0 ORDER BY layer, kind, neuron, id
            """;
        using var reader = command.ExecuteReader();
        var plan = new List<string>();
        while (reader.Read()) plan.Add(reader.GetString(3));
        Assert.Contains(plan, step => step.Contains("USING COVERING INDEX explanation_results_listing"));
        Assert.DoesNotContain(plan, step => step.Contains("TEMP B-TREE"));
    }

    [Fact]
    public void A_full_disk_is_reported_as_such_and_keeps_what_was_stored()
    {
        using var store = SqliteNeuronStore.Open(Run);
        var first = new NeuronId(0, 1);
        store.PutExplanationResult(StoreFixtures.Done(first, "baseline", "stored before the disk filled"));
        // SQLite's page limit fails writes exactly as a full disk does (SQLITE_FULL), and SQLite then rolls the transaction back itself.
        var connection = (SqliteConnection)typeof(SqliteNeuronStore).GetField("connection", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(store)!;
        void Pragma(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteScalar();
        }
        using (var count = connection.CreateCommand())
        {
            count.CommandText = "PRAGMA page_count";
            Pragma($"PRAGMA max_page_count = {(long)count.ExecuteScalar()!}");
        }
        var big = Enumerable.Range(0, 200).Select(i => $"explanation {i} " + new string('x', 400)).ToArray();
        var e = Assert.Throws<NeuronExplainerException>(() => store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 2), "baseline", big)));
        Assert.Contains("the disk holding the store is full", e.Message);
        Assert.DoesNotContain("rollback", e.Message);
        Assert.Equal([first], store.ListScores().Select(s => s.Neuron));
        Assert.Throws<NeuronExplainerException>(() => store.Batch(() => store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 3), "baseline", big))));
        Pragma("PRAGMA max_page_count = 1000000");
        store.PutCheckpoint("after", [1]);
        Assert.Equal([1], store.GetCheckpoint("after"));
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
