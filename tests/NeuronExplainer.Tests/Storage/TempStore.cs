using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Storage;

/// <summary>A real SQLite store in a temporary directory, both removed after the test.</summary>
sealed class TempStore : IDisposable
{
    readonly TempDirectory directory = new();

    public SqliteNeuronStore Store { get; }

    public TempStore() => Store = SqliteNeuronStore.Open(directory.Sub("run"));

    public void Dispose()
    {
        Store.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        directory.Dispose();
    }
}
