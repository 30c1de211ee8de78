using Npgsql;
using NeuronExplainer.Activations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Storage;

/// <summary>What only the PostgreSQL store has: its URL, its schema version table, and a server that fails or goes away.</summary>
public sealed class PostgresNeuronStoreTests : IDisposable
{
    readonly TempPostgresSchema schema = new();

    public void Dispose() => schema.Dispose();

    /// <summary>The test server's URL with another port, user or schema.</summary>
    static string With(string url, int? port = null, string? user = null)
    {
        var uri = new UriBuilder(url);
        if (port is int p) uri.Port = p;
        if (user is not null) uri.UserName = user;
        return uri.Uri.ToString();
    }

    [Fact]
    public void Every_sqlite_migration_has_its_postgresql_counterpart()
    {
        Assert.Equal(StoreSchema.Migrations.Length, PostgresSchema.Migrations.Length);
        using (PostgresNeuronStore.Open(schema.Url)) { }
        Assert.Equal(StoreSchema.LatestVersion, TestPostgres.Scalar<int>($"SELECT version FROM {schema.Schema}.store_schema"));
    }

    [Fact]
    public void A_store_of_a_newer_schema_is_refused_naming_both_versions_and_left_as_it_was()
    {
        using (var store = PostgresNeuronStore.Open(schema.Url)) store.PutNeuronRecords([StoreFixtures.Record(0, 1)]);
        TestPostgres.Sql($"UPDATE {schema.Schema}.store_schema SET version = 99");
        var e = Assert.Throws<NeuronExplainerException>(() => PostgresNeuronStore.Open(schema.Url));
        Assert.Equal($"{schema.Url} was written with store schema version 99, but this neuron-explainer reads up to version {StoreSchema.LatestVersion}; use a newer neuron-explainer",
            e.Message);
        Assert.Throws<NeuronExplainerException>(() => PostgresNeuronStore.OpenExisting(schema.Url, StoreAccess.ReadOnly));
        Assert.Equal(99, TestPostgres.Scalar<int>($"SELECT version FROM {schema.Schema}.store_schema"));
        Assert.Equal(1L, TestPostgres.Scalar<long>($"SELECT count(*) FROM {schema.Schema}.neuron_records"));
    }

    [Fact]
    public void A_schema_with_other_tables_is_not_taken_for_a_store()
    {
        TestPostgres.Sql($"CREATE SCHEMA {schema.Schema}; CREATE TABLE {schema.Schema}.orders (id INTEGER)");
        var e = Assert.Throws<NeuronExplainerException>(() => PostgresNeuronStore.Open(schema.Url));
        Assert.Contains("not a neuron-explainer store", e.Message);
    }

    [Fact]
    public void An_unreachable_server_is_one_line_naming_the_location()
    {
        string url = With(schema.Url, port: 1);
        var e = Assert.Throws<NeuronExplainerException>(() => NeuronStores.Open(url));
        Assert.StartsWith($"{url}: cannot reach the PostgreSQL server", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_wrong_password_is_refused_without_showing_it()
    {
        // A user whose password is not the PGPASSWORD of the tests (which stays as it is: other tests run meanwhile).
        string user = "u_" + schema.Schema[2..], password = Guid.NewGuid().ToString("N");
        TestPostgres.Sql($"CREATE ROLE {user} LOGIN PASSWORD '{password}'");
        try
        {
            string url = With(schema.Url, user: user);
            var e = Assert.Throws<NeuronExplainerException>(() => NeuronStores.Open(url));
            Assert.Equal($"{url}: PostgreSQL refused the login (password authentication failed for user \"{user}\"); give the password in PGPASSWORD or a ~/.pgpass line (PGPASSFILE names another file)",
                e.Message);
            Assert.DoesNotContain(Environment.GetEnvironmentVariable("PGPASSWORD")!, e.ToString());
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            TestPostgres.Sql($"DROP ROLE {user}");
        }
    }

    [Fact]
    public void A_url_with_a_password_is_refused_without_showing_it()
    {
        string url = schema.Url.Replace("postgres@", "postgres:hunter2@", StringComparison.Ordinal);
        var e = Assert.Throws<NeuronExplainerException>(() => NeuronStores.Open(url));
        Assert.Contains("holds a password", e.Message);
        Assert.DoesNotContain("hunter2", e.Message);
        Assert.Contains("unknown URL parameter 'sslmode'", Assert.Throws<NeuronExplainerException>(() => NeuronStores.Open(schema.Url + "&sslmode=require")).Message);
        Assert.Contains("schema 'Bad-Name' is not accepted", Assert.Throws<NeuronExplainerException>(() => NeuronStores.Open(TestPostgres.Url + "?schema=Bad-Name")).Message);
    }

    [Fact]
    public void A_connection_dropped_mid_transaction_is_one_line_and_the_store_keeps_its_last_committed_state()
    {
        using var store = PostgresNeuronStore.Open(schema.Url);
        store.PutNeuronRecords([StoreFixtures.Record(0, 1)]);
        var e = Assert.Throws<NeuronExplainerException>(() => store.Batch(() =>
        {
            store.PutNeuronRecords([StoreFixtures.Record(0, 2)]);
            // The batch's own backend, the one of this schema idle in its transaction, is terminated from outside.
            int terminated = TestPostgres.Scalar<int>($"""
                SELECT count(pg_terminate_backend(pid))::INTEGER FROM pg_stat_activity
                WHERE application_name = 'neuron-explainer {schema.Schema}' AND state = 'idle in transaction'
                """);
            Assert.Equal(1, terminated);
            store.PutExplanationResult(StoreFixtures.Done(new NeuronId(0, 2), "baseline", "words"));
        }));
        Assert.StartsWith($"{schema.Url}: the connection to PostgreSQL was lost", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        // The pool drops the broken connection; the store works on and holds what was committed before.
        Assert.Equal([new NeuronId(0, 1)], store.ListNeurons());
        Assert.Empty(store.ListScores());
        store.PutNeuronRecords([StoreFixtures.Record(0, 3)]);
        Assert.Equal([new NeuronId(0, 1), new NeuronId(0, 3)], store.ListNeurons());
    }

    [Fact]
    public void A_read_only_store_reads_and_refuses_writes()
    {
        using (var store = PostgresNeuronStore.Open(schema.Url)) store.PutNeuronRecords([StoreFixtures.Record(0, 1)]);
        using var reader = PostgresNeuronStore.OpenExisting(schema.Url, StoreAccess.ReadOnly);
        Assert.Equal([new NeuronId(0, 1)], reader.ListNeurons());
        Assert.NotNull(reader.GetNeuronRecord(new NeuronId(0, 1)));
        var e = Assert.Throws<NeuronExplainerException>(() => reader.PutCheckpoint("collect", [1]));
        Assert.Equal($"{schema.Url} is open read-only and cannot be written", e.Message);
    }

    [Fact]
    public void Workers_opening_a_new_schema_at_once_migrate_it_once()
    {
        Parallel.For(0, 6, _ =>
        {
            using var store = PostgresNeuronStore.Open(schema.Url);
            store.PutCheckpoint("x", [1]);
        });
        Assert.Equal(StoreSchema.LatestVersion, TestPostgres.Scalar<int>($"SELECT version FROM {schema.Schema}.store_schema"));
    }
}
