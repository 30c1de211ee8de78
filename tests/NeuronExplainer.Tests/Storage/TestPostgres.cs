using Npgsql;

namespace NeuronExplainer.Tests.Storage;

/// <summary>
/// The PostgreSQL server test.sh starts for the tests (NEURON_EXPLAINER_TEST_POSTGRES, a postgresql:// URL, with the
/// password in PGPASSWORD). Without it the PostgreSQL tests fail with the reason, never skip.
/// </summary>
static class TestPostgres
{
    public const string Variable = "NEURON_EXPLAINER_TEST_POSTGRES";

    /// <summary>The server's URL (no schema).</summary>
    public static string Url => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } url ? url
        : throw new InvalidOperationException(
            $"{Variable} is not set, so there is no PostgreSQL server for this test ({Environment.GetEnvironmentVariable(Variable + "_ERROR") ?? "run the tests through ./test.sh, which starts one"})");

    /// <summary>A URL of a schema no other test uses.</summary>
    public static string NewStoreUrl() => $"{Url}?schema=t_{Guid.NewGuid():N}";

    /// <summary>A connection as the tests' superuser, for what a test does behind a store's back.</summary>
    public static NpgsqlConnection Admin()
    {
        var uri = new Uri(Url);
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host, Port = uri.Port, Database = uri.AbsolutePath.Trim('/'), Username = uri.UserInfo, Pooling = false,
        }.ToString());
        connection.Open();
        return connection;
    }

    public static void Sql(string sql)
    {
        using var connection = Admin();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    public static T Scalar<T>(string sql)
    {
        using var connection = Admin();
        using var command = new NpgsqlCommand(sql, connection);
        return (T)command.ExecuteScalar()!;
    }

    /// <summary>The schema of a store URL made by <see cref="NewStoreUrl"/>.</summary>
    public static string SchemaOf(string url) => url[(url.IndexOf("?schema=", StringComparison.Ordinal) + 8)..];

    public static void DropSchema(string url) => Sql($"DROP SCHEMA IF EXISTS {SchemaOf(url)} CASCADE");
}

/// <summary>A schema of its own on the test server for one test, dropped after it.</summary>
sealed class TempPostgresSchema : IDisposable
{
    public string Url { get; } = TestPostgres.NewStoreUrl();

    public string Schema => TestPostgres.SchemaOf(Url);

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        TestPostgres.DropSchema(Url);
    }
}
