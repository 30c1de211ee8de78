using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using NeuronExplainer.Activations;
using NeuronExplainer.Cli.Viewer;
using NeuronExplainer.Storage;
using NeuronExplainer.Tests.Viewer;
using static NeuronExplainer.Tests.CliRunner;

namespace NeuronExplainer.Tests.Storage;

/// <summary>Commands that only read a store (show, export, ledger, serve) work where its directory cannot be written.</summary>
public sealed class ReadOnlyStoreTests : IDisposable
{
    readonly TempDirectory temp = new();
    readonly string run;

    public ReadOnlyStoreTests()
    {
        run = temp.Sub("run");
        using var store = NeuronStores.Open(run);
        ViewerFixture.Fill(store);
    }

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Show_export_and_ledger_read_a_store_whose_directory_is_not_writable()
    {
        using (new UnwritableDirectory(run))
        {
            var writable = Assert.Throws<NeuronExplainerException>(() => NeuronStores.OpenExisting(run));
            Assert.Contains("store.db", writable.Message);

            var show = Run("show", "--store", run, "--neuron", "1/2");
            Assert.True(show.Code == 0, show.Err);
            Assert.Contains("neuron 1/2", show.Out);

            var export = Run("export", "--store", run, "--to", temp.Sub("out"));
            Assert.True(export.Code == 0, export.Err);
            Assert.True(File.Exists(Path.Combine(temp.Sub("out"), "explanations", "1", "2.jsonl")));

            var ledger = Run("ledger", "--store", run);
            Assert.True(ledger.Code == 0, ledger.Err);
            Assert.Equal([SqliteNeuronStore.FileName], Directory.EnumerateFileSystemEntries(run).Select(Path.GetFileName));
        }
    }

    [Fact]
    public async Task The_viewer_serves_a_store_whose_directory_is_not_writable()
    {
        using var locked = new UnwritableDirectory(run);
        using var store = NeuronStores.OpenExisting(run, StoreAccess.ReadOnly);
        await using var app = ViewerApp.Build(store, ViewerOptions.Default, b => b.WebHost.UseTestServer());
        await app.StartAsync();
        using var client = app.GetTestClient();
        foreach (var path in new[] { "/api/summary", "/api/layers/1", "/api/neurons/1/2", "/api/search?q=colours" })
        {
            var response = await client.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    [Fact]
    public void A_read_only_store_sees_later_commits_and_refuses_writes_by_name()
    {
        using var writer = NeuronStores.OpenExisting(run);
        using var reader = NeuronStores.OpenExisting(run, StoreAccess.ReadOnly);
        writer.PutNeuronRecords([StoreFixtures.Record(5, 1)]);
        Assert.Contains(new NeuronId(5, 1), reader.ListNeurons());
        var e = Assert.Throws<NeuronExplainerException>(() => reader.PutNeuronRecords([StoreFixtures.Record(5, 2)]));
        Assert.Contains("is open read-only", e.Message);
        Assert.DoesNotContain(new NeuronId(5, 2), writer.ListNeurons());
    }
}
