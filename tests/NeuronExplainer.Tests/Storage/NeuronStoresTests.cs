using NeuronExplainer.Activations;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests.Storage;

public class NeuronStoresTests : IDisposable
{
    readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void A_run_directory_and_its_store_file_open_the_same_sqlite_store()
    {
        string run = temp.Sub("run");
        using (var store = NeuronStores.Open(run))
        {
            Assert.IsType<SqliteNeuronStore>(store);
            store.PutNeuronRecords([StoreFixtures.Record(0, 3)]);
        }
        using var byFile = NeuronStores.OpenExisting(Path.Combine(run, SqliteNeuronStore.FileName));
        Assert.Equal([new NeuronId(0, 3)], byFile.ListNeurons());
        Assert.Equal(Path.Combine(run, SqliteNeuronStore.FileName), byFile.Location);
    }

    [Fact]
    public void Discard_removes_the_store_so_the_next_open_is_empty()
    {
        string run = temp.Sub("run");
        using (var store = NeuronStores.Open(run)) store.PutNeuronRecords([StoreFixtures.Record(0, 3)]);
        NeuronStores.Discard(run);
        Assert.Contains("not found", Assert.Throws<NeuronExplainerException>(() => NeuronStores.OpenExisting(run)).Message);
        using var fresh = NeuronStores.Open(run);
        Assert.Empty(fresh.ListNeurons());
    }

    [Fact]
    public void A_postgresql_url_is_refused_as_not_supported_yet_without_its_password()
    {
        var e = Assert.Throws<NeuronExplainerException>(() => NeuronStores.Open("postgresql://explainer:s3cret@db.example:5432/runs"));
        Assert.Equal("store 'postgresql://db.example:5432/runs': PostgreSQL stores are not supported yet; give a run directory (SQLite) such as runs/x", e.Message);
        var other = Assert.Throws<NeuronExplainerException>(() => NeuronStores.OpenExisting("mysql://db/runs"));
        Assert.Contains("is not a store location", other.Message);
    }
}
