using Microsoft.Data.Sqlite;

namespace NeuronExplainer.Tests.Storage;

/// <summary>Failures injected into a real store file from a second connection, as another process or a crash would cause them.</summary>
static class StoreFaults
{
    /// <summary>
    /// Makes every write of a record of <paramref name="layer"/> fail (a trigger), as a collect killed after
    /// writing the layers before it would leave the store; disposing removes the trigger.
    /// </summary>
    public static IDisposable FailRecordsOfLayer(string storeFile, int layer)
    {
        Sql(storeFile, $"CREATE TRIGGER fail_layer BEFORE INSERT ON neuron_records WHEN NEW.layer = {layer} BEGIN SELECT RAISE(ABORT, 'killed while writing layer {layer}'); END");
        return new Undo(() => Sql(storeFile, "DROP TRIGGER fail_layer"));
    }

    public static void Sql(string storeFile, string sql)
    {
        SQLitePCL.Batteries_V2.Init();
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = storeFile, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    sealed class Undo(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
