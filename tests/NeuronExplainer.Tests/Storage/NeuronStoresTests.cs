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
    public void A_postgresql_url_opens_a_postgresql_store_and_discard_empties_it()
    {
        using var schema = new TempPostgresSchema();
        using (var store = NeuronStores.Open(schema.Url))
        {
            Assert.IsType<PostgresNeuronStore>(store);
            store.PutNeuronRecords([StoreFixtures.Record(0, 3)]);
        }
        using (var existing = NeuronStores.OpenExisting(schema.Url)) Assert.Equal([new NeuronId(0, 3)], existing.ListNeurons());
        NeuronStores.Discard(schema.Url);
        Assert.Contains("holds none", Assert.Throws<NeuronExplainerException>(() => NeuronStores.OpenExisting(schema.Url)).Message);
    }

    [Fact]
    public void A_url_of_another_scheme_is_refused_without_its_user_information()
    {
        var other = Assert.Throws<NeuronExplainerException>(() => NeuronStores.OpenExisting("mysql://explainer:s3cret@db/runs"));
        Assert.Equal("store 'mysql://db/runs' is not a store location; expected a run directory (or its store.db) or a postgresql:// URL", other.Message);
    }
}
