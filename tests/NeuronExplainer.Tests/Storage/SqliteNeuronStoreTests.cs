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

    [Fact]
    public void Layer_listing_reads_only_the_covering_index()
    {
        using (var store = SqliteNeuronStore.Open(Run)) store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 1), "baseline", "x"));
        using var raw = Raw(Path.Combine(Run, SqliteNeuronStore.FileName));
        using var command = raw.CreateCommand();
        command.CommandText = """
            EXPLAIN QUERY PLAN SELECT layer, neuron, explainer, simulator, status, chosen_explanation, score, control
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
